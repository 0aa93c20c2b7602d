package schemas

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// example reads a testdata file and applies edit to its decoded form.
func example(t testing.TB, file string, edit func(doc map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return b
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	b, err = json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func data(doc map[string]any) map[string]any { return doc["data"].(map[string]any) }

const booked = "appointment.booked/valid/two-doses.json"

func TestValidateAcceptsAValidEnvelope(t *testing.T) {
	r := loadRegistry(t)
	if err := r.Validate("appointment.booked", example(t, booked, nil)); err != nil {
		t.Fatal(err)
	}
}

func TestErrorListsEveryViolationWithItsPath(t *testing.T) {
	r := loadRegistry(t)
	doc := example(t, booked, func(doc map[string]any) {
		data(doc)["reference"] = "4021187X"
		data(doc)["product"] = "sputnik"
		data(doc)["phone"] = "+49 3525 123456"
	})
	err := r.Validate("appointment.booked", doc)
	want := `appointment.booked: does not match its schema: ` +
		`data.product: data.product must be one of the following: "comirnaty", "spikevax", "vaxzevria", "janssen"; ` +
		`data.reference: Does not match pattern '^[0-9]+$'; ` +
		`data: Additional property phone is not allowed`
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnknownType) {
		t.Fatalf("%v: want ErrInvalid only", err)
	}
}

func TestValidateUnknownTypeIsErrUnknownType(t *testing.T) {
	r := loadRegistry(t)
	err := r.Validate("appointment.rebooked", example(t, booked, nil))
	if !errors.Is(err, ErrUnknownType) || errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrUnknownType", err)
	}
	if !strings.Contains(err.Error(), `"appointment.rebooked"`) {
		t.Errorf("%v does not name the type", err)
	}
}

func TestValidateRefusesAnEnvelopeOfAnotherType(t *testing.T) {
	r := loadRegistry(t)
	// A well-formed appointment.booked envelope is not an appointment.cancelled.
	err := r.Validate("appointment.cancelled", example(t, booked, nil))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
	got, _ := violationsOf(err)
	want := []string{`type: is "appointment.booked", not "appointment.cancelled"`}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestValidateRefusesASchemaNameOtherThanTheType(t *testing.T) {
	r := loadRegistry(t)
	doc := example(t, booked, func(doc map[string]any) {
		doc["schema"].(map[string]any)["name"] = "appointment.cancelled"
	})
	for _, err := range []error{r.Validate("appointment.booked", doc), r.ValidateMessage(doc)} {
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "schema.name") {
			t.Errorf("got %v, want ErrInvalid about schema.name", err)
		}
	}
}

func TestValidateMessageUsesTheSchemaOfItsType(t *testing.T) {
	r := loadRegistry(t)
	if err := r.ValidateMessage(example(t, booked, nil)); err != nil {
		t.Fatalf("valid appointment.booked: %v", err)
	}
	if err := r.ValidateMessage(example(t, "stock.changed/valid/delivery.json", nil)); err != nil {
		t.Fatalf("valid stock.changed: %v", err)
	}
	// Valid data of appointment.booked is not valid data of appointment.cancelled.
	doc := example(t, booked, func(doc map[string]any) {
		doc["type"] = "appointment.cancelled"
		doc["schema"].(map[string]any)["name"] = "appointment.cancelled"
	})
	err := r.ValidateMessage(doc)
	if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "appointment.cancelled: ") {
		t.Fatalf("got %v, want ErrInvalid against appointment.cancelled", err)
	}
	for _, v := range []string{"data: reason is required", "data: Additional property doses is not allowed"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("%v does not list %q", err, v)
		}
	}
}

func TestValidateMessageWithoutATypeIsInvalid(t *testing.T) {
	r := loadRegistry(t)
	tests := []struct {
		name string
		edit func(doc map[string]any)
		want string
	}{
		{"missing", func(doc map[string]any) { delete(doc, "type") }, "(root): type is required"},
		{"not a string", func(doc map[string]any) { doc["type"] = 42 }, "type: Invalid type. Expected: string, given: integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.ValidateMessage(example(t, booked, tt.edit))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalid listing %q", err, tt.want)
			}
		})
	}
}

