package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ReadyPart is the state of one part the hub needs in order to serve (the
// database, the broker, the outbox relay). GET /readyz answers 200 when every
// part is ready and 503 naming the parts that are not.
type ReadyPart struct {
	// Name names the part: "database", "broker", "relay".
	Name  string `json:"name"`
	Ready bool   `json:"ready"`
	// Reason says in a few public words why the part is not ready: /readyz
	// is unauthenticated, so no addresses, user names or error texts.
	Reason string `json:"reason,omitempty"`
	// State is what the part reports of itself (lag, leased shards, ...).
	State map[string]any `json:"state,omitempty"`
	// Err is the full cause; it is logged, never sent.
	Err error `json:"-"`
}

// readyBody is the 200 answer of /readyz.
type readyBody struct {
	Status string      `json:"status"`
	Parts  []ReadyPart `json:"parts"`
}

// readyTimeout bounds one readiness check: a part that does not answer
// within it is not ready.
const readyTimeout = 2 * time.Second

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	parts := s.cfg.Ready(ctx)
	if parts == nil {
		parts = []ReadyPart{}
	}
	var down, reasons []string
	for _, p := range parts {
		if !p.Ready {
			down = append(down, p.Name)
			reasons = append(reasons, p.Name+": "+p.Reason)
		}
	}
	s.logReadiness(ctx, parts, down)
	if len(down) > 0 {
		writeProblem(w, Problem{Type: "/problems/not-ready", Title: "Not ready", Status: http.StatusServiceUnavailable,
			Detail: "not ready: " + strings.Join(reasons, "; "), Parts: parts})
		return
	}
	writeJSON(w, http.StatusOK, readyBody{Status: "ready", Parts: parts})
}

// logReadiness logs the full causes when the set of parts that are not ready
// changes, so that a load balancer's polling does not flood the log.
func (s *Server) logReadiness(ctx context.Context, parts []ReadyPart, down []string) {
	s.readyMu.Lock()
	changed := !slices.Equal(s.readyDown, down)
	s.readyDown = down
	s.readyMu.Unlock()
	if !changed {
		return
	}
	if len(down) == 0 {
		s.log.InfoContext(ctx, "ready")
		return
	}
	for _, p := range parts {
		if !p.Ready {
			s.log.WarnContext(ctx, "not ready", "part", p.Name, "reason", p.Reason, "err", p.Err)
		}
	}
}
