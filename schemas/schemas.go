// Package schemas holds the draft-07 JSON Schemas of every event on the bus and
// of the external payloads that connectors exchange, embedded in the binary,
// and the validator that the bus runs on every message it produces and consumes.
// It only judges documents: it never changes a message, never fetches a schema
// from anywhere but the embedded files, and never logs a message's content.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/xeipuuv/gojsonschema"
)

// files holds the schemas: the envelope and one file per event type in this
// folder, external payloads (formats of outside systems, not envelopes) in
// external/.
//
//go:embed *.schema.json external
var files embed.FS

// Sentinel errors; callers branch on them with errors.Is. The bus sends a
// consumed message that fails with either of them to the dead-letter topic.
var (
	// ErrInvalid: the document does not match its schema. The error's message
	// lists every violation with its JSON path.
	ErrInvalid = errors.New("does not match its schema")
	// ErrUnknownType: there is no schema for the event type or payload name.
	ErrUnknownType = errors.New("no schema for this type")
)

const (
	draft07      = "http://json-schema.org/draft-07/schema#"
	suffix       = ".schema.json"
	envelopeName = "envelope"
	envelopeFile = envelopeName + suffix
	externalDir  = "external"
)

// eventTypePattern is the form of an event type, and so of the name of its
// schema file: <aggregate>.<event>, lower case, words joined by hyphens.
var eventTypePattern = regexp.MustCompile(`^[a-z]+\.[a-z]+(-[a-z]+)*$`)

