package schemas

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Check verifies a schemas folder, as `vaxhub schemas check` does with
// os.DirFS("schemas"): every *.schema.json is a JSON object, pins draft-07,
// has a description, refers only to files beside it, and compiles; it sits
// where Load finds it (the folder itself or external/); and it has examples
// that behave as they claim. For a schema named N (a file N.schema.json),
// testdata/N/valid/*.json must all pass and testdata/N/invalid/*.json must
// all fail, each with exactly the violations, one a line, listed in the .want
// file of the same name. There must be at least one example of each kind, and
// no examples for a schema that does not exist. The error names every file at
// fault and why.
func Check(fsys fs.FS) error {
	r, errs := compile(fsys)
	errs = append(errs, misplacedSchemas(fsys)...)

	names := map[string]bool{} // every schema file by name, compiled or not
	for _, pattern := range []string{"*" + suffix, externalDir + "/*" + suffix} {
		found, err := fs.Glob(fsys, pattern)
		if err != nil {
			return fmt.Errorf("list schemas: %w", err)
		}
		for _, file := range found {
			names[schemaName(file)] = true
		}
	}
	for _, name := range sortedKeys(names) {
		errs = append(errs, checkExamples(fsys, r, name)...)
	}

	dirs, err := fs.ReadDir(fsys, "testdata")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("list testdata: %w", err)
	}
	for _, d := range dirs {
		if d.IsDir() && !names[d.Name()] {
			errs = append(errs, fmt.Errorf("testdata/%s: examples for a schema that does not exist (no %s%s)", d.Name(), d.Name(), suffix))
		}
	}
	return errors.Join(errs...)
}

// misplacedSchemas finds schema files that Load would never see.
func misplacedSchemas(fsys fs.FS) []error {
	var errs []error
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p == "testdata" {
			return fs.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, suffix) {
			if dir := path.Dir(p); dir != "." && dir != externalDir {
				errs = append(errs, fmt.Errorf("%s: never loaded: schemas live in the folder itself or in %s/", p, externalDir))
			}
		}
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("walk: %w", err))
	}
	return errs
}

// checkExamples runs the examples of the schema called name. r holds the
// schemas that compiled; the examples of one that did not are only counted.
func checkExamples(fsys fs.FS, r *Registry, name string) []error {
	var errs []error
	dir := "testdata/" + name
	for _, kind := range []string{"valid", "invalid"} {
		examples, err := fs.Glob(fsys, dir+"/"+kind+"/*.json")
		if err != nil {
			return []error{fmt.Errorf("%s: %w", dir, err)}
		}
		if len(examples) == 0 {
			errs = append(errs, fmt.Errorf("%s%s: no %s example in %s/%s/", name, suffix, kind, dir, kind))
			continue
		}
		validate := r.validatorFor(name)
		if validate == nil {
			continue // did not compile; that error is reported already
		}
		for _, file := range examples {
			if err := checkExample(fsys, validate, file, kind == "valid"); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", file, err))
			}
		}
	}
	return errs
}

func checkExample(fsys fs.FS, validate func([]byte) error, file string, valid bool) error {
	doc, err := fs.ReadFile(fsys, file)
	if err != nil {
		return err
	}
	err = validate(doc)
	if valid {
		if err != nil {
			return fmt.Errorf("valid example is rejected: %w", err)
		}
		return nil
	}
	if err == nil {
		return errors.New("invalid example is accepted")
	}
	got, ok := violationsOf(err)
	if !ok {
		return fmt.Errorf("invalid example fails for another reason than its schema: %w", err)
	}
	wantFile := strings.TrimSuffix(file, ".json") + ".want"
	b, err := fs.ReadFile(fsys, wantFile)
	if err != nil {
		return fmt.Errorf("no %s listing the violations it must cause: %w", path.Base(wantFile), err)
	}
	want := wantLines(string(b))
	if !slices.Equal(got, want) {
		return fmt.Errorf("violations are\n\t%s\nwant (%s)\n\t%s", strings.Join(got, "\n\t"), path.Base(wantFile), strings.Join(want, "\n\t"))
	}
	return nil
}

// validatorFor returns how an example of the schema called name is checked:
// as an envelope of that event type, as the bare envelope, or as a payload.
// It returns nil when no such schema compiled.
func (r *Registry) validatorFor(name string) func([]byte) error {
	switch {
	case name == envelopeName && r.envelope != nil:
		return r.validateEnvelope
	case r.events[name] != nil:
		return func(doc []byte) error { return r.Validate(name, doc) }
	case r.payloads[name] != nil:
		return func(doc []byte) error { return r.ValidatePayload(name, doc) }
	}
	return nil
}

// wantLines reads a .want file: one violation a line; blank lines and lines
// starting with # are ignored.
func wantLines(s string) []string {
	var lines []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
