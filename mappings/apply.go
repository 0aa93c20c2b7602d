package mappings

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

type direction int

const (
	inbound direction = iota
	outbound
)

func (d direction) String() string {
	if d == outbound {
		return "outbound"
	}
	return "inbound"
}

func (m *Mapping) apply(dir direction, fields []field, rec map[string]any) (map[string]any, error) {
	out := map[string]any{}
	var errs []error
	for i := range fields {
		f := &fields[i]
		v, present, err := f.value(dir, rec)
		if err != nil {
			err.Mapping, err.Direction = m.name, dir.String()
			errs = append(errs, err)
			continue
		}
		if present {
			setPath(out, f.target, v)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// value computes one target value. Inbound runs convert, then lookup;
// outbound runs the reverse lookup, then convert to the outside format.
func (f *field) value(dir direction, rec map[string]any) (any, bool, *ApplyError) {
	fail := func(v any, format string, args ...any) (any, bool, *ApplyError) {
		return nil, false, &ApplyError{Target: f.targetText, Source: f.sourceText, Value: v, Reason: fmt.Sprintf(format, args...)}
	}
	if f.isConst {
		return copyValue(f.constVal), true, nil
	}
	v, found := getPath(rec, f.source)
	if !found || v == nil || v == "" {
		switch {
		case f.required:
			return fail(nil, "required value is missing")
		case f.hasDefault:
			return copyValue(f.defaultVal), true, nil
		default:
			return nil, false, nil
		}
	}
	if dir == inbound && f.conv != nil {
		converted, err := f.conv.inbound(v)
		if err != nil {
			return fail(v, "%s: %v", f.conv.name, err)
		}
		v = converted
	}
	if f.lookup != nil {
		key, ok := lookupKey(v)
		if !ok {
			return fail(v, "lookup %q: want a string, number or boolean, got %T", f.lookup.name, v)
		}
		if dir == inbound {
			hit, ok := f.lookup.values[key]
			switch {
			case ok:
				v = copyValue(hit)
			case f.lookup.hasDefault:
				v = copyValue(f.lookup.defaultVal)
			default:
				return fail(v, "lookup %q has no entry", f.lookup.name)
			}
		} else {
			hit, ok := f.lookup.reverse[key]
			if !ok {
				return fail(v, "lookup %q has no key for this value", f.lookup.name)
			}
			v = hit
		}
	}
	if dir == outbound && f.conv != nil {
		converted, err := f.conv.outbound(v)
		if err != nil {
			return fail(v, "%s: %v", f.conv.name, err)
		}
		v = converted
	}
	return v, true, nil
}

// lookupKey is the text a value is looked up by: "101" for the string "101",
// the JSON number 101 and the integer 101 alike.
func lookupKey(v any) (string, bool) {
	switch v.(type) {
	case string, json.Number, bool, int, int32, int64, float64:
		return keyText(v), true
	default:
		return "", false
	}
}

func keyText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// getPath follows a dotted path through objects and lists; a numeric segment
// indexes a list.
func getPath(rec map[string]any, segs []string) (any, bool) {
	var cur any = rec
	for _, seg := range segs {
		switch node := cur.(type) {
		case map[string]any:
			next, ok := node[seg]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(node) {
				return nil, false
			}
			cur = node[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// setPath sets a value at a dotted path, creating objects on the way. Load
// time validation guarantees that no target is a prefix of another.
func setPath(out map[string]any, segs []string, v any) {
	cur := out
	for _, seg := range segs[:len(segs)-1] {
		next, ok := cur[seg].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[seg] = next
		}
		cur = next
	}
	cur[segs[len(segs)-1]] = v
}

// copyValue copies maps and lists from the mapping file so that a caller that
// changes its output cannot change the mapping.
func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = copyValue(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = copyValue(x)
		}
		return out
	default:
		return v
	}
}
