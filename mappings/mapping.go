package mappings

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Set is every mapping loaded from one folder, by name. It is read-only after
// LoadDir and safe for concurrent use.
type Set struct {
	byName map[string]*Mapping
}

// Get returns the mapping named like its file without the extension, relative
// to the loaded folder: "sap/material-document-item".
func (s *Set) Get(name string) (*Mapping, bool) {
	m, ok := s.byName[name]
	return m, ok
}

// Names returns the names of all mappings in the set, sorted.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.byName))
	for n := range s.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Mapping is one loaded and validated mapping file. It is read-only and safe
// for concurrent use.
type Mapping struct {
	name        string
	file        string
	description string
	inbound     []field
	outbound    []field
	hasOutbound bool
}

// Name returns the mapping's name, for example "sap/material-document-item".
func (m *Mapping) Name() string { return m.name }

// File returns the path of the mapping file inside the fs.FS it came from.
func (m *Mapping) File() string { return m.file }

// Description returns the file's description.
func (m *Mapping) Description() string { return m.description }

// HasOutbound reports whether the file has an outbound section.
func (m *Mapping) HasOutbound() bool { return m.hasOutbound }

// field is one entry of an inbound or outbound list.
type field struct {
	target     []string
	targetText string
	source     []string
	sourceText string

	isConst  bool
	constVal any

	conv       *conversion
	lookup     *lookup
	required   bool
	hasDefault bool
	defaultVal any
}

// lookup is a named table of the file, for example plant code to centre ID.
type lookup struct {
	name       string
	values     map[string]any
	hasDefault bool
	defaultVal any
	// reverse maps a table value back to its key for outbound fields; built at
	// load time only for lookups that an outbound field uses, which requires
	// the values to be unique.
	reverse map[string]string
}

const (
	yamlExt     = ".yaml"
	testFileExt = "_test.yaml"
)

var (
	topKeys    = []string{"description", "lookups", "inbound", "outbound"}
	lookupKeys = []string{"values", "default"}
	fieldKeys  = []string{"target", "source", "const", "convert", "lookup", "default", "required"}
)

// LoadDir loads and validates every mapping file (*.yaml, except the
// *_test.yaml test files) under dir in fsys, recursively. It returns all
// problems of all files at once, joined with errors.Join; each is a
// *FileError unless a file could not be read.
func LoadDir(fsys fs.FS, dir string) (*Set, error) {
	set, _, errs := loadDir(fsys, dir)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

// loadDir returns the mappings that loaded, the names of those that did not,
// and every problem found.
func loadDir(fsys fs.FS, dir string) (set *Set, broken map[string]bool, errs []error) {
	set = &Set{byName: map[string]*Mapping{}}
	broken = map[string]bool{}
	walkErr := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		name := d.Name()
		switch {
		case strings.HasSuffix(name, ".yml"):
			errs = append(errs, &FileError{File: p, Msg: "mapping files end in .yaml, not .yml"})
			return nil
		case !strings.HasSuffix(name, yamlExt), strings.HasSuffix(name, testFileExt):
			return nil
		}
		mname := mappingName(dir, p)
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			broken[mname] = true
			errs = append(errs, fmt.Errorf("mappings: read %s: %w", p, err))
			return nil
		}
		m, err := parseMapping(p, mname, data)
		if err != nil {
			broken[mname] = true
			errs = appendFlat(errs, err)
			return nil
		}
		set.byName[m.name] = m
		return nil
	})
	if walkErr != nil {
		errs = append(errs, fmt.Errorf("mappings: walk %s: %w", dir, walkErr))
	}
	return set, broken, errs
}

// appendFlat appends err, or the errors it joins, so that a caller gets one
// flat list of FileErrors from several files.
func appendFlat(errs []error, err error) []error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		return append(errs, joined.Unwrap()...)
	}
	return append(errs, err)
}

// mappingName is the path of file relative to dir, without ".yaml".
func mappingName(dir, file string) string {
	rel := file
	if dir != "." && dir != "" {
		rel = strings.TrimPrefix(file, strings.TrimSuffix(dir, "/")+"/")
	}
	return strings.TrimSuffix(rel, yamlExt)
}

