package register

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/schemas"
)

// StaffRole is the staff role that may verify a resident by hand
// (connectors/api.RoleCentreStaff; admin holds every role).
const StaffRole = "centre-staff"

// VerificationPath is where connectors/api mounts StaffHandler.
const VerificationPath = "POST /api/v1/residents/{id}/verification"

// StaffOf tells who the caller is: the staff member's name when the request
// carries a staff token with StaffRole (or admin), ok false otherwise.
// connectors/api supplies it from its authentication.
type StaffOf func(r *http.Request) (staffName string, ok bool)

// verificationRequest is the body of POST .../verification.
type verificationRequest struct {
	// Note says which identity document staff checked ("Personalausweis
	// geprüft"); never the document's number.
	Note string `json:"note"`
}

// StaffHandler serves POST /api/v1/residents/{id}/verification: staff with
// the right role verify a resident by hand after checking an ID card. The
// change is audited in the core (who, when, note) and emits
// resident.verified with method staff. Answers: 200 with the verification;
// 400 bad body or missing note; 401/403 without a staff identity; 404
// unknown resident; 422 a refusal (address outside the state).
func StaffHandler(a *app.App, staffOf StaffOf, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			problem(w, r, http.StatusMethodNotAllowed, "method-not-allowed", "use POST")
			return
		}
		staff, ok := staffOf(r)
		if !ok || staff == "" {
			problem(w, r, http.StatusForbidden, "forbidden", "needs a staff token with role "+StaffRole)
			return
		}
		var body verificationRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			problem(w, r, http.StatusBadRequest, "bad-request", "body must be {\"note\": \"...\"}: "+err.Error())
			return
		}
		ctx := r.Context()
		if corr := r.Header.Get("X-Correlation-ID"); schemas.ValidCorrelationID(corr) {
			ctx = app.WithCorrelationID(ctx, corr) // else the event gets a fresh one
		}
		v, err := a.VerifyByHand(ctx, r.PathValue("id"), staff, body.Note)
		if err != nil {
			var fe *domain.FieldError
			var ref *domain.Refusal
			switch {
			case errors.As(err, &fe):
				problem(w, r, http.StatusBadRequest, "invalid-field", fe.Error())
			case errors.Is(err, domain.ErrNotFound):
				problem(w, r, http.StatusNotFound, "not-found", "no such resident")
			case errors.As(err, &ref):
				problem(w, r, http.StatusUnprocessableEntity, ref.Code, ref.Message)
			default:
				log.ErrorContext(ctx, "verification by hand failed", "err", err)
				problem(w, r, http.StatusInternalServerError, "internal", "the request could not be completed; it has been logged")
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	})
}

func problem(w http.ResponseWriter, _ *http.Request, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "/problems/" + code, "title": http.StatusText(status),
		"status": status, "detail": detail, "code": code})
}
