package schemas

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

// thisFolder copies the schemas folder (schemas, external/, testdata/) into
// memory, for tests that break one thing in it.
func thisFolder(t *testing.T) fstest.MapFS {
	t.Helper()
	folder := fstest.MapFS{}
	err := fs.WalkDir(os.DirFS("."), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".want") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			folder[p] = &fstest.MapFile{Data: b}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return folder
}

// edit replaces old with new in a file of the folder, which must contain it.
func edit(t *testing.T, folder fstest.MapFS, file, old, new string) {
	t.Helper()
	s := string(folder[file].Data)
	if !strings.Contains(s, old) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	folder[file] = &fstest.MapFile{Data: []byte(strings.Replace(s, old, new, 1))}
}

func removeAll(folder fstest.MapFS, prefix string) {
	for p := range folder {
		if strings.HasPrefix(p, prefix) {
			delete(folder, p)
		}
	}
}

// A small payload schema of an outside system, as a connector would add it.
const materialDocument = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "$id": "https://vaxhub.example/schemas/external/sap.material-document.schema.json",
  "description": "An SAP material document header as the SAP connector posts it (test fixture).",
  "type": "object",
  "additionalProperties": false,
  "required": ["MaterialDocumentYear", "GoodsMovementCode"],
  "properties": {
    "MaterialDocumentYear": {"type": "string", "pattern": "^[0-9]{4}$"},
    "GoodsMovementCode": {"type": "string", "enum": ["01", "03", "04"]}
  }
}`

func withMaterialDocument(folder fstest.MapFS) {
	folder["external/sap.material-document.schema.json"] = &fstest.MapFile{Data: []byte(materialDocument)}
	folder["testdata/sap.material-document/valid/goods-issue.json"] = &fstest.MapFile{Data: []byte(`{"MaterialDocumentYear": "2021", "GoodsMovementCode": "03"}`)}
	folder["testdata/sap.material-document/invalid/bad-year.json"] = &fstest.MapFile{Data: []byte(`{"MaterialDocumentYear": "21", "GoodsMovementCode": "03"}`)}
	folder["testdata/sap.material-document/invalid/bad-year.want"] = &fstest.MapFile{Data: []byte("MaterialDocumentYear: Does not match pattern '^[0-9]{4}$'\n")}
}

func TestCheckAcceptsACopyOfThisFolder(t *testing.T) {
	// The baseline of TestCheckNamesTheFileAndTheReason: an untouched copy passes.
	if err := Check(thisFolder(t)); err != nil {
		t.Fatal(err)
	}
}

func TestCheckNamesTheFileAndTheReason(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, folder fstest.MapFS)
		want  []string // each must appear in the error
	}{
		{"not JSON", func(t *testing.T, f fstest.MapFS) {
			f["appointment.booked.schema.json"] = &fstest.MapFile{Data: []byte(`{"$schema": `)}
		}, []string{"appointment.booked.schema.json: not valid JSON"}},
		{"draft-04", func(t *testing.T, f fstest.MapFS) {
			edit(t, f, "stock.changed.schema.json", "draft-07", "draft-04")
		}, []string{`stock.changed.schema.json: $schema is "http://json-schema.org/draft-04/schema#", want "http://json-schema.org/draft-07/schema#"`}},
		{"no $schema", func(t *testing.T, f fstest.MapFS) {
			edit(t, f, "stock.changed.schema.json", `"$schema": "http://json-schema.org/draft-07/schema#",`, "")
		}, []string{`stock.changed.schema.json: $schema is ""`}},
		{"no description", func(t *testing.T, f fstest.MapFS) {
			edit(t, f, "waitlist.served.schema.json", `"description": "A waiting-list entry was served`, `"title2": "`)
		}, []string{"waitlist.served.schema.json: no description"}},
		{"not a draft-07 schema", func(t *testing.T, f fstest.MapFS) {
			edit(t, f, "stock.changed.schema.json", `"type": "integer"`, `"type": "int"`)
		}, []string{"stock.changed.schema.json: not a draft-07 schema"}},
		{"ref to a missing definition", func(t *testing.T, f fstest.MapFS) {
			edit(t, f, "waitlist.joined.schema.json", "#/definitions/district_ags", "#/definitions/district")
		}, []string{"waitlist.joined.schema.json: does not compile"}},
		{"ref to a missing file", func(t *testing.T, f fstest.MapFS) {
			edit(t, f, "waitlist.joined.schema.json", `"$ref": "envelope.schema.json"`, `"$ref": "envelop.schema.json"`)
		}, []string{"waitlist.joined.schema.json: does not compile"}},
		{"no $id", func(t *testing.T, f fstest.MapFS) {
			edit(t, f, "stock.changed.schema.json", `"$id": "https://vaxhub.example/schemas/stock.changed.schema.json",`, "")
		}, []string{`stock.changed.schema.json: $id is "", want "https://vaxhub.example/schemas/stock.changed.schema.json"`}},
		{"$id of another file", func(t *testing.T, f fstest.MapFS) {
			edit(t, f, "stock.changed.schema.json", `schemas/stock.changed.schema.json`, `schemas/stock.schema.json`)
		}, []string{`stock.changed.schema.json: $id is "https://vaxhub.example/schemas/stock.schema.json"`}},
		{"ref to a file outside the folder", func(t *testing.T, f fstest.MapFS) {
			edit(t, f, "waitlist.joined.schema.json", `"$ref": "envelope.schema.json"`, `"$ref": "../envelope.schema.json"`)
		}, []string{"waitlist.joined.schema.json: does not compile", "not a vaxhub schema"}},
		{"remote ref", func(t *testing.T, f fstest.MapFS) {
			edit(t, f, "waitlist.joined.schema.json", `"$ref": "envelope.schema.json"`, `"$ref": "https://example.org/envelope.schema.json"`)
		}, []string{`waitlist.joined.schema.json: $ref "https://example.org/envelope.schema.json": refer to files next to the schema`}},
		{"envelope missing", func(t *testing.T, f fstest.MapFS) {
			delete(f, "envelope.schema.json")
		}, []string{"envelope.schema.json: missing"}},
		{"file name not an event type", func(t *testing.T, f fstest.MapFS) {
			f["Appointment_Booked.schema.json"] = f["appointment.booked.schema.json"]
		}, []string{`Appointment_Booked.schema.json: "Appointment_Booked" is not an event type`}},
		{"schema in a folder Load never reads", func(t *testing.T, f fstest.MapFS) {
			f["old/appointment.booked.schema.json"] = f["appointment.booked.schema.json"]
		}, []string{"old/appointment.booked.schema.json: never loaded"}},
		{"no invalid example", func(t *testing.T, f fstest.MapFS) {
			removeAll(f, "testdata/waitlist.served/invalid/")
		}, []string{"waitlist.served.schema.json: no invalid example in testdata/waitlist.served/invalid/"}},
		{"no examples at all", func(t *testing.T, f fstest.MapFS) {
			removeAll(f, "testdata/ruleset.published/")
		}, []string{
			"ruleset.published.schema.json: no valid example",
			"ruleset.published.schema.json: no invalid example",
		}},
		{"valid example rejected", func(t *testing.T, f fstest.MapFS) {
			edit(t, f, "testdata/stock.changed/valid/delivery.json", `"delta": 1170`, `"delta": 0`)
		}, []string{"testdata/stock.changed/valid/delivery.json: valid example is rejected", "data.delta"}},
		{"invalid example accepted", func(t *testing.T, f fstest.MapFS) {
			f["testdata/stock.changed/invalid/fine.json"] = f["testdata/stock.changed/valid/delivery.json"]
			f["testdata/stock.changed/invalid/fine.want"] = &fstest.MapFile{Data: []byte("data: nothing\n")}
		}, []string{"testdata/stock.changed/invalid/fine.json: invalid example is accepted"}},
		{"invalid example without .want", func(t *testing.T, f fstest.MapFS) {
			delete(f, "testdata/stock.changed/invalid/delta-zero.want")
		}, []string{"testdata/stock.changed/invalid/delta-zero.json: no delta-zero.want"}},
		{"invalid example breaks another rule than it claims", func(t *testing.T, f fstest.MapFS) {
			edit(t, f, "testdata/appointment.booked/invalid/bad-product.json", `"reference": "40211876"`, `"reference": "R40211876"`)
		}, []string{"testdata/appointment.booked/invalid/bad-product.json: violations are", "data.reference: Does not match pattern"}},
		{"examples of no schema", func(t *testing.T, f fstest.MapFS) {
			f["testdata/appointment.rebooked/valid/x.json"] = f["testdata/appointment.booked/valid/two-doses.json"]
		}, []string{"testdata/appointment.rebooked: examples for a schema that does not exist"}},
		{"payload schema without examples", func(t *testing.T, f fstest.MapFS) {
			withMaterialDocument(f)
			removeAll(f, "testdata/sap.material-document/")
		}, []string{"sap.material-document.schema.json: no valid example", "sap.material-document.schema.json: no invalid example"}},
		{"payload schema named like an event", func(t *testing.T, f fstest.MapFS) {
			f["external/stock.changed.schema.json"] = &fstest.MapFile{Data: []byte(materialDocument)}
		}, []string{`external/stock.changed.schema.json: "stock.changed" is also the name of an event schema`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			folder := thisFolder(t)
			tt.spoil(t, folder)
			err := Check(folder)
			if err == nil {
				t.Fatal("Check accepted the broken folder")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not say %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestLoadFailsNamingEveryBrokenFile(t *testing.T) {
	folder := thisFolder(t)
	edit(t, folder, "stock.changed.schema.json", "draft-07", "draft-04")
	folder["appointment.booked.schema.json"] = &fstest.MapFile{Data: []byte(`{`)}
	r, err := load(folder)
	if r != nil || err == nil {
		t.Fatalf("load of broken schemas: registry %v, error %v", r, err)
	}
	for _, want := range []string{"stock.changed.schema.json: $schema is", "appointment.booked.schema.json: not valid JSON"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "appointment.cancelled") {
		t.Errorf("error names a file that is fine:\n%v", err)
	}
}

func TestValidatePayloadUsesTheExternalSchemas(t *testing.T) {
	folder := thisFolder(t)
	withMaterialDocument(folder)
	if err := Check(folder); err != nil {
		t.Fatalf("Check with a payload schema: %v", err)
	}
	r, err := load(folder)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ValidatePayload("sap.material-document", []byte(`{"MaterialDocumentYear": "2021", "GoodsMovementCode": "01"}`)); err != nil {
		t.Errorf("valid payload: %v", err)
	}
	err = r.ValidatePayload("sap.material-document", []byte(`{"MaterialDocumentYear": "2021", "GoodsMovementCode": "01", "Plant": "1010"}`))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "sap.material-document: does not match its schema: (root): Additional property Plant is not allowed") {
		t.Errorf("payload with an extra field: got %v", err)
	}
	if err := r.ValidatePayload("sap.goods-receipt", []byte(`{}`)); !errors.Is(err, ErrUnknownType) {
		t.Errorf("unknown payload: got %v, want ErrUnknownType", err)
	}
	// Payloads and events are apart: neither is validated as the other.
	if err := r.Validate("sap.material-document", []byte(`{}`)); !errors.Is(err, ErrUnknownType) {
		t.Errorf("payload name as event type: got %v, want ErrUnknownType", err)
	}
	if err := r.ValidatePayload("appointment.booked", example(t, booked, nil)); !errors.Is(err, ErrUnknownType) {
		t.Errorf("event type as payload name: got %v, want ErrUnknownType", err)
	}
	for _, eventType := range r.Types() {
		if eventType == "sap.material-document" {
			t.Error("Types lists a payload schema")
		}
	}
}
