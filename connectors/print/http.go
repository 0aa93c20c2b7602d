package print

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/connectors/print/letter"
	"github.com/vaxhub/vaxhub/core/domain"
)

// WebhookHandler receives the service's status webhooks (mount it at, for
// example, /hooks/pingen). With PingenConfig.WebhookSecret set, a call whose
// Signature header is not the HMAC-SHA256 of its body is refused. An unknown
// letter is answered 404 so that the service tries again later (the webhook
// may overtake the commit of the submission).
func (c *Connector) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if key := c.cfg.Pingen.WebhookSecret; key != "" {
			m := hmac.New(sha256.New, []byte(key))
			m.Write(body)
			got, _ := hex.DecodeString(r.Header.Get("Signature"))
			if !hmac.Equal(got, m.Sum(nil)) {
				http.Error(w, "bad signature", http.StatusUnauthorized)
				return
			}
		}
		var ev struct {
			Data struct {
				Type       string `json:"type"`
				Attributes struct {
					Status string `json:"status"`
					Reason string `json:"reason"`
				} `json:"attributes"`
				Relationships struct {
					Letter struct {
						Data struct {
							ID string `json:"id"`
						} `json:"data"`
					} `json:"letter"`
				} `json:"relationships"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil || ev.Data.Relationships.Letter.Data.ID == "" {
			http.Error(w, "not a letter webhook", http.StatusBadRequest)
			return
		}
		status := ev.Data.Attributes.Status
		if status == "" {
			switch ev.Data.Type {
			case "webhook_sent":
				status = StatusSent
			case "webhook_undeliverable":
				status = StatusUndeliverable
			case "webhook_issues":
				status = StatusUnprintable
			}
		}
		known, err := c.applyStatus(r.Context(), ev.Data.Relationships.Letter.Data.ID, status, ev.Data.Attributes.Reason)
		switch {
		case err != nil:
			c.log.Warn("webhook not recorded", "err", err)
			http.Error(w, "try again", http.StatusServiceUnavailable)
		case !known:
			http.Error(w, "unknown letter", http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
}

// LetterView is a letter as staff see it. It has no name or address.
type LetterView struct {
	ID            string     `json:"id"`
	Kind          string     `json:"kind"`
	Reference     string     `json:"reference"`
	ResidentID    string     `json:"resident_id"`
	Trigger       string     `json:"trigger"`
	RequestedBy   string     `json:"requested_by,omitempty"`
	Status        string     `json:"status"`
	Reason        string     `json:"reason,omitempty"`
	ContactReview bool       `json:"contact_review"`
	Pages         int        `json:"pages,omitempty"`
	PingenID      string     `json:"pingen_letter_id,omitempty"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	SubmittedAt   *time.Time `json:"submitted_at,omitempty"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

const viewColumns = `id::text, kind, reference, resident_id::text, trigger, COALESCE(requested_by, ''), status, COALESCE(reason, ''),
	contact_review, COALESCE(pages, 0), COALESCE(pingen_letter_id, ''), attempts, COALESCE(last_error, ''), created_at, submitted_at, updated_at`

func scanView(row pgx.CollectableRow) (LetterView, error) {
	var v LetterView
	err := row.Scan(&v.ID, &v.Kind, &v.Reference, &v.ResidentID, &v.Trigger, &v.RequestedBy, &v.Status, &v.Reason,
		&v.ContactReview, &v.Pages, &v.PingenID, &v.Attempts, &v.LastError, &v.CreatedAt, &v.SubmittedAt, &v.UpdatedAt)
	return v, err
}

// Letters lists letters, newest first: those of a booking reference, or with
// problems only (unprintable, undeliverable, failed), or all.
func (c *Connector) Letters(ctx context.Context, reference string, problems bool, limit int) ([]LetterView, error) {
	q := `SELECT ` + viewColumns + ` FROM letters WHERE ($1 = '' OR reference = $1)
		AND (NOT $2 OR status IN ('unprintable', 'undeliverable', 'failed')) ORDER BY created_at DESC, id LIMIT $3`
	rows, err := c.cfg.Pool.Query(ctx, q, reference, problems, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanView)
}

// Letter returns one letter by ID.
func (c *Connector) Letter(ctx context.Context, id string) (*LetterView, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("letter %q: %w", id, domain.ErrNotFound)
	}
	rows, err := c.cfg.Pool.Query(ctx, `SELECT `+viewColumns+` FROM letters WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	v, err := pgx.CollectExactlyOneRow(rows, scanView)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("letter %s: %w", id, domain.ErrNotFound)
	}
	return &v, err
}

// LetterRequest is the body of POST /api/v1/letters.
type LetterRequest struct {
	Kind      letter.Kind `json:"kind"`
	Reference string      `json:"reference"`
}

