package servicenow

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// timeLayout is how the Table API writes date-times: UTC, space-separated.
const timeLayout = "2006-01-02 15:04:05"

// dateLayout is how it writes dates.
const dateLayout = "2006-01-02"

type kind int

const (
	kString kind = iota
	kInteger
	kBoolean
	kDateTime
	kDate
	kReference
	kChoice
)

// column is one field of a table.
type column struct {
	name string
	kind kind
	ref  string // referenced table for kReference
}

// table is one Table API table: its columns and its records in insertion
// order.
type table struct {
	name    string
	display string // the column that is a record's display value
	prefix  string // number prefix ("WOT"), empty if the table has no number
	cols    []column
	col     map[string]*column
	records []*record
	byID    map[string]*record
	next    int // next number
}

// record is one row; every value is stored as the string the API shows.
// References hold the referenced sys_id.
type record struct {
	v map[string]string
}

func (r *record) id() string { return r.v["sys_id"] }

func (r *record) clone() *record {
	c := &record{v: make(map[string]string, len(r.v))}
	for k, v := range r.v {
		c.v[k] = v
	}
	return c
}

// systemColumns are on every table and cannot be written by a client.
var systemColumns = []column{
	{name: "sys_id"}, {name: "sys_created_on", kind: kDateTime}, {name: "sys_created_by"},
	{name: "sys_updated_on", kind: kDateTime}, {name: "sys_updated_by"},
	{name: "sys_mod_count", kind: kInteger}, {name: "sys_class_name"},
}

func isSystem(name string) bool { return strings.HasPrefix(name, "sys_") }

func newTable(name, display, prefix string, cols ...column) *table {
	t := &table{name: name, display: display, prefix: prefix, col: map[string]*column{}, byID: map[string]*record{}, next: 10001}
	t.cols = append(append([]column{}, systemColumns...), cols...)
	for i := range t.cols {
		t.col[t.cols[i].name] = &t.cols[i]
	}
	return t
}

func str(name string) column                { return column{name: name} }
func integer(name string) column            { return column{name: name, kind: kInteger} }
func boolean(name string) column            { return column{name: name, kind: kBoolean} }
func datetime(name string) column           { return column{name: name, kind: kDateTime} }
func date(name string) column               { return column{name: name, kind: kDate} }
func choice(name string) column             { return column{name: name, kind: kChoice} }
func reference(name, to string) column      { return column{name: name, kind: kReference, ref: to} }
func numberPrefixed(t *table) string        { return fmt.Sprintf("%s%07d", t.prefix, t.next) }
func tableLink(base, tbl, id string) string { return base + "/api/now/table/" + tbl + "/" + id }

// Table names.
const (
	tOrder       = "wm_order"
	tTask        = "wm_task"
	tGroup       = "sys_user_group"
	tLocation    = "cmn_location"
	tChoice      = "sys_choice"
	tVaccination = "u_vaccination"
)

// schema returns the tables of the instance, empty.
func schema() map[string]*table {
	ts := []*table{
		newTable(tOrder, "number", "WO",
			str("number"), str("short_description"), str("description"), choice("state"), boolean("active"),
			reference("location", tLocation), str("u_care_home"), date("u_campaign_date"),
			reference("assignment_group", tGroup), integer("u_doses"), integer("u_residents"), integer("u_staff"),
			datetime("opened_at"), datetime("closed_at")),
		newTable(tTask, "number", "WOT",
			str("number"), str("short_description"), str("description"), choice("state"), boolean("active"),
			reference("parent", tOrder), reference("assignment_group", tGroup), reference("location", tLocation),
			str("u_care_home"), datetime("u_planned_start"), datetime("u_planned_end"), integer("u_doses"),
			datetime("work_start"), datetime("work_end"), datetime("closed_at"), str("work_notes")),
		newTable(tGroup, "name", "",
			str("name"), str("description"), boolean("active"), str("type"), str("u_code"),
			str("u_district"), str("u_district_ags"), str("email")),
		newTable(tLocation, "name", "",
			str("name"), str("cmn_location_type"), reference("parent", tLocation), str("street"), str("zip"),
			str("city"), str("state"), str("country"), str("u_code"), str("u_district"), str("u_district_ags"),
			integer("u_residents"), integer("u_staff")),
		newTable(tChoice, "label", "",
			str("name"), str("element"), str("value"), str("label"), integer("sequence"), str("language"), boolean("inactive")),
		newTable(tVaccination, "number", "VAC",
			str("number"), str("u_resident"), choice("u_product"), str("u_batch"), integer("u_dose_number"),
			datetime("u_administered_at"), str("u_vaccinator"), reference("u_task", tTask),
			reference("u_assignment_group", tGroup), str("u_device"), str("u_local_id"), boolean("u_recorded_offline")),
	}
	m := map[string]*table{}
	for _, t := range ts {
		m[t.name] = t
	}
	return m
}

// newSysID returns a random 32-hex sys_id.
func newSysID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// stableSysID is the sys_id of a seeded record, the same on every start.
func stableSysID(tbl, key string) string {
	sum := md5.Sum([]byte("vaxhub-sim-servicenow:" + tbl + ":" + key))
	return hex.EncodeToString(sum[:])
}

func isSysID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// fieldError is a value that a column does not take.
type fieldError struct{ field, value, want string }

func (e *fieldError) Error() string {
	return fmt.Sprintf("Invalid value %q for field %s: want %s", e.value, e.field, e.want)
}