func TestValidateMessageOfAnUnknownTypeIsErrUnknownType(t *testing.T) {
	r := loadRegistry(t)
	doc := example(t, booked, func(doc map[string]any) { doc["type"] = "appointment.rebooked" })
	if err := r.ValidateMessage(doc); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("got %v, want ErrUnknownType", err)
	}
}

func TestWhatIsNotOneJSONValueIsInvalid(t *testing.T) {
	r := loadRegistry(t)
	valid := string(example(t, booked, nil))
	for name, doc := range map[string]string{
		"empty":          "",
		"not JSON":       "appointment.booked",
		"truncated":      valid[:len(valid)/2],
		"trailing value": valid + ` {"id": "x"}`,
		"trailing junk":  valid + "]",
	} {
		t.Run(name, func(t *testing.T) {
			for _, err := range []error{r.Validate("appointment.booked", []byte(doc)), r.ValidateMessage([]byte(doc))} {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "(root): not valid JSON") {
					t.Errorf("got %v, want ErrInvalid: not valid JSON", err)
				}
			}
		})
	}
	// Whitespace after the value is still one JSON value.
	if err := r.Validate("appointment.booked", []byte(valid+"\n\t ")); err != nil {
		t.Errorf("trailing whitespace: %v", err)
	}
}

func TestTypesAreSortedAndTheCallersOwn(t *testing.T) {
	r := loadRegistry(t)
	types := r.Types()
	if !slices.IsSorted(types) {
		t.Fatalf("not sorted: %v", types)
	}
	files, err := filepath.Glob("*.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(types) != len(files)-1 || !slices.Contains(types, "appointment.booked") || slices.Contains(types, "envelope") {
		t.Fatalf("types: %v, want one per schema file but the envelope (%d files)", types, len(files))
	}
	types[0] = "changed.by-caller"
	if r.Types()[0] == "changed.by-caller" {
		t.Fatal("Types returns the registry's own slice")
	}
}

func TestRegistryIsSafeForConcurrentUse(t *testing.T) {
	r := loadRegistry(t)
	valid := example(t, booked, nil)
	invalid := example(t, "appointment.booked/invalid/bad-product.json", nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if err := r.ValidateMessage(valid); err != nil {
					t.Error(err)
					return
				}
				if err := r.ValidateMessage(invalid); !errors.Is(err, ErrInvalid) {
					t.Errorf("got %v, want ErrInvalid", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkValidateAppointmentBooked(b *testing.B) {
	r := loadRegistry(b)
	doc := example(b, booked, nil)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Validate("appointment.booked", doc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestViolationsNeverQuoteTheValues: an error goes to logs and to the
// dead-letter topic's reason, so it names paths and rules, never what a
// field held (which might be personal data put where it does not belong).
func TestViolationsNeverQuoteTheValues(t *testing.T) {
	r := loadRegistry(t)
	const name = "Erika Mustermann"
	doc := example(t, booked, func(doc map[string]any) {
		doc["subject"] = name
		doc["correlation_id"] = name
		data(doc)["reference"] = name
		data(doc)["resident_id"] = name
		data(doc)["centre_id"] = name
		data(doc)["product"] = name
		data(doc)["priority_group"] = name
		data(doc)["doses"].([]any)[0].(map[string]any)["slot_start"] = name
	})
	err := r.ValidateMessage(doc)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid", err)
	}
	if got, _ := violationsOf(err); len(got) < 8 { // one per field at least
		t.Errorf("want a violation for each of the 8 fields, got %q", got)
	}
	if strings.Contains(err.Error(), "Erika") {
		t.Fatalf("error quotes a value: %v", err)
	}
}
