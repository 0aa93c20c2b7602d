// Package component is the contract between the hub's supervisor
// (cmd/vaxhub) and every part it starts: a Spec that describes each
// configuration field once, and a Start function that gets what it needs in
// Deps. It holds types only and must never start anything itself.
package component

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/schemas"
)

// Type is the type of a field's value.
type Type string

const (
	String   Type = "string"
	URL      Type = "url"
	Address  Type = "host:port"
	Int      Type = "int"
	Duration Type = "duration"
	List     Type = "list" // comma-separated
)

// Field is one configuration field: its key in the YAML file (under the
// component's name), its environment variable, its default and its doc.
type Field struct {
	Name string
	Env  string
	Type Type
	// Default applies outside `vaxhub run` (and in it unless RunDefault is set).
	Default string
	// RunDefault is the default under `vaxhub run`, where the simulators
	// stand in for the outside systems (e.g. their user "sim").
	RunDefault string
	// Required: `vaxhub hub` refuses to start the component without it.
	Required bool
	// Secret values are never printed.
	Secret bool
	Doc    string
}

// Spec describes a component: its name (the YAML section and the bus
// user), what switches it on, what it reads from the bus, its fields.
type Spec struct {
	Name string
	Doc  string
	// Switch names the field whose value turns the component on: empty or
	// "off" leaves it off. "" means the component is always on.
	Switch string
	// Simulator names the simulator that `vaxhub run` starts in its place:
	// the Switch field then defaults to the simulator's URL.
	Simulator string
	// Bus is what the component's own Kafka user may consume; nil: it does
	// not consume.
	Bus    *BusAccess
	Fields []Field
}

// BusAccess is a consumer's part of the bus: the topics it reads (AllTopics:
// every event topic) and its consumer groups. Every consumer may also write
// its dead letters.
type BusAccess struct {
	Topics    []string
	AllTopics bool
	Groups    []string
}

// Field returns the field called name.
func (s Spec) Field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Values are a component's effective field values by field name.
type Values map[string]string

// String returns the value of name.
func (v Values) String(name string) string { return v[name] }

// Int returns the value of name as an int (0 when empty).
func (v Values) Int(name string) (int, error) {
	if v[name] == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v[name])
	if err != nil {
		return 0, fmt.Errorf("%s: want a number, got %q", name, v[name])
	}
	return n, nil
}

// Duration returns the value of name as a duration (0 when empty).
func (v Values) Duration(name string) (time.Duration, error) {
	if v[name] == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v[name])
	if err != nil {
		return 0, fmt.Errorf("%s: want a duration such as 30s, got %q", name, v[name])
	}
	return d, nil
}

// List returns the value of name split at commas, blanks dropped.
func (v Values) List(name string) []string {
	var out []string
	for _, s := range strings.Split(v[name], ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Deps is what the supervisor gives a component when it starts it.
type Deps struct {
	Config Values
	// Run is true under `vaxhub run` (a laptop or a test), false under
	// `vaxhub hub`.
	Run bool

	App     *app.App
	Mobile  *app.Mobile // the mobile-campaign use cases
	Pool    *pgxpool.Pool
	Schemas *schemas.Registry

	// Consumer is the template of the component's consumers: Kafka as its
	// own user, validator, metrics, logger, shutdown timeout. Zero when
	// the Spec has no Bus.
	Consumer bus.ConsumerConfig
	// Publisher returns a publisher as the component's own user (its dead
	// letters); the supervisor closes it after the component stopped.
	Publisher func() (bus.Publisher, error)
	// Topics are the event topics (vaxhub.<aggregate>.v1).
	Topics []string

	// Handle serves h on path of the hub's HTTP address: a path under
	// /api/v1/ is behind the API's staff authorisation, others (webhooks)
	// are served as they are.
	Handle func(path string, h http.Handler)
	// StaffName names the staff member of a request the API authorised.
	StaffName func(*http.Request) string
	// Key derives a key of the component's own from the hub's data key,
	// the same on every replica and after every restart.
	Key func(label string) []byte

	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Failed reports that the component stopped working after Start
	// returned; the supervisor logs it and stops the hub. It never
	// restarts a component.
	Failed func(error)
}

// Start starts a component. The work runs until stop is called (ctx only
// bounds the start itself and carries its values); stop returns once the
// work has ended or its ctx's deadline passed.
type Start func(ctx context.Context, d Deps) (stop func(context.Context) error, err error)

// Component is one entry of the hub's component list.
type Component struct {
	Spec  Spec
	Start Start
}

// Background runs fn until stop is called; an error fn returns before that
// is reported to failed. stop cancels fn's context and waits for it (or for
// its own ctx), then runs closers.
func Background(ctx context.Context, name string, failed func(error), fn func(context.Context) error, closers ...func()) (stop func(context.Context) error) {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() {
		err := fn(runCtx)
		if runCtx.Err() == nil && failed != nil {
			if err == nil {
				err = fmt.Errorf("%s: stopped on its own", name)
			}
			failed(fmt.Errorf("%s: %w", name, err))
		}
		done <- err
	}()
	return func(ctx context.Context) error {
		cancel()
		var err error
		select {
		case err = <-done:
			done <- err // a second stop sees it too
		case <-ctx.Done():
			err = fmt.Errorf("%s: not stopped within the deadline: %w", name, ctx.Err())
		}
		for _, c := range closers {
			c()
		}
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		return err
	}
}

// StopFunc adapts a stop that waits without a deadline to the contract's
// stop: it returns when s has returned or ctx ends, whichever is first.
func StopFunc(s func()) func(context.Context) error {
	done := make(chan struct{})
	var once sync.Once
	return func(ctx context.Context) error {
		once.Do(func() { go func() { s(); close(done) }() })
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("not stopped within the deadline: %w", ctx.Err())
		}
	}
}
