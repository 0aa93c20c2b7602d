package servicenow

import (
	"sort"
	"strconv"
	"strings"
)

// An encoded query (sysparm_query) is conditions joined by ^ (and) and ^OR
// (or, binding to the condition before it, as on the real instance), ^NQ
// (a new query, or-ed with the ones before) and ORDERBY<col> /
// ORDERBYDESC<col>. A condition on a column the table does not have is
// silently ignored, as on the real instance.

type condition struct {
	path, op, value string
}

type orderBy struct {
	path string
	desc bool
}

// query is an OR of groups, each an AND of OR-clauses.
type query struct {
	groups [][][]condition
	order  []orderBy
}

// operators, longest first so that "!=" wins over "=" and "NOT LIKE" over
// "LIKE".
var operators = []string{
	"ISNOTEMPTY", "ISEMPTY", "ANYTHING", "STARTSWITH", "ENDSWITH", "NOT LIKE", "NOTLIKE", "NOT IN", "LIKE",
	"IN", "!=", ">=", "<=", "=", ">", "<",
}

func parseQuery(q string) query {
	var out query
	var group [][]condition
	for _, part := range splitQuery(q) {
		switch {
		case part == "":
			continue
		case strings.HasPrefix(part, "NQ") && (part == "NQ" || startsCondition(part[2:])):
			if len(group) > 0 {
				out.groups = append(out.groups, group)
			}
			group = nil
			if part = part[2:]; part == "" {
				continue
			}
		case strings.HasPrefix(part, "ORDERBYDESC"):
			out.order = append(out.order, orderBy{path: strings.TrimPrefix(part, "ORDERBYDESC"), desc: true})
			continue
		case strings.HasPrefix(part, "ORDERBY"):
			out.order = append(out.order, orderBy{path: strings.TrimPrefix(part, "ORDERBY")})
			continue
		case strings.HasPrefix(part, "GROUPBY"):
			continue
		}
		or := false
		if rest, ok := strings.CutPrefix(part, "OR"); ok && len(group) > 0 && startsCondition(rest) {
			part, or = rest, true
		}
		c, ok := parseCondition(part)
		if !ok {
			continue
		}
		if or {
			group[len(group)-1] = append(group[len(group)-1], c)
		} else {
			group = append(group, []condition{c})
		}
	}
	if len(group) > 0 {
		out.groups = append(out.groups, group)
	}
	return out
}

// splitQuery splits at ^ (a ^^ is a literal ^ in a value).
func splitQuery(q string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(q); i++ {
		if q[i] == '^' {
			if i+1 < len(q) && q[i+1] == '^' {
				cur.WriteByte('^')
				i++
				continue
			}
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(q[i])
	}
	return append(parts, cur.String())
}

func isFieldChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.'
}

func startsCondition(s string) bool { return s != "" && isFieldChar(s[0]) }

func parseCondition(part string) (condition, bool) {
	i := 0
	for i < len(part) && isFieldChar(part[i]) {
		i++
	}
	if i == 0 {
		return condition{}, false
	}
	path, rest := part[:i], part[i:]
	for _, op := range operators {
		if v, ok := strings.CutPrefix(rest, op); ok {
			if op == "NOTLIKE" {
				op = "NOT LIKE"
			}
			return condition{path: path, op: op, value: v}, true
		}
	}
	return condition{}, false
}

// matches reports whether r satisfies q on table t.
func (s *Simulator) matches(t *table, r *record, q query) bool {
	if len(q.groups) == 0 {
		return true
	}
	for _, g := range q.groups {
		if s.matchGroup(t, r, g) {
			return true
		}
	}
	return false
}

func (s *Simulator) matchGroup(t *table, r *record, g [][]condition) bool {
	for _, clause := range g {
		known, any := false, false
		for _, c := range clause {
			_, rec, col, ok := s.resolve(t, r, c.path)
			if !ok {
				continue // unknown field: ignored
			}
			known = true
			v := ""
			if rec != nil {
				v = rec.v[col.name]
			}
			if evalCondition(col, v, c) {
				any = true
				break
			}
		}
		if known && !any {
			return false
		}
	}
	return true
}

func evalCondition(col *column, v string, c condition) bool {
	want := c.value
	if col.kind == kDateTime || col.kind == kDate {
		if t, err := parseSNTime(want); err == nil {
			if col.kind == kDateTime {
				want = t.Format(timeLayout)
			} else {
				want = t.Format(dateLayout)
			}
		}
	}
	lv, lw := strings.ToLower(v), strings.ToLower(want)
	switch c.op {
	case "=":
		return v == want
	case "!=":
		return v != want
	case "LIKE":
		return strings.Contains(lv, lw)
	case "NOT LIKE":
		return !strings.Contains(lv, lw)
	case "STARTSWITH":
		return strings.HasPrefix(lv, lw)
	case "ENDSWITH":
		return strings.HasSuffix(lv, lw)
	case "IN", "NOT IN":
		in := false
		for _, x := range strings.Split(want, ",") {
			if x == v {
				in = true
			}
		}
		return in == (c.op == "IN")
	case "ISEMPTY":
		return v == ""
	case "ISNOTEMPTY":
		return v != ""
	case "ANYTHING":
		return true
	case ">", ">=", "<", "<=":
		if v == "" {
			return false
		}
		cmp := compareValues(col, v, want)
		switch c.op {
		case ">":
			return cmp > 0
		case ">=":
			return cmp >= 0
		case "<":
			return cmp < 0
		default:
			return cmp <= 0
		}
	}
	return false
}

// compareValues orders two stored values of a column: numbers as numbers,
// everything else (including the sortable date-time format) as text.
func compareValues(col *column, a, b string) int {
	if col.kind == kInteger {
		x, errA := strconv.ParseFloat(a, 64)
		y, errB := strconv.ParseFloat(b, 64)
		if errA == nil && errB == nil {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(a, b)
}

// sortRecords orders rs by q's ORDERBY terms; unknown columns are ignored.
func (s *Simulator) sortRecords(t *table, rs []*record, order []orderBy) {
	var keys []orderBy
	var cols []*column
	for _, o := range order {
		if _, _, c, ok := s.resolve(t, nil, o.path); ok {
			keys = append(keys, o)
			cols = append(cols, c)
		}
	}
	if len(keys) == 0 {
		return
	}
	sort.SliceStable(rs, func(i, j int) bool {
		for k, o := range keys {
			a, _ := s.get(t, rs[i], o.path)
			b, _ := s.get(t, rs[j], o.path)
			c := compareValues(cols[k], a, b)
			if c == 0 {
				continue
			}
			if o.desc {
				return c > 0
			}
			return c < 0
		}
		return false
	})
}