// Request queues a letter that a member of staff asked for, about the
// booking ref. key makes a repeated request (same key) return the first
// letter instead of sending another; empty means a fresh letter.
func (c *Connector) Request(ctx context.Context, in LetterRequest, staff, key string) (*LetterView, bool, error) {
	switch {
	case slices.Contains(letter.Requestable, in.Kind):
	case in.Kind == letter.Changed:
		return nil, false, domain.Invalid("kind", "a changed-appointment letter is sent when an appointment moves; ask for a confirmation instead")
	default:
		return nil, false, domain.Invalid("kind", "must be one of %s", kindList(letter.Requestable))
	}
	ap, err := c.cfg.App.Appointment(ctx, in.Reference)
	if err != nil {
		return nil, false, err
	}
	if in.Kind == letter.Cancellation && ap.Status != domain.SeriesCancelled {
		return nil, false, domain.Invalid("kind", "the appointment is %s, not cancelled", ap.Status)
	}
	if in.Kind != letter.Cancellation && ap.Status != domain.SeriesBooked {
		return nil, false, domain.Invalid("kind", "the appointment is %s; there is nothing to confirm or remind of", ap.Status)
	}
	if key == "" {
		key = uuid.NewString()
	}
	key = "staff:" + key
	created := false
	err = pgx.BeginFunc(ctx, c.cfg.Pool, func(tx pgx.Tx) error {
		var err error
		created, err = c.insertLetter(ctx, tx, in.Kind, ap.Reference, ap.ResidentID, key, "staff", "", staff, details{Reason: "staff"})
		return err
	})
	if err != nil {
		return nil, false, err
	}
	rows, err := c.cfg.Pool.Query(ctx, `SELECT `+viewColumns+` FROM letters WHERE idempotency_key = $1`, key)
	if err != nil {
		return nil, false, err
	}
	v, err := pgx.CollectExactlyOneRow(rows, scanView)
	return &v, created, err
}

// StaffHandler serves the staff endpoints (mount it at /api/v1/letters and
// /api/v1/letters/ behind the API's staff authentication):
//
//	POST /api/v1/letters              {"kind":"confirmation","reference":"…"}: 202 and the queued letter;
//	                                  an Idempotency-Key header makes a repeat return the same letter (200)
//	GET  /api/v1/letters?reference=R  the letters of a booking; ?problems=true: those staff must look at
//	GET  /api/v1/letters/{id}         one letter with its status and reason
//
// authorize, if not nil, is asked first and returns the member of staff's
// name, or an error (answered 403).
func (c *Connector) StaffHandler(authorize func(*http.Request) (staff string, err error)) http.Handler {
	mux := http.NewServeMux()
	auth := func(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			staff := ""
			if authorize != nil {
				s, err := authorize(r)
				if err != nil {
					writeProblem(w, http.StatusForbidden, "Forbidden", err.Error())
					return
				}
				staff = s
			}
			h(w, r, staff)
		}
	}
	mux.HandleFunc("POST /api/v1/letters", auth(func(w http.ResponseWriter, r *http.Request, staff string) {
		var in LetterRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			writeProblem(w, http.StatusBadRequest, "Bad request", "the body must be {\"kind\":…,\"reference\":…}: "+err.Error())
			return
		}
		v, created, err := c.Request(r.Context(), in, staff, r.Header.Get("Idempotency-Key"))
		if err != nil {
			writeError(w, err)
			return
		}
		status := http.StatusAccepted
		if !created {
			status = http.StatusOK
		}
		w.Header().Set("Location", "/api/v1/letters/"+v.ID)
		writeJSON(w, status, v)
	}))
	mux.HandleFunc("GET /api/v1/letters", auth(func(w http.ResponseWriter, r *http.Request, _ string) {
		q := r.URL.Query()
		vs, err := c.Letters(r.Context(), domain.NormalizeReference(q.Get("reference")), q.Get("problems") == "true", 500)
		if err != nil {
			writeError(w, err)
			return
		}
		if vs == nil {
			vs = []LetterView{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"letters": vs})
	}))
	mux.HandleFunc("GET /api/v1/letters/{id}", auth(func(w http.ResponseWriter, r *http.Request, _ string) {
		v, err := c.Letter(r.Context(), r.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}))
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeProblem writes an RFC 9457 problem body, as connectors/api does.
func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail})
}

func writeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, domain.ErrInvalid):
		writeProblem(w, http.StatusUnprocessableEntity, "Invalid request", err.Error())
	case errors.Is(err, domain.ErrNotFound):
		writeProblem(w, http.StatusNotFound, "Not found", err.Error())
	case errors.Is(err, domain.ErrForbidden):
		writeProblem(w, http.StatusForbidden, "Forbidden", err.Error())
	default:
		writeProblem(w, http.StatusInternalServerError, "Internal error", strings.SplitN(err.Error(), ":", 2)[0])
	}
}

// kindList is kinds as "a, b, c".
func kindList(kinds []letter.Kind) string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	return strings.Join(out, ", ")
}