// parseMapping validates one mapping file and returns every problem in it.
func parseMapping(file, name string, data []byte) (*Mapping, error) {
	r := &yamlReader{file: file}
	root, ok := r.parse(data)
	if !ok {
		return nil, errors.Join(r.errs...)
	}
	top, ok := r.object(root, "", topKeys)
	if !ok {
		return nil, errors.Join(r.errs...)
	}
	m := &Mapping{name: name, file: file}
	if e, ok := top["description"]; ok {
		m.description, _ = r.str(e.value, "description")
	}
	lookups := map[string]*lookup{}
	if e, ok := top["lookups"]; ok {
		lookups = r.lookups(e.value)
	}
	_, hasIn := top["inbound"]
	_, hasOut := top["outbound"]
	if !hasIn && !hasOut {
		r.failf(root, "", "a mapping needs an inbound or an outbound section, or both")
	}
	if e, ok := top["inbound"]; ok {
		m.inbound = r.fields(e.value, "inbound", lookups, false)
	}
	if e, ok := top["outbound"]; ok {
		m.outbound = r.fields(e.value, "outbound", lookups, true)
		m.hasOutbound = true
	}
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return m, nil
}

func (r *yamlReader) lookups(n ast.Node) map[string]*lookup {
	out := map[string]*lookup{}
	entries, ok := r.object(n, "lookups", nil)
	if !ok {
		return out
	}
	for _, name := range orderedKeys(n) {
		e, ok := entries[name]
		if !ok {
			continue
		}
		field := "lookups." + name
		// The lookup is registered even when it has problems, so that fields
		// using it do not report a second, misleading "unknown lookup".
		l := &lookup{name: name, values: map[string]any{}}
		out[name] = l
		spec, ok := r.object(e.value, field, lookupKeys)
		if !ok {
			continue
		}
		if d, ok := spec["default"]; ok {
			l.defaultVal, l.hasDefault = r.scalar(d.value, field+".default")
		}
		v, ok := spec["values"]
		if !ok {
			r.failf(e.value, field+".values", "a lookup needs values")
			continue
		}
		values, ok := r.object(v.value, field+".values", nil)
		if !ok {
			continue
		}
		if len(values) == 0 {
			r.failf(v.value, field+".values", "a lookup needs at least one value")
		}
		for _, key := range orderedKeys(v.value) {
			ve, ok := values[key]
			if !ok {
				continue
			}
			if x, ok := r.scalar(ve.value, field+".values."+key); ok {
				l.values[key] = x
			}
		}
	}
	return out
}

// fields reads an inbound or outbound list.
func (r *yamlReader) fields(n ast.Node, section string, lookups map[string]*lookup, outbound bool) []field {
	items, ok := r.list(n, section)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		r.failf(n, section, "needs at least one field")
	}
	var out []field
	var lines []int // the line of each field in out
	for i, item := range items {
		at := fmt.Sprintf("%s[%d]", section, i)
		f, ok := r.field(item, at, lookups, outbound)
		if !ok {
			continue
		}
		for j, other := range out {
			switch {
			case other.targetText == f.targetText:
				r.failf(item, at+".target", "target %q is already set by the field on line %d", f.targetText, lines[j])
			case strings.HasPrefix(f.targetText, other.targetText+"."), strings.HasPrefix(other.targetText, f.targetText+"."):
				r.failf(item, at+".target", "target %q overlaps target %q on line %d", f.targetText, other.targetText, lines[j])
			}
		}
		out = append(out, f)
		lines = append(lines, lineOf(item))
	}
	return out
}

