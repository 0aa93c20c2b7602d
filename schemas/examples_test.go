package schemas

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
)

// loadRegistry loads the embedded schemas or stops the test.
func loadRegistry(t testing.TB) *Registry {
	t.Helper()
	r, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return r
}

// TestExamples runs every example under testdata against its schema: a file
// in testdata/<name>/valid must pass, a file in testdata/<name>/invalid must
// fail with ErrInvalid and exactly the violations of its .want file, so that
// each invalid example breaks the one rule it is named after.
func TestExamples(t *testing.T) {
	r := loadRegistry(t)
	testdata := os.DirFS("testdata")
	examples, err := fs.Glob(testdata, "*/*/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(examples) == 0 {
		t.Fatal("no examples under testdata")
	}
	for _, file := range examples {
		name, kind := path.Dir(path.Dir(file)), path.Base(path.Dir(file))
		t.Run(strings.TrimSuffix(file, ".json"), func(t *testing.T) {
			doc, err := fs.ReadFile(testdata, file)
			if err != nil {
				t.Fatal(err)
			}
			err = validateAs(r, name, doc)
			switch kind {
			case "valid":
				if err != nil {
					t.Fatalf("valid example rejected: %v", err)
				}
			case "invalid":
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("got %v, want an error wrapping ErrInvalid", err)
				}
				if errors.Is(err, ErrUnknownType) {
					t.Fatalf("invalid example of a known schema reported as unknown type: %v", err)
				}
				b, err2 := fs.ReadFile(testdata, strings.TrimSuffix(file, ".json")+".want")
				if err2 != nil {
					t.Fatalf("every invalid example lists the violations it must cause: %v", err2)
				}
				want := wantLines(string(b))
				got, _ := violationsOf(err)
				if !slices.Equal(got, want) {
					t.Fatalf("violations:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
				}
				for _, v := range want {
					if !strings.Contains(err.Error(), v) {
						t.Errorf("error message %q does not list %q", err, v)
					}
				}
			default:
				t.Fatalf("examples live in valid/ or invalid/, not %s/", kind)
			}
		})
	}
}

// validateAs validates doc the way its testdata folder says: the envelope
// alone, an event type, or an external payload.
func validateAs(r *Registry, name string, doc []byte) error {
	switch {
	case name == "envelope":
		return r.validateEnvelope(doc)
	case slices.Contains(r.Types(), name):
		return r.Validate(name, doc)
	default:
		return r.ValidatePayload(name, doc)
	}
}

// TestEveryEventTypeHasExamples: at least one valid and two invalid examples
// per event type, so that every schema is shown to accept and to refuse.
func TestEveryEventTypeHasExamples(t *testing.T) {
	r := loadRegistry(t)
	for _, eventType := range append([]string{"envelope"}, r.Types()...) {
		valid, _ := fs.Glob(os.DirFS("testdata"), eventType+"/valid/*.json")
		invalid, _ := fs.Glob(os.DirFS("testdata"), eventType+"/invalid/*.json")
		if len(valid) < 1 || len(invalid) < 2 {
			t.Errorf("%s: %d valid and %d invalid examples, want at least 1 and 2", eventType, len(valid), len(invalid))
		}
	}
}

// TestCheckAcceptsThisFolder is what `vaxhub schemas check` does in CI.
func TestCheckAcceptsThisFolder(t *testing.T) {
	if err := Check(os.DirFS(".")); err != nil {
		t.Fatal(err)
	}
}

// TestEmbeddedSchemasAreTheFolder: Load sees the files Check verified.
func TestEmbeddedSchemasAreTheFolder(t *testing.T) {
	for _, pattern := range []string{"*.schema.json", "external/*.schema.json"} {
		onDisk, err := fs.Glob(os.DirFS("."), pattern)
		if err != nil {
			t.Fatal(err)
		}
		embedded, err := fs.Glob(files, pattern)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(onDisk, embedded) {
			t.Errorf("%s: embedded %v, on disk %v", pattern, embedded, onDisk)
		}
	}
}