// normalise turns a value from a request body into the stored string.
func (s *Simulator) normalise(c *column, v any) (string, error) {
	var raw string
	switch x := v.(type) {
	case nil:
		raw = ""
	case string:
		raw = x
	case bool:
		raw = strconv.FormatBool(x)
	case float64:
		raw = strconv.FormatFloat(x, 'f', -1, 64)
	case map[string]any: // {"value": ...} as read back with references
		if val, ok := x["value"]; ok {
			return s.normalise(c, val)
		}
		return "", &fieldError{c.name, fmt.Sprint(x), "a string"}
	default:
		return "", &fieldError{c.name, fmt.Sprint(x), "a string"}
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", nil
	}
	switch c.kind {
	case kInteger:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(raw, 64)
			if ferr != nil || f != float64(int64(f)) {
				return "", &fieldError{c.name, raw, "a whole number"}
			}
			n = int64(f)
		}
		return strconv.FormatInt(n, 10), nil
	case kBoolean:
		switch strings.ToLower(raw) {
		case "true", "1":
			return "true", nil
		case "false", "0":
			return "false", nil
		}
		return "", &fieldError{c.name, raw, "true or false"}
	case kDateTime:
		t, err := parseSNTime(raw)
		if err != nil {
			return "", &fieldError{c.name, raw, `"YYYY-MM-DD hh:mm:ss" (UTC)`}
		}
		return t.Format(timeLayout), nil
	case kDate:
		t, err := time.Parse(dateLayout, raw)
		if err != nil {
			return "", &fieldError{c.name, raw, `"YYYY-MM-DD"`}
		}
		return t.Format(dateLayout), nil
	case kReference:
		if rt := s.tables[c.ref]; rt != nil && !isSysID(raw) {
			// a display value is resolved, as the real instance does
			for _, r := range rt.records {
				if r.v[rt.display] == raw {
					return r.id(), nil
				}
			}
		}
		return raw, nil
	}
	return raw, nil
}

// parseSNTime reads "YYYY-MM-DD hh:mm:ss" (UTC), also "YYYY-MM-DD" and
// javascript:gs.dateGenerate('YYYY-MM-DD','hh:mm:ss') as in encoded queries.
func parseSNTime(v string) (time.Time, error) {
	if rest, ok := strings.CutPrefix(v, "javascript:gs.dateGenerate("); ok {
		rest = strings.TrimSuffix(rest, ")")
		parts := strings.Split(rest, ",")
		if len(parts) == 2 {
			d := strings.Trim(strings.TrimSpace(parts[0]), `'"`)
			tm := strings.Trim(strings.TrimSpace(parts[1]), `'"`)
			switch tm {
			case "start":
				tm = "00:00:00"
			case "end":
				tm = "23:59:59"
			}
			v = d + " " + tm
		}
	}
	if t, err := time.Parse(timeLayout, v); err == nil {
		return t, nil
	}
	return time.Parse(dateLayout, v)
}

// insert adds a record with the given (already normalised) values, stamped
// at now by user. A valid sys_id in vals is kept.
func (t *table) insert(vals map[string]string, now time.Time, user string) *record {
	r := &record{v: map[string]string{}}
	for _, c := range t.cols {
		r.v[c.name] = ""
	}
	for k, v := range vals {
		if _, ok := t.col[k]; ok {
			r.v[k] = v
		}
	}
	if id := vals["sys_id"]; !isSysID(id) || t.byID[id] != nil {
		r.v["sys_id"] = newSysID()
	}
	if t.prefix != "" && r.v["number"] == "" {
		r.v["number"] = numberPrefixed(t)
		t.next++
	}
	ts := now.UTC().Format(timeLayout)
	r.v["sys_created_on"], r.v["sys_updated_on"] = ts, ts
	r.v["sys_created_by"], r.v["sys_updated_by"] = user, user
	r.v["sys_mod_count"] = "0"
	r.v["sys_class_name"] = t.name
	t.records = append(t.records, r)
	t.byID[r.id()] = r
	return r
}

// update writes vals into r. If nothing changes, nothing is written and
// sys_mod_count stays, as on the real instance. It returns the names of
// the fields that changed.
func (t *table) update(r *record, vals map[string]string, now time.Time, user string) []string {
	var changed []string
	for _, c := range t.cols {
		v, ok := vals[c.name]
		if !ok || isSystem(c.name) || r.v[c.name] == v {
			continue
		}
		r.v[c.name] = v
		changed = append(changed, c.name)
	}
	if len(changed) == 0 {
		return nil
	}
	n, _ := strconv.Atoi(r.v["sys_mod_count"])
	r.v["sys_mod_count"] = strconv.Itoa(n + 1)
	r.v["sys_updated_on"] = now.UTC().Format(timeLayout)
	r.v["sys_updated_by"] = user
	return changed
}

func (t *table) remove(r *record) {
	delete(t.byID, r.id())
	for i, x := range t.records {
		if x == r {
			t.records = append(t.records[:i], t.records[i+1:]...)
			return
		}
	}
}

// resolve follows a dot-walked path ("assignment_group.name") from r to
// the table, record and column it ends at. rec is nil when a reference on
// the way is empty or dangling; ok is false when the path names no column.
func (s *Simulator) resolve(t *table, r *record, path string) (ft *table, rec *record, c *column, ok bool) {
	name, rest, walk := strings.Cut(path, ".")
	c = t.col[name]
	if c == nil {
		return nil, nil, nil, false
	}
	if !walk {
		return t, r, c, true
	}
	rt := s.tables[c.ref]
	if c.kind != kReference || rt == nil {
		return nil, nil, nil, false
	}
	var target *record
	if r != nil {
		target = rt.byID[r.v[name]]
	}
	return s.resolve(rt, target, rest)
}

// get is the stored value at a dot-walked path; ok is false when the path
// names no column.
func (s *Simulator) get(t *table, r *record, path string) (string, bool) {
	_, rec, c, ok := s.resolve(t, r, path)
	if !ok || rec == nil {
		return "", ok
	}
	return rec.v[c.name], true
}
