package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vaxhub/vaxhub/core/domain"
)

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Field names the request field that is wrong (400).
	Field string `json:"field,omitempty"`
	// Code is a stable machine-readable reason for a refusal (409, 422).
	Code          string `json:"code,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
	// PositionURL and Ticket: a booking request that waits in the waiting
	// room (429) gets its ticket and where to read its position.
	PositionURL string `json:"position_url,omitempty"`
	Ticket      string `json:"ticket,omitempty"`
	// Parts: /readyz (503) reports the state of every part it checked.
	Parts []ReadyPart `json:"parts,omitempty"`
}

var (
	errUnauthenticated = errors.New("authentication required")
	errBodyTooLarge    = errors.New("request body too large")
	// errHidden is the one answer a resident token gets for a reference or
	// resident ID it may not see, whether it exists, does not exist or is
	// malformed: nothing tells the three apart.
	errHidden = errors.New("hidden")
)

// badRequest is a malformed request (not a domain rule).
type badRequest struct {
	field, detail string
}

func (e *badRequest) Error() string { return e.field + ": " + e.detail }

// problemFor maps an error to its problem document: the one place where
// errors become HTTP statuses.
func problemFor(err error) Problem {
	var fe *domain.FieldError
	var br *badRequest
	var ref *domain.Refusal
	var rl *errRateLimited
	switch {
	case errors.Is(err, errHidden):
		return Problem{Type: "/problems/not-found", Title: "Not found", Status: http.StatusNotFound,
			Detail: "nothing with this reference or ID is visible to this access token"}
	case errors.As(err, &rl):
		return Problem{Type: "/problems/rate-limited", Title: "Too many requests", Status: http.StatusTooManyRequests, Detail: rl.Error()}
	case errors.Is(err, ErrTicketRefused):
		return Problem{Type: "/problems/waiting-room-ticket", Title: "Waiting-room ticket refused", Status: http.StatusForbidden, Detail: err.Error()}
	case errors.As(err, &br):
		return Problem{Type: "/problems/bad-request", Title: "Bad request", Status: http.StatusBadRequest, Detail: br.Error(), Field: br.field}
	case errors.Is(err, errBodyTooLarge):
		return Problem{Type: "/problems/too-large", Title: "Request body too large", Status: http.StatusRequestEntityTooLarge, Detail: err.Error()}
	case errors.As(err, &fe):
		return Problem{Type: "/problems/invalid-field", Title: "Invalid field", Status: http.StatusBadRequest, Detail: fe.Error(), Field: fe.Field}
	case errors.Is(err, domain.ErrInvalid):
		return Problem{Type: "/problems/invalid", Title: "Invalid request", Status: http.StatusBadRequest, Detail: err.Error()}
	case errors.Is(err, errUnauthenticated):
		return Problem{Type: "/problems/unauthenticated", Title: "Authentication required", Status: http.StatusUnauthorized, Detail: err.Error()}
	case errors.Is(err, domain.ErrForbidden):
		return Problem{Type: "/problems/forbidden", Title: "Forbidden", Status: http.StatusForbidden, Detail: err.Error()}
	case errors.Is(err, domain.ErrLocked):
		detail := "too many failed identifications: this booking reference is locked, even with the right date of birth; try again later or call the hotline"
		if until := domain.LockedUntil(err); !until.IsZero() {
			detail = fmt.Sprintf("too many failed identifications: this booking reference is locked until %s, even with the right date of birth; the hotline can help",
				until.UTC().Format(time.RFC3339))
		}
		return Problem{Type: "/problems/locked", Title: "Too many failed attempts", Status: http.StatusTooManyRequests, Detail: detail, Code: "locked"}
	case errors.Is(err, domain.ErrNotFound):
		return Problem{Type: "/problems/not-found", Title: "Not found", Status: http.StatusNotFound, Detail: err.Error()}
	case errors.As(err, &ref):
		status := http.StatusConflict
		if errors.Is(ref, domain.ErrNotEntitled) || errors.Is(ref, domain.ErrProductNotAllowed) {
			status = http.StatusUnprocessableEntity
		}
		return Problem{Type: "/problems/" + ref.Code, Title: ref.Kind.Error(), Status: status, Detail: ref.Message, Code: ref.Code}
	case errors.Is(err, domain.ErrNoCapacity), errors.Is(err, domain.ErrNoStock), errors.Is(err, domain.ErrAlreadyBooked), errors.Is(err, domain.ErrConflict):
		return Problem{Type: "/problems/conflict", Title: "Conflict", Status: http.StatusConflict, Detail: err.Error()}
	}
	return Problem{Type: "/problems/internal", Title: "Internal error", Status: http.StatusInternalServerError, Detail: "the request could not be completed; it has been logged"}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	p.CorrelationID = correlationFrom(r)
	if until := domain.LockedUntil(err); !until.IsZero() {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(until.Sub(s.app.Now()).Seconds())))))
	}
	if rl := (*errRateLimited)(nil); errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(rl.retryAfter.Seconds()))))
	}
	switch {
	case p.Status >= 500 && errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away mid-request: its doing, not the hub's.
		s.log.WarnContext(r.Context(), "request abandoned by the client", "err", err, "correlation_id", p.CorrelationID, "route", r.Pattern)
	case p.Status >= 500:
		s.log.ErrorContext(r.Context(), "request failed", "err", err, "correlation_id", p.CorrelationID, "route", r.Pattern)
	}
	writeProblem(w, p)
}

func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body strictly: unknown fields, trailing data, wrong
// types and oversized bodies are 400/413 naming the field.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &badRequest{"Content-Type", "must be application/json"}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &badRequest{"body", "has data after the JSON object"}
	}
	return nil
}

func decodeError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	var fe *domain.FieldError
	switch {
	case errors.As(err, &mbe):
		return fmt.Errorf("%w: at most %d bytes", errBodyTooLarge, mbe.Limit)
	case errors.As(err, &fe):
		return err
	case errors.Is(err, domain.ErrInvalid):
		return &badRequest{"body", err.Error()}
	case errors.As(err, &se):
		return &badRequest{"body", fmt.Sprintf("malformed JSON at byte %d", se.Offset)}
	case errors.As(err, &te):
		return &badRequest{te.Field, fmt.Sprintf("must be %s, not %s", te.Type, te.Value)}
	case errors.Is(err, io.EOF):
		return &badRequest{"body", "is empty"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &badRequest{"body", "malformed JSON (ends early)"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return &badRequest{strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field"}
	}
	return &badRequest{"body", err.Error()}
}
