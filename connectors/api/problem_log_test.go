package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
)

// TestAClientThatGoesAwayIsLoggedAsWarningNotError: a request whose client
// went away fails with context.Canceled; that is the client's doing and is
// logged at WARN, while the hub's own failures stay ERROR.
func TestAClientThatGoesAwayIsLoggedAsWarningNotError(t *testing.T) {
	for _, tc := range []struct {
		name       string
		clientGone bool
		err        error
		want       string
	}{
		{"client gone mid-request", true, fmt.Errorf("load appointment: %w", context.Canceled), "WARN"},
		{"the hub failed", false, errors.New("database down"), "ERROR"},
		{"canceled inside the hub, client still there", false, context.Canceled, "ERROR"},
		{"the hub failed after the client left", true, errors.New("database down"), "ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			s := &Server{log: slog.New(slog.NewJSONHandler(&buf, nil))}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.clientGone {
				cancel()
			}
			s.writeError(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/appointments/x", nil).WithContext(ctx), tc.err)
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("%v: %q", err, buf.String())
			}
			if rec["level"] != tc.want {
				t.Errorf("logged at %v, want %s: %s", rec["level"], tc.want, buf.String())
			}
		})
	}
}
