package mappings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// A test file sits next to its mapping file and is named after it with
// "_test.yaml": sap/material-document-item_test.yaml tests
// sap/material-document-item.yaml. It is data, Benthos-style:
//
//	tests:
//	  - name: goods receipt at Riesa
//	    direction: inbound        # or outbound; inbound if left out
//	    input: {...}              # the record, as the connector would decode it
//	    expect: {...}             # the whole output, or instead:
//	    expect_error: 'lookup'    # a substring of the ErrMapping error

var (
	testFileKeys = []string{"tests"}
	testCaseKeys = []string{"name", "direction", "input", "expect", "expect_error"}
)

// testFile is one loaded tests-as-data file.
type testFile struct {
	file    string
	mapping string // the name of the mapping it tests
	cases   []testCase
}

type testCase struct {
	file        string
	line        int
	name        string
	dir         direction
	input       map[string]any
	expect      any // nil when the case expects an error
	expectError string
}

// mappingNameOfTest is the name of the mapping that a test file tests.
func mappingNameOfTest(dir, file string) string {
	return mappingName(dir, strings.TrimSuffix(file, testFileExt)+yamlExt)
}

// loadTestFile reads and validates one test file.
func loadTestFile(fsys fs.FS, dir, file string) (*testFile, error) {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("mappings: read %s: %w", file, err)
	}
	r := &yamlReader{file: file}
	root, ok := r.parse(data)
	if !ok {
		return nil, errors.Join(r.errs...)
	}
	top, ok := r.object(root, "", testFileKeys)
	if !ok {
		return nil, errors.Join(r.errs...)
	}
	tf := &testFile{file: file, mapping: mappingNameOfTest(dir, file)}
	e, ok := top["tests"]
	if !ok {
		r.failf(root, "tests", "missing tests")
		return nil, errors.Join(r.errs...)
	}
	items, ok := r.list(e.value, "tests")
	if ok && len(items) == 0 {
		r.failf(e.value, "tests", "needs at least one test")
	}
	names := map[string]int{}
	for i, item := range items {
		at := fmt.Sprintf("tests[%d]", i)
		tc, ok := r.testCase(item, at)
		if !ok {
			continue
		}
		if line, dup := names[tc.name]; dup {
			r.failf(item, at+".name", "test %q is already defined on line %d", tc.name, line)
			continue
		}
		names[tc.name] = tc.line
		tc.file = file
		tf.cases = append(tf.cases, tc)
	}
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return tf, nil
}

func (r *yamlReader) testCase(n ast.Node, at string) (testCase, bool) {
	tc := testCase{line: lineOf(n)}
	errsBefore := len(r.errs)
	spec, ok := r.object(n, at, testCaseKeys)
	if !ok {
		return tc, false
	}
	if e, ok := spec["name"]; !ok {
		r.failf(n, at+".name", "missing name")
	} else if s, ok := r.str(e.value, at+".name"); ok {
		if s == "" {
			r.failf(e.value, at+".name", "name is empty")
		}
		tc.name = s
	}
	if e, ok := spec["direction"]; ok {
		if s, ok := r.str(e.value, at+".direction"); ok {
			switch s {
			case "inbound":
				tc.dir = inbound
			case "outbound":
				tc.dir = outbound
			default:
				r.failf(e.value, at+".direction", "want inbound or outbound, got %q", s)
			}
		}
	}
	if e, ok := spec["input"]; !ok {
		r.failf(n, at+".input", "missing input")
	} else if v, ok := r.value(e.value, at+".input"); ok {
		obj, isObj := v.(map[string]any)
		if !isObj {
			r.failf(e.value, at+".input", "input must be a mapping, got %s", kindOf(e.value))
		} else if normal, err := viaJSON(obj); err != nil {
			r.failf(e.value, at+".input", "input cannot be encoded as JSON: %v", err)
		} else {
			tc.input = normal.(map[string]any)
		}
	}
	expect, hasExpect := spec["expect"]
	expectErr, hasExpectErr := spec["expect_error"]
	switch {
	case hasExpect && hasExpectErr:
		r.failf(expectErr.keyAt, at+".expect_error", "a test has expect or expect_error, not both")
	case !hasExpect && !hasExpectErr:
		r.failf(n, at+".expect", "missing expect (or expect_error)")
	case hasExpect:
		if v, ok := r.value(expect.value, at+".expect"); ok {
			if _, isObj := v.(map[string]any); !isObj {
				r.failf(expect.value, at+".expect", "expect must be a mapping, got %s", kindOf(expect.value))
			}
			tc.expect = v
		}
	case hasExpectErr:
		if s, ok := r.str(expectErr.value, at+".expect_error"); ok {
			if s == "" {
				r.failf(expectErr.value, at+".expect_error", "expect_error is empty; it would match any error")
			}
			tc.expectError = s
		}
	}
	return tc, len(r.errs) == errsBefore
}