// payloadNamePattern is the form of an external payload's schema name, for
// example sap.material-document.
var payloadNamePattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*(\.[a-z0-9]+(-[a-z0-9]+)*)*$`)

// Registry holds every schema compiled once. It does not change after Load,
// so one Registry serves any number of goroutines.
//
// An event's schema (<type>.schema.json) validates the whole envelope: it
// refers to envelope.schema.json with allOf and adds the constraints of its
// type (type and schema.name equal the type, schema.version, subject, data).
type Registry struct {
	envelope *gojsonschema.Schema
	events   map[string]*gojsonschema.Schema // by event type
	payloads map[string]*gojsonschema.Schema // by payload name, from external/
}

// Load compiles every embedded schema. It fails, naming each broken file and
// why, when a schema is not valid JSON, does not pin draft-07, has no
// description, refers to anything outside the embedded files, or does not
// compile.
func Load() (*Registry, error) {
	return load(files)
}

func load(fsys fs.FS) (*Registry, error) {
	r, errs := compile(fsys)
	if len(errs) > 0 {
		return nil, fmt.Errorf("schemas: %w", errors.Join(errs...))
	}
	return r, nil
}

// Types returns the event types that have a schema, sorted.
func (r *Registry) Types() []string {
	types := make([]string, 0, len(r.events))
	for t := range r.events {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}

// Validate checks an envelope (JSON) against the schema of eventType: the
// envelope's own fields, its type and schema.name (both must be eventType),
// and its data. The error wraps ErrUnknownType when eventType has no schema,
// and ErrInvalid, listing every violation, when the envelope does not match.
func (r *Registry) Validate(eventType string, envelope []byte) error {
	schema, ok := r.events[eventType]
	if !ok {
		return fmt.Errorf("%q: %w", eventType, ErrUnknownType)
	}
	doc, err := decode(envelope)
	if err != nil {
		return invalid(eventType, "(root): "+err.Error())
	}
	return validateEvent(eventType, schema, doc)
}

// ValidateMessage checks an envelope (JSON) against the schema of the type it
// names in its type field, as a consumer does with a message it received.
// Errors as for Validate; an envelope without a type is invalid.
func (r *Registry) ValidateMessage(envelope []byte) error {
	doc, err := decode(envelope)
	if err != nil {
		return invalid(envelopeName, "(root): "+err.Error())
	}
	eventType, ok := typeOf(doc)
	if !ok {
		// The envelope schema reports what is wrong with the type field.
		return validate(envelopeName, r.envelope, doc)
	}
	schema, ok := r.events[eventType]
	if !ok {
		return fmt.Errorf("%q: %w", eventType, ErrUnknownType)
	}
	return validateEvent(eventType, schema, doc)
}

// ValidatePayload checks a document that is not an envelope, such as an
// outside system's payload, against external/<schemaName>.schema.json.
// Errors as for Validate.
func (r *Registry) ValidatePayload(schemaName string, doc []byte) error {
	schema, ok := r.payloads[schemaName]
	if !ok {
		return fmt.Errorf("payload %q: %w", schemaName, ErrUnknownType)
	}
	v, err := decode(doc)
	if err != nil {
		return invalid(schemaName, "(root): "+err.Error())
	}
	return validate(schemaName, schema, v)
}

// validateEnvelope checks only the envelope, whatever the type; for examples
// of the envelope schema itself.
func (r *Registry) validateEnvelope(envelope []byte) error {
	doc, err := decode(envelope)
	if err != nil {
		return invalid(envelopeName, "(root): "+err.Error())
	}
	return validate(envelopeName, r.envelope, doc)
}

// validateEvent refuses an envelope of another type before running the
// schema, whose violations would then say little but "wrong type".
func validateEvent(eventType string, schema *gojsonschema.Schema, doc any) error {
	if got, ok := typeOf(doc); ok && got != eventType {
		return invalid(eventType, fmt.Sprintf("type: is %q, not %q", got, eventType))
	}
	return validate(eventType, schema, doc)
}

func validate(name string, schema *gojsonschema.Schema, doc any) error {
	result, err := schema.Validate(gojsonschema.NewRawLoader(doc))
	if err != nil {
		return fmt.Errorf("%s: validate: %w", name, err)
	}
	if result.Valid() {
		return nil
	}
	var violations []string
	for _, e := range result.Errors() {
		// allOf adds a summary beside the errors of its branches, which
		// are reported themselves.
		if e.Type() == "number_all_of" {
			continue
		}
		violations = append(violations, e.Field()+": "+e.Description())
	}
	// gojsonschema's order follows map iteration; sort for a stable message.
	slices.Sort(violations)
	return invalid(name, slices.Compact(violations)...)
}

// typeOf returns the envelope's type field if it is a string.
func typeOf(doc any) (string, bool) {
	m, ok := doc.(map[string]any)
	if !ok {
		return "", false
	}
	t, ok := m["type"].(string)
	return t, ok
}

// decode reads exactly one JSON value, keeping numbers as json.Number as
// gojsonschema expects, so that a message is parsed once per validation.
func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not valid JSON: more data after the value")
	}
	return doc, nil
}

// violationError is ErrInvalid with the violations found.
type violationError struct {
	schema     string
	violations []string
}

func invalid(schema string, violations ...string) error {
	return &violationError{schema: schema, violations: violations}
}

func (e *violationError) Error() string {
	return e.schema + ": " + ErrInvalid.Error() + ": " + strings.Join(e.violations, "; ")
}

func (e *violationError) Unwrap() error { return ErrInvalid }

// compile compiles every schema of fsys: envelope.schema.json and the event
// schemas at its root, payload schemas in external/. It returns what compiled
// and one error per broken file.
func compile(fsys fs.FS) (*Registry, []error) {
	r := &Registry{
		events:   map[string]*gojsonschema.Schema{},
		payloads: map[string]*gojsonschema.Schema{},
	}
	// gojsonschema carries the draft-07 meta-schema: nothing is fetched.
	meta, err := gojsonschema.NewSchema(gojsonschema.NewReferenceLoader(draft07))
	if err != nil {
		return r, []error{fmt.Errorf("draft-07 meta-schema: %w", err)}
	}
	var errs []error
	rootFiles, err := fs.Glob(fsys, "*"+suffix)
	if err != nil {
		return r, []error{fmt.Errorf("list schemas: %w", err)}
	}
	externalFiles, err := fs.Glob(fsys, externalDir+"/*"+suffix)
	if err != nil {
		return r, []error{fmt.Errorf("list schemas: %w", err)}
	}
	if !slices.Contains(rootFiles, envelopeFile) {
		errs = append(errs, fmt.Errorf("%s: missing", envelopeFile))
	}
	for _, file := range rootFiles {
		name := schemaName(file)
		if name != envelopeName && !eventTypePattern.MatchString(name) {
			errs = append(errs, fmt.Errorf("%s: %q is not an event type (<aggregate>.<event>, lower case)", file, name))
			continue
		}
		s, err := compileFile(fsys, meta, file)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", file, err))
			continue
		}
		if name == envelopeName {
			r.envelope = s
		} else {
			r.events[name] = s
		}
	}
	for _, file := range externalFiles {
		name := schemaName(file)
		switch {
		case !payloadNamePattern.MatchString(name):
			errs = append(errs, fmt.Errorf("%s: %q is not a payload name (lower case, dots and hyphens)", file, name))
			continue
		case name == envelopeName || slices.Contains(rootFiles, name+suffix):
			// One name, one schema: examples live in testdata/<name>.
			errs = append(errs, fmt.Errorf("%s: %q is also the name of an event schema", file, name))
			continue
		}
		s, err := compileFile(fsys, meta, file)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", file, err))
			continue
		}
		r.payloads[name] = s
	}
	return r, errs
}

func schemaName(file string) string {
	return strings.TrimSuffix(path.Base(file), suffix)
}

// compileFile checks what every schema file must have and compiles it. $refs
// resolve relative to the file's $id (an event schema refers to
// envelope.schema.json), to files inside fsys, never over the network.
func compileFile(fsys fs.FS, meta *gojsonschema.Schema, file string) (*gojsonschema.Schema, error) {
	b, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, err
	}
	v, err := decode(b)
	if err != nil {
		return nil, err
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not a JSON object")
	}
	if got, _ := doc["$schema"].(string); got != draft07 {
		return nil, fmt.Errorf("$schema is %q, want %q (gojsonschema supports draft-07 at most)", got, draft07)
	}
	if d, _ := doc["description"].(string); strings.TrimSpace(d) == "" {
		return nil, errors.New("no description: say what the schema is for and which personal data it leaves out")
	}
	if id, _ := doc["$id"].(string); id != IDOf(file) {
		return nil, fmt.Errorf("$id is %q, want %q (a relative $ref resolves against it)", id, IDOf(file))
	}
	if err := checkRefs(doc); err != nil {
		return nil, err
	}
	// The loader's own meta-schema check would switch its reference
	// loading to the OS file system, so it is done here instead.
	if err := validate("", meta, doc); err != nil {
		violations, ok := violationsOf(err)
		if !ok {
			return nil, err
		}
		return nil, fmt.Errorf("not a draft-07 schema: %s", strings.Join(violations, "; "))
	}
	loader := gojsonschema.NewSchemaLoader()
	loader.Draft = gojsonschema.Draft7
	loader.AutoDetect = false
	s, err := loader.Compile(embeddedLoader{fsys: fsys, url: IDOf(file)})
	if err != nil {
		return nil, fmt.Errorf("does not compile: %w", err)
	}
	return s, nil
}

// checkRefs refuses a $ref with a scheme or host: gojsonschema would fetch it
// over HTTP.
func checkRefs(node any) error {
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			if ref, ok := v.(string); ok && k == "$ref" {
				u, err := url.Parse(ref)
				if err != nil {
					return fmt.Errorf("$ref %q: %w", ref, err)
				}
				if u.Scheme != "" || u.Host != "" {
					return fmt.Errorf("$ref %q: refer to files next to the schema, not to %s", ref, u.Scheme+"://"+u.Host)
				}
			}
			if err := checkRefs(v); err != nil {
				return err
			}
		}
	case []any:
		for _, v := range n {
			if err := checkRefs(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// violationsOf returns the violations an ErrInvalid error lists.
func violationsOf(err error) ([]string, bool) {
	var v *violationError
	if !errors.As(err, &v) {
		return nil, false
	}
	return v.violations, true
}
