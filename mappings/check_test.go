package mappings

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// centreMapping maps a plant code to a centre and back.
const centreMapping = `lookups:
  plant:
    values:
      SN12: riesa
inbound:
  - target: centre_id
    source: Plant
    lookup: plant
    required: true
outbound:
  - target: Plant
    source: centre_id
    lookup: plant
`

func checkErrors(t *testing.T, fsys fstest.MapFS) []string {
	t.Helper()
	err := Check(fsys, "m")
	if err == nil {
		return nil
	}
	var out []string
	for _, e := range appendFlat(nil, err) {
		out = append(out, e.Error())
	}
	return out
}

func TestCheckPassesAGoodMappingAndItsTests(t *testing.T) {
	fsys := fstest.MapFS{
		"m/sap/centre.yaml": {Data: []byte(centreMapping)},
		"m/sap/centre_test.yaml": {Data: []byte(`tests:
  - name: riesa
    input: {Plant: SN12}
    expect: {centre_id: riesa}
  - name: unknown plant
    input: {Plant: SN99}
    expect_error: 'lookup "plant" has no entry'
  - name: back to SAP
    direction: outbound
    input: {centre_id: riesa}
    expect: {Plant: SN12}
`)},
	}
	if errs := checkErrors(t, fsys); errs != nil {
		t.Fatalf("Check failed:\n%s", strings.Join(errs, "\n"))
	}
}

func TestCheckReportsEveryFailingCase(t *testing.T) {
	fsys := fstest.MapFS{
		"m/sap/centre.yaml": {Data: []byte(centreMapping)},
		"m/sap/centre_test.yaml": {Data: []byte(`tests:
  - name: wrong value
    input: {Plant: SN12}
    expect: {centre_id: dresden}
  - name: missing key
    input: {Plant: SN12}
    expect: {centre_id: riesa, day: "2021-04-13"}
  - name: error expected but none
    input: {Plant: SN12}
    expect_error: lookup
  - name: other error than expected
    input: {Plant: SN99}
    expect_error: required
  - name: output expected but error
    input: {}
    expect: {centre_id: riesa}
  - name: key only in expect
    input: {Plant: SN12}
    expect: {centre_id: riesa, extra: 1}
`)},
	}
	want := []string{
		"m/sap/centre_test.yaml:2: test \"wrong value\": output differs from expect:\n  centre_id: want \"dresden\", got \"riesa\"\n got: {\"centre_id\":\"riesa\"}\nwant: {\"centre_id\":\"dresden\"}",
		"m/sap/centre_test.yaml:5: test \"missing key\": output differs from expect:\n  day: missing, want \"2021-04-13\"\n got: {\"centre_id\":\"riesa\"}\nwant: {\"centre_id\":\"riesa\",\"day\":\"2021-04-13\"}",
		`m/sap/centre_test.yaml:8: test "error expected but none": want an error containing "lookup", got output {"centre_id":"riesa"}`,
		`m/sap/centre_test.yaml:11: test "other error than expected": want an error containing "required", got "mapping sap/centre inbound: target \"centre_id\" from source \"Plant\": lookup \"plant\" has no entry (value \"SN99\")"`,
		`m/sap/centre_test.yaml:14: test "output expected but error": want output {"centre_id":"riesa"}, got error: mapping sap/centre inbound: target "centre_id" from source "Plant": required value is missing`,
		"m/sap/centre_test.yaml:17: test \"key only in expect\": output differs from expect:\n  extra: missing, want 1\n got: {\"centre_id\":\"riesa\"}\nwant: {\"centre_id\":\"riesa\",\"extra\":1}",
	}
	got := checkErrors(t, fsys)
	if strings.Join(got, "\n---\n") != strings.Join(want, "\n---\n") {
		t.Errorf("errors\n got:\n%s\nwant:\n%s", strings.Join(got, "\n---\n"), strings.Join(want, "\n---\n"))
	}
	var ce *CaseError
	if !errors.As(Check(fsys, "m"), &ce) || ce.File != "m/sap/centre_test.yaml" || ce.Line != 2 || ce.Case != "wrong value" {
		t.Errorf("first error as *CaseError = %+v", ce)
	}
}

