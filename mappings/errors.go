package mappings

import (
	"errors"
	"fmt"
	"strings"
)

// ErrMapping is wrapped by every error from applying a mapping to a record
// (Inbound, Outbound): the record cannot be mapped and retrying will not help,
// so a connector sends it to the dead-letter topic with err.Error() as reason.
var ErrMapping = errors.New("record does not fit its mapping")

// ErrNoOutbound is returned by Outbound for a mapping file without an
// outbound section: a wiring mistake in the connector, not a bad record.
var ErrNoOutbound = errors.New("mapping has no outbound section")

// FileError is a problem found while loading a mapping file or its test file.
// It names the file (as a path inside the loaded fs.FS), the 1-based line
// (0 when unknown) and the field as a path such as "inbound[3].convert".
type FileError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

// Error formats the problem as
// `sap/material-document-item.yaml:14: field "inbound[3].convert": unknown conversion "odata-dat"`.
func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ApplyError is one field of a record that could not be mapped. It wraps
// ErrMapping. Inbound and Outbound report every failing field of a record,
// joined with errors.Join; use errors.As to reach the first one.
type ApplyError struct {
	Mapping   string // the mapping's name, for example "sap/material-document-item"
	Direction string // "inbound" or "outbound"
	Target    string // the target field's path
	Source    string // the source path the value came from
	Value     any    // the offending value; nil when the value is missing
	Reason    string // what is wrong with it
}

// maxValueText bounds how much of a bad value goes into an error message (and
// so into a dead-letter reason).
const maxValueText = 80

func (e *ApplyError) Error() string {
	msg := fmt.Sprintf("mapping %s %s: target %q from source %q: %s", e.Mapping, e.Direction, e.Target, e.Source, e.Reason)
	if e.Value != nil {
		msg += " (value " + valueText(e.Value) + ")"
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrMapping) true.
func (e *ApplyError) Unwrap() error { return ErrMapping }

// CaseError is a test case in a tests-as-data file whose outcome differs from
// what the case expects.
type CaseError struct {
	File string // the test file, for example "sap/material-document-item_test.yaml"
	Line int    // the line where the case starts
	Case string // the case's name
	Msg  string
}

func (e *CaseError) Error() string {
	return fmt.Sprintf("%s:%d: test %q: %s", e.File, e.Line, e.Case, e.Msg)
}

func valueText(v any) string {
	var s string
	switch v := v.(type) {
	case string:
		s = fmt.Sprintf("%q", v)
	default:
		s = fmt.Sprintf("%v", v)
	}
	if len(s) > maxValueText {
		s = s[:maxValueText] + "…"
	}
	return s
}