func (r *yamlReader) field(n ast.Node, at string, lookups map[string]*lookup, outbound bool) (field, bool) {
	var f field
	errsBefore := len(r.errs)
	spec, ok := r.object(n, at, fieldKeys)
	if !ok {
		return f, false
	}
	if e, ok := spec["target"]; !ok {
		r.failf(n, at+".target", "missing target")
	} else if s, ok := r.str(e.value, at+".target"); ok {
		f.target, f.targetText = r.path(e.value, at+".target", s, false)
	}
	_, hasSource := spec["source"]
	c, hasConst := spec["const"]
	switch {
	case hasSource && hasConst:
		r.failf(c.keyAt, at+".const", "a field has either source or const, not both")
	case !hasSource && !hasConst:
		r.failf(n, at+".source", "missing source (or const)")
	}
	if e, ok := spec["source"]; ok {
		if s, ok := r.str(e.value, at+".source"); ok {
			f.source, f.sourceText = r.path(e.value, at+".source", s, true)
		}
	}
	if hasConst {
		f.isConst = true
		var ok bool
		if f.constVal, ok = r.value(c.value, at+".const"); ok && f.constVal == nil {
			r.failf(c.value, at+".const", "const must not be null")
		}
		for _, k := range []string{"convert", "lookup", "default", "required"} {
			if e, ok := spec[k]; ok {
				r.failf(e.keyAt, at+"."+k, "a const field takes no %s", k)
			}
		}
	}
	if e, ok := spec["convert"]; ok {
		if s, ok := r.str(e.value, at+".convert"); ok {
			if conv, ok := conversionByName(s); ok {
				f.conv = &conv
			} else {
				r.failf(e.value, at+".convert", "unknown conversion %q", s)
			}
		}
	}
	if e, ok := spec["lookup"]; ok {
		if s, ok := r.str(e.value, at+".lookup"); ok {
			l, ok := lookups[s]
			switch {
			case !ok:
				r.failf(e.value, at+".lookup", "unknown lookup %q", s)
			case outbound:
				f.lookup = l
				r.reverse(e.value, at+".lookup", l)
			default:
				f.lookup = l
			}
		}
	}
	if e, ok := spec["required"]; ok {
		f.required, _ = r.boolean(e.value, at+".required")
	}
	if e, ok := spec["default"]; ok {
		f.defaultVal, f.hasDefault = r.value(e.value, at+".default")
		if f.hasDefault && f.defaultVal == nil {
			r.failf(e.value, at+".default", "default must not be null; leave it out instead")
			f.hasDefault = false
		}
		if f.required {
			r.failf(e.keyAt, at+".default", "a required field takes no default")
		}
	}
	return f, len(r.errs) == errsBefore
}

// path splits a dotted path. Source paths may index lists with numbers
// ("d.results.0.Plant"); targets build nested objects only.
func (r *yamlReader) path(n ast.Node, field, s string, isSource bool) ([]string, string) {
	if s == "" {
		r.failf(n, field, "path is empty")
		return nil, s
	}
	segs := strings.Split(s, ".")
	for _, seg := range segs {
		if seg == "" {
			r.failf(n, field, "path %q has an empty segment", s)
			return nil, s
		}
		if !isSource {
			if _, err := strconv.Atoi(seg); err == nil {
				r.failf(n, field, "target %q has the list index %q; targets build objects only", s, seg)
				return nil, s
			}
		}
	}
	return segs, s
}

// reverse prepares l for outbound use: each value must belong to one key.
func (r *yamlReader) reverse(n ast.Node, field string, l *lookup) {
	if l.reverse != nil {
		return
	}
	rev := make(map[string]string, len(l.values))
	keys := make([]string, 0, len(l.values))
	for k := range l.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := keyText(l.values[k])
		if prev, dup := rev[v]; dup {
			r.failf(n, field, "lookup %q cannot be reversed for outbound: keys %q and %q both map to %q", l.name, prev, k, v)
			continue
		}
		rev[v] = k
	}
	l.reverse = rev
}

// Inbound maps a record of the outside system (as decoded by encoding/json
// with UseNumber) to the core's shape. A record that does not fit gives an
// error wrapping ErrMapping that names every failing field.
func (m *Mapping) Inbound(rec map[string]any) (map[string]any, error) {
	return m.apply(inbound, m.inbound, rec)
}

// Outbound maps a core record to the outside system's shape: lookups run in
// reverse and conversions produce the outside format. It returns
// ErrNoOutbound if the file has no outbound section.
func (m *Mapping) Outbound(rec map[string]any) (map[string]any, error) {
	if !m.hasOutbound {
		return nil, fmt.Errorf("mapping %s: %w", m.name, ErrNoOutbound)
	}
	return m.apply(outbound, m.outbound, rec)
}