func TestCheckComparesNumbersByValueAndTypeByJSON(t *testing.T) {
	mapping := "inbound:\n  - target: n\n    source: n\n  - target: s\n    source: s\n"
	tests := []struct {
		name, input, expect string
		ok                  bool
	}{
		{"same integer", "{n: 12}", "{n: 12}", true},
		{"integer and decimal of the same value", "{n: 12.000}", "{n: 12}", true},
		{"different numbers", "{n: 12}", "{n: 13}", false},
		{"number against its digits", `{n: 12}`, `{n: "12"}`, false},
		{"string against a number", `{s: "12"}`, `{s: 12}`, false},
		{"true against the string true", `{s: true}`, `{s: "true"}`, false},
		{"nested objects", `{n: {a: [1, "x"]}}`, `{n: {a: [1, "x"]}}`, true},
		{"nested objects differ", `{n: {a: [1, "x"]}}`, `{n: {a: [1, "y"]}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"m/x.yaml":      {Data: []byte(mapping)},
				"m/x_test.yaml": {Data: []byte("tests:\n  - name: case\n    input: " + tt.input + "\n    expect: " + tt.expect + "\n")},
			}
			errs := checkErrors(t, fsys)
			if tt.ok && errs != nil {
				t.Errorf("want pass, got %v", errs)
			}
			if !tt.ok && errs == nil {
				t.Error("want a failure, got a pass")
			}
		})
	}
}

func TestCheckReportsMissingAndOrphanTestFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"m/sap/centre.yaml":          {Data: []byte(centreMapping)},
		"m/sap/centre-old_test.yaml": {Data: []byte("tests:\n  - name: a\n    input: {}\n    expect: {}\n")},
	}
	want := []string{
		`m/sap/centre-old_test.yaml: no mapping "sap/centre-old" to test (want m/sap/centre-old.yaml next to it)`,
		`m/sap/centre.yaml: mapping has no test file (want m/sap/centre_test.yaml)`,
	}
	if got := checkErrors(t, fsys); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors\n got: %s\nwant: %s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheckReportsTestFileErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{
			name: "unknown key in a case",
			yaml: "tests:\n  - name: a\n    input: {Plant: SN12}\n    expected: {centre_id: riesa}\n",
			want: "m/c_test.yaml:4: field \"tests[0].expected\": unknown key \"expected\" (allowed: name, direction, input, expect, expect_error)\n" +
				`m/c_test.yaml:2: field "tests[0].expect": missing expect (or expect_error)`,
		},
		{
			name: "expect and expect_error together",
			yaml: "tests:\n  - name: a\n    input: {Plant: SN12}\n    expect: {centre_id: riesa}\n    expect_error: lookup\n",
			want: `m/c_test.yaml:5: field "tests[0].expect_error": a test has expect or expect_error, not both`,
		},
		{
			name: "missing input",
			yaml: "tests:\n  - name: a\n    expect: {}\n",
			want: `m/c_test.yaml:2: field "tests[0].input": missing input`,
		},
		{
			name: "input is not a mapping",
			yaml: "tests:\n  - name: a\n    input: [1, 2]\n    expect: {}\n",
			want: `m/c_test.yaml:3: field "tests[0].input": input must be a mapping, got a list`,
		},
		{
			name: "unknown direction",
			yaml: "tests:\n  - name: a\n    direction: sideways\n    input: {}\n    expect: {}\n",
			want: `m/c_test.yaml:3: field "tests[0].direction": want inbound or outbound, got "sideways"`,
		},
		{
			name: "duplicate name",
			yaml: "tests:\n  - name: a\n    input: {}\n    expect: {}\n  - name: a\n    input: {}\n    expect: {}\n",
			want: `m/c_test.yaml:5: field "tests[1].name": test "a" is already defined on line 2`,
		},
		{
			name: "empty expect_error",
			yaml: "tests:\n  - name: a\n    input: {}\n    expect_error: \"\"\n",
			want: `m/c_test.yaml:4: field "tests[0].expect_error": expect_error is empty; it would match any error`,
		},
		{
			name: "no tests",
			yaml: "tests: []\n",
			want: `m/c_test.yaml:1: field "tests": needs at least one test`,
		},
		{
			name: "bad YAML syntax",
			yaml: "tests:\n  - name: a\n    input: {Plant: SN12\n",
			want: `m/c_test.yaml:3: invalid YAML: could not find flow mapping end token '}'`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"m/c.yaml":      {Data: []byte(centreMapping)},
				"m/c_test.yaml": {Data: []byte(tt.yaml)},
			}
			got := strings.Join(checkErrors(t, fsys), "\n")
			// Check also reports that c.yaml is untested, since its test file did not load.
			got = strings.TrimSuffix(got, "\nm/c.yaml: mapping has no test file (want m/c_test.yaml)")
			if got != tt.want {
				t.Errorf("errors\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestCheckReportsOutboundCaseForInboundOnlyMapping(t *testing.T) {
	fsys := fstest.MapFS{
		"m/c.yaml":      {Data: []byte("inbound:\n  - target: a\n    source: b\n")},
		"m/c_test.yaml": {Data: []byte("tests:\n  - name: back\n    direction: outbound\n    input: {a: 1}\n    expect: {b: 1}\n")},
	}
	want := `m/c_test.yaml:2: test "back": direction outbound, but the mapping has no outbound section`
	if got := strings.Join(checkErrors(t, fsys), "\n"); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestCheckGoesOnAfterABrokenMapping(t *testing.T) {
	fsys := fstest.MapFS{
		"m/a.yaml":      {Data: []byte("inbound:\n  - target: a\n    source: b\n    convert: nope\n")},
		"m/a_test.yaml": {Data: []byte("tests:\n  - name: a\n    input: {b: 1}\n    expect: {a: 1}\n")},
		"m/c.yaml":      {Data: []byte(centreMapping)},
		"m/c_test.yaml": {Data: []byte("tests:\n  - name: riesa\n    input: {Plant: SN12}\n    expect: {centre_id: dresden}\n")},
	}
	got := checkErrors(t, fsys)
	if len(got) != 2 || !strings.HasPrefix(got[0], `m/a.yaml:4: field "inbound[0].convert": unknown conversion "nope"`) ||
		!strings.HasPrefix(got[1], `m/c_test.yaml:2: test "riesa": output differs`) {
		t.Errorf("errors:\n%s", strings.Join(got, "\n"))
	}
}
