package mappings

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, yaml string) *Mapping {
	t.Helper()
	m, err := parseMapping("t.yaml", "t", []byte(yaml))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return m
}

// decodeJSON decodes a record the way connectors do.
func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var rec map[string]any
	if err := dec.Decode(&rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestInboundReadsODataCollectionsByDottedPath(t *testing.T) {
	m := mustParse(t, `inbound:
  - target: first.plant
    source: d.results.0.Plant
  - target: first.qty
    source: d.results.0.QuantityInEntryUnit
    convert: decimal-int
  - target: second.plant
    source: d.results.1.Plant
  - target: third
    source: d.results.2.Plant
`)
	rec := decodeJSON(t, `{"d":{"results":[{"Plant":"SN12","QuantityInEntryUnit":"6.000"},{"Plant":"SN05"}]}}`)
	got, err := m.Inbound(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"first":  map[string]any{"plant": "SN12", "qty": int64(6)},
		"second": map[string]any{"plant": "SN05"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func TestApplyErrorNamesTargetSourceAndValueAndWrapsErrMapping(t *testing.T) {
	m := mustParse(t, `lookups:
  plant:
    values: {SN12: riesa}
inbound:
  - target: centre_id
    source: Plant
    lookup: plant
  - target: day
    source: PostingDate
    convert: odata-day
  - target: product
    source: Material
    required: true
`)
	_, err := m.Inbound(map[string]any{"Plant": "SN99", "PostingDate": "yesterday"})
	if !errors.Is(err, ErrMapping) {
		t.Fatalf("error %v does not wrap ErrMapping", err)
	}
	var all []*ApplyError
	for _, e := range appendFlat(nil, err) {
		var ae *ApplyError
		if !errors.As(e, &ae) {
			t.Fatalf("%v is not an *ApplyError", e)
		}
		all = append(all, ae)
	}
	want := []ApplyError{
		{Mapping: "t", Direction: "inbound", Target: "centre_id", Source: "Plant", Value: "SN99", Reason: `lookup "plant" has no entry`},
		{Mapping: "t", Direction: "inbound", Target: "day", Source: "PostingDate", Value: "yesterday", Reason: `odata-day: want "/Date(ms)/", got "yesterday"`},
		{Mapping: "t", Direction: "inbound", Target: "product", Source: "Material", Value: nil, Reason: "required value is missing"},
	}
	if len(all) != len(want) {
		t.Fatalf("got %d errors, want %d: %v", len(all), len(want), err)
	}
	for i := range want {
		if *all[i] != want[i] {
			t.Errorf("error %d = %+v, want %+v", i, *all[i], want[i])
		}
	}
	wantText := `mapping t inbound: target "centre_id" from source "Plant": lookup "plant" has no entry (value "SN99")`
	if all[0].Error() != wantText {
		t.Errorf("Error() = %s, want %s", all[0].Error(), wantText)
	}
}

func TestLongBadValuesAreShortenedInErrors(t *testing.T) {
	e := &ApplyError{Mapping: "t", Direction: "inbound", Target: "a", Source: "b", Value: strings.Repeat("x", 500), Reason: "bad"}
	if len(e.Error()) > 200 {
		t.Errorf("error is %d bytes long: %s", len(e.Error()), e.Error())
	}
}

func TestLookupMissUsesTheLookupDefault(t *testing.T) {
	m := mustParse(t, `lookups:
  group:
    default: general
    values: {"1": care-home}
inbound:
  - target: group
    source: g
    lookup: group
`)
	for in, want := range map[string]string{"1": "care-home", "2": "general"} {
		got, err := m.Inbound(map[string]any{"g": in})
		if err != nil {
			t.Fatal(err)
		}
		if got["group"] != want {
			t.Errorf("group for %q = %v, want %s", in, got["group"], want)
		}
	}
}

func TestLookupKeysMatchNumbersAndStringsAlike(t *testing.T) {
	m := mustParse(t, `lookups:
  movement:
    values: {101: in}
inbound:
  - target: d
    source: t
    lookup: movement
`)
	for _, v := range []any{"101", json.Number("101"), int64(101)} {
		got, err := m.Inbound(map[string]any{"t": v})
		if err != nil || got["d"] != "in" {
			t.Errorf("lookup of %#v: got %v, %v", v, got, err)
		}
	}
}

func TestMissingValuesDefaultsAndConsts(t *testing.T) {
	m := mustParse(t, `inbound:
  - target: batch
    source: Batch
  - target: unit
    source: EntryUnit
    default: ST
  - target: system
    const: sap
  - target: tags
    source: Tags
    default: [a, b]
`)
	for _, rec := range []map[string]any{
		{},
		{"Batch": nil, "EntryUnit": nil},
		{"Batch": "", "EntryUnit": ""},
	} {
		got, err := m.Inbound(rec)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"unit": "ST", "system": "sap", "tags": []any{"a", "b"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Inbound(%v) = %#v, want %#v", rec, got, want)
		}
		// Changing an output must not change the mapping's default.
		got["tags"].([]any)[0] = "changed"
	}
	got, err := m.Inbound(map[string]any{"Batch": "FK1234", "EntryUnit": "EA"})
	if err != nil {
		t.Fatal(err)
	}
	if got["batch"] != "FK1234" || got["unit"] != "EA" {
		t.Errorf("present values not used: %v", got)
	}
}

func TestOutboundReversesLookupsAndConverts(t *testing.T) {
	m := mustParse(t, `lookups:
  plant:
    values: {SN12: riesa, SN05: dresden}
inbound:
  - target: centre_id
    source: Plant
    lookup: plant
  - target: day
    source: PostingDate
    convert: german-date
outbound:
  - target: Plant
    source: centre_id
    lookup: plant
  - target: PostingDate
    source: day
    convert: german-date
`)
	external := map[string]any{"Plant": "SN05", "PostingDate": "13.04.2021"}
	core, err := m.Inbound(external)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(core, map[string]any{"centre_id": "dresden", "day": "2021-04-13"}) {
		t.Fatalf("Inbound = %v", core)
	}
	back, err := m.Outbound(core)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, external) {
		t.Errorf("Outbound(Inbound(x)) = %v, want %v", back, external)
	}
}

func TestOutboundWithoutOutboundSection(t *testing.T) {
	m := mustParse(t, "inbound:\n  - target: a\n    source: b\n")
	_, err := m.Outbound(map[string]any{"a": 1})
	if !errors.Is(err, ErrNoOutbound) || errors.Is(err, ErrMapping) {
		t.Errorf("got %v, want ErrNoOutbound and not ErrMapping", err)
	}
}

func TestInboundOfANilRecordReportsRequiredFields(t *testing.T) {
	m := mustParse(t, "inbound:\n  - target: a\n    source: b\n    required: true\n")
	if _, err := m.Inbound(nil); !errors.Is(err, ErrMapping) {
		t.Errorf("got %v, want ErrMapping", err)
	}
}

func TestMappingIsSafeForConcurrentUse(t *testing.T) {
	m := mustParse(t, `lookups:
  plant:
    values: {SN12: riesa}
inbound:
  - target: centre_id
    source: Plant
    lookup: plant
  - target: meta
    const: {system: sap}
`)
	done := make(chan error)
	for range 8 {
		go func() {
			for range 200 {
				out, err := m.Inbound(map[string]any{"Plant": "SN12"})
				if err != nil {
					done <- err
					return
				}
				out["meta"].(map[string]any)["system"] = "changed"
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	out, _ := m.Inbound(map[string]any{"Plant": "SN12"})
	if out["meta"].(map[string]any)["system"] != "sap" {
		t.Error("a caller changed the mapping's const through its output")
	}
}
