package mappings

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// yamlReader walks the syntax tree of one YAML file and collects FileErrors
// with the line and field of each problem, so that one pass reports them all.
type yamlReader struct {
	file string
	errs []error
}

// entry is one key of a YAML mapping with its value.
type entry struct {
	key   string
	keyAt ast.Node
	value ast.Node
}

// ambiguousInteger matches integers that YAML 1.1 reads as octal or hex
// ("0101" becomes 65): in a mapping file they are almost always codes that
// were meant as strings.
var ambiguousInteger = regexp.MustCompile(`^[+-]?0[0-9xXoObB]`)

// parse parses a file that must hold exactly one, non-empty YAML document.
func (r *yamlReader) parse(data []byte) (ast.Node, bool) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) {
			line := 0
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				line = tk.Position.Line
			}
			r.errs = append(r.errs, &FileError{File: r.file, Line: line, Msg: "invalid YAML: " + ye.GetMessage()})
		} else {
			r.errs = append(r.errs, &FileError{File: r.file, Msg: "invalid YAML: " + err.Error()})
		}
		return nil, false
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	switch len(docs) {
	case 0:
		r.errs = append(r.errs, &FileError{File: r.file, Line: 1, Msg: "file is empty"})
		return nil, false
	case 1:
		return docs[0].Body, true
	default:
		r.failf(docs[1].Body, "", "a file holds one YAML document, found %d", len(docs))
		return nil, false
	}
}

func (r *yamlReader) failf(n ast.Node, field, format string, args ...any) {
	r.errs = append(r.errs, &FileError{File: r.file, Line: lineOf(n), Field: field, Msg: fmt.Sprintf(format, args...)})
}

func lineOf(n ast.Node) int {
	if n == nil {
		return 0
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0
	}
	return tk.Position.Line
}

func kindOf(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	default:
		return n.Type().String()
	}
}

// object returns the entries of a YAML mapping, reporting keys that are not in
// allowed (when allowed is non-nil) as unknown. ok is false when n is not a
// mapping at all.
func (r *yamlReader) object(n ast.Node, field string, allowed []string) (map[string]entry, bool) {
	var pairs []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		pairs = m.Values
	case *ast.MappingValueNode:
		pairs = []*ast.MappingValueNode{m}
	default:
		r.failf(n, field, "want a mapping, got %s", kindOf(n))
		return nil, false
	}
	out := make(map[string]entry, len(pairs))
	for _, p := range pairs {
		key, ok := r.key(p.Key, field)
		if !ok {
			continue
		}
		if allowed != nil && !slices.Contains(allowed, key) {
			r.failf(p.Key, join(field, key), "unknown key %q (allowed: %s)", key, strings.Join(allowed, ", "))
			continue
		}
		out[key] = entry{key: key, keyAt: p.Key, value: p.Value}
	}
	return out, true
}

// key returns a mapping key as written: `0101: x` has the key "0101".
func (r *yamlReader) key(n ast.MapKeyNode, field string) (string, bool) {
	switch k := n.(type) {
	case *ast.StringNode:
		return k.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return k.GetToken().Value, true
	default:
		r.failf(n, field, "a key must be a plain string, got %s", kindOf(n))
		return "", false
	}
}

// orderedKeys returns the keys of a YAML mapping in file order.
func orderedKeys(n ast.Node) []string {
	var pairs []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		pairs = m.Values
	case *ast.MappingValueNode:
		pairs = []*ast.MappingValueNode{m}
	}
	keys := make([]string, 0, len(pairs))
	for _, p := range pairs {
		if s, ok := p.Key.(*ast.StringNode); ok {
			keys = append(keys, s.Value)
		} else {
			keys = append(keys, p.Key.GetToken().Value)
		}
	}
	return keys
}

func (r *yamlReader) list(n ast.Node, field string) ([]ast.Node, bool) {
	s, ok := n.(*ast.SequenceNode)
	if !ok {
		r.failf(n, field, "want a list, got %s", kindOf(n))
		return nil, false
	}
	return s.Values, true
}

func (r *yamlReader) str(n ast.Node, field string) (string, bool) {
	switch s := n.(type) {
	case *ast.StringNode:
		return s.Value, true
	case *ast.LiteralNode:
		return s.Value.Value, true
	default:
		r.failf(n, field, "want a string, got %s", kindOf(n))
		return "", false
	}
}

func (r *yamlReader) boolean(n ast.Node, field string) (bool, bool) {
	b, ok := n.(*ast.BoolNode)
	if !ok {
		r.failf(n, field, "want true or false, got %s", kindOf(n))
		return false, false
	}
	return b.Value, true
}

// value converts any YAML value to the Go values a mapping works with:
// map[string]any, []any, string, int64, float64, bool and nil. Anchors,
// aliases, tags and integers written with a leading zero are refused.
func (r *yamlReader) value(n ast.Node, field string) (any, bool) {
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return nil, true
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.BoolNode:
		return v.Value, true
	case *ast.FloatNode:
		return v.Value, true
	case *ast.IntegerNode:
		text := v.GetToken().Value
		if ambiguousInteger.MatchString(text) {
			r.failf(n, field, "number %s has a leading zero or base prefix; quote it if it is a code (%q)", text, text)
			return nil, false
		}
		switch i := v.Value.(type) {
		case int64:
			return i, true
		case uint64:
			if i > math.MaxInt64 {
				r.failf(n, field, "number %s is too large", text)
				return nil, false
			}
			return int64(i), true
		default:
			parsed, err := strconv.ParseInt(text, 10, 64)
			if err != nil {
				r.failf(n, field, "number %s: %v", text, err)
				return nil, false
			}
			return parsed, true
		}
	case *ast.MappingNode, *ast.MappingValueNode:
		entries, ok := r.object(n, field, nil)
		if !ok {
			return nil, false
		}
		out := make(map[string]any, len(entries))
		good := true
		for _, k := range orderedKeys(n) {
			e, found := entries[k]
			if !found {
				continue
			}
			x, ok := r.value(e.value, join(field, k))
			good = good && ok
			out[k] = x
		}
		return out, good
	case *ast.SequenceNode:
		out := make([]any, len(v.Values))
		good := true
		for i, item := range v.Values {
			x, ok := r.value(item, fmt.Sprintf("%s[%d]", field, i))
			good = good && ok
			out[i] = x
		}
		return out, good
	case *ast.AnchorNode, *ast.AliasNode, *ast.TagNode, *ast.MergeKeyNode:
		r.failf(n, field, "YAML anchors, aliases, merge keys and tags are not supported")
		return nil, false
	default:
		r.failf(n, field, "unsupported YAML value %s", kindOf(n))
		return nil, false
	}
}

// scalar is value restricted to strings, numbers and booleans.
func (r *yamlReader) scalar(n ast.Node, field string) (any, bool) {
	switch n.(type) {
	case *ast.StringNode, *ast.LiteralNode, *ast.BoolNode, *ast.IntegerNode, *ast.FloatNode:
		return r.value(n, field)
	default:
		r.failf(n, field, "want a string, number or boolean, got %s", kindOf(n))
		return nil, false
	}
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}