// run applies the mapping to the case's input and compares the outcome.
func (tc testCase) run(m *Mapping) error {
	var out map[string]any
	var err error
	if tc.dir == outbound {
		out, err = m.Outbound(tc.input)
	} else {
		out, err = m.Inbound(tc.input)
	}
	fail := func(format string, args ...any) error {
		return &CaseError{File: tc.file, Line: tc.line, Case: tc.name, Msg: fmt.Sprintf(format, args...)}
	}
	if tc.expectError != "" {
		switch {
		case err == nil:
			return fail("want an error containing %q, got output %s", tc.expectError, jsonText(out))
		case !errors.Is(err, ErrMapping):
			return fail("want a mapping error containing %q, got %v", tc.expectError, err)
		case !strings.Contains(err.Error(), tc.expectError):
			return fail("want an error containing %q, got %q", tc.expectError, err.Error())
		}
		return nil
	}
	if err != nil {
		return fail("want output %s, got error: %v", jsonText(tc.expect), err)
	}
	got, err := viaJSON(out)
	if err != nil {
		return fail("output cannot be encoded as JSON: %v", err)
	}
	want, err := viaJSON(tc.expect)
	if err != nil {
		return fail("expect cannot be encoded as JSON: %v", err)
	}
	if diffs := diffJSON("", want, got); len(diffs) > 0 {
		return fail("output differs from expect:\n  %s\n got: %s\nwant: %s", strings.Join(diffs, "\n  "), jsonText(out), jsonText(tc.expect))
	}
	return nil
}

// viaJSON encodes v as JSON and decodes it with UseNumber: the form in which
// connectors receive records and in which outputs are compared.
func viaJSON(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

func jsonText(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(data)
}

// diffJSON lists the differences between two JSON values, by path. Numbers
// are equal when their values are (12 and 12.0); a number never equals the
// string of its digits.
func diffJSON(at string, want, got any) []string {
	name := at
	if name == "" {
		name = "(output)"
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %s", name, jsonText(got))}
		}
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var diffs []string
		for _, k := range keys {
			wv, inWant := w[k]
			gv, inGot := g[k]
			switch {
			case !inGot:
				diffs = append(diffs, fmt.Sprintf("%s: missing, want %s", join(at, k), jsonText(wv)))
			case !inWant:
				diffs = append(diffs, fmt.Sprintf("%s: unexpected %s", join(at, k), jsonText(gv)))
			default:
				diffs = append(diffs, diffJSON(join(at, k), wv, gv)...)
			}
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %s, got %s", name, jsonText(want), jsonText(got))}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, diffJSON(fmt.Sprintf("%s.%d", at, i), w[i], g[i])...)
		}
		return diffs
	case json.Number:
		if g, ok := got.(json.Number); ok {
			wr, wok := new(big.Rat).SetString(w.String())
			gr, gok := new(big.Rat).SetString(g.String())
			if wok && gok && wr.Cmp(gr) == 0 {
				return nil
			}
		}
	default:
		if want == got {
			return nil
		}
	}
	return []string{fmt.Sprintf("%s: want %s, got %s", name, jsonText(want), jsonText(got))}
}

// Check loads every mapping under dir, runs every test file, and reports
// every problem at once, joined: invalid mapping or test files (*FileError),
// a mapping without a test file or a test file without a mapping
// (*FileError), and failing tests (*CaseError). It backs
// `vaxhub mappings check`.
func Check(fsys fs.FS, dir string) error {
	set, broken, errs := loadDir(fsys, dir)
	tested := map[string]bool{}
	testFiles, err := findTestFiles(fsys, dir)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, file := range testFiles {
		tf, err := loadTestFile(fsys, dir, file)
		if err != nil {
			errs = appendFlat(errs, err)
			continue
		}
		m, ok := set.Get(tf.mapping)
		if !ok && broken[tf.mapping] {
			continue // the mapping's own errors are reported already
		}
		if !ok {
			errs = append(errs, &FileError{File: file, Msg: fmt.Sprintf("no mapping %q to test (want %s next to it)", tf.mapping, strings.TrimSuffix(file, testFileExt)+yamlExt)})
			continue
		}
		tested[tf.mapping] = true
		errs = append(errs, tf.check(m)...)
	}
	for _, name := range set.Names() {
		if !tested[name] {
			m, _ := set.Get(name)
			errs = append(errs, &FileError{File: m.File(), Msg: fmt.Sprintf("mapping has no test file (want %s)", strings.TrimSuffix(m.File(), yamlExt)+testFileExt)})
		}
	}
	return errors.Join(errs...)
}

// check validates the cases against the mapping and runs them.
func (tf *testFile) check(m *Mapping) []error {
	var errs []error
	for _, tc := range tf.cases {
		if tc.dir == outbound && !m.HasOutbound() {
			errs = append(errs, &CaseError{File: tc.file, Line: tc.line, Case: tc.name, Msg: "direction outbound, but the mapping has no outbound section"})
			continue
		}
		if err := tc.run(m); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// findTestFiles lists every *_test.yaml under dir, sorted.
func findTestFiles(fsys fs.FS, dir string) ([]string, error) {
	var out []string
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, testFileExt) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mappings: walk %s: %w", dir, err)
	}
	sort.Strings(out)
	return out, nil
}
