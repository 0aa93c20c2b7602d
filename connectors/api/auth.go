package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/vaxhub/vaxhub/core/domain"
)

// Staff roles.
const (
	RoleCentreStaff    = "centre-staff"
	RoleVaccineManager = "vaccine-manager"
	RoleReporting      = "reporting"
	RoleAdmin          = "admin"
)

// AllRoles lists every staff role.
var allRoles = []string{RoleCentreStaff, RoleVaccineManager, RoleReporting, RoleAdmin}

// StaffToken is a configured bearer token: only its SHA-256 hash is kept.
type StaffToken struct {
	Name   string   `json:"name"`
	SHA256 string   `json:"sha256"` // hex
	Roles  []string `json:"roles"`
}

// Validate checks a token entry.
func (t StaffToken) Validate() error {
	b, err := hex.DecodeString(t.SHA256)
	if err != nil || len(b) != sha256.Size {
		return fmt.Errorf("token %q: sha256 must be 64 hex digits", t.Name)
	}
	if len(t.Roles) == 0 {
		return fmt.Errorf("token %q: at least one role", t.Name)
	}
	for _, r := range t.Roles {
		if !slices.Contains(allRoles, r) {
			return fmt.Errorf("token %q: unknown role %q (known: %s)", t.Name, r, strings.Join(allRoles, ", "))
		}
	}
	return nil
}

// HashToken returns the hex SHA-256 of a token, as StaffToken.SHA256 wants it.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// DevToken returns a staff token with every role; for local runs and tests only.
func DevToken(token string) StaffToken {
	return StaffToken{Name: "dev", SHA256: HashToken(token), Roles: slices.Clone(allRoles)}
}

// principal is who makes a request: staff with roles, or a bearer that may
// be a resident's token (checked per resident).
type principal struct {
	staff  string
	roles  []string
	bearer string
}

func (p principal) has(role string) bool {
	return slices.Contains(p.roles, role) || slices.Contains(p.roles, RoleAdmin)
}

type principalKey struct{}

func (s *Server) authenticate(r *http.Request) principal {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return principal{}
	}
	sum := sha256.Sum256([]byte(token))
	for _, t := range s.staff {
		if subtle.ConstantTimeCompare(sum[:], t.hash) == 1 {
			return principal{staff: t.name, roles: t.roles, bearer: token}
		}
	}
	return principal{bearer: token}
}

func principalOf(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// requireRole lets the request through when the caller holds one of roles.
func (s *Server) requireRole(roles ...string) func(http.HandlerFunc) http.HandlerFunc {
	return func(next http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			p := principalOf(r.Context())
			if p.bearer == "" {
				s.writeError(w, r, fmt.Errorf("%w: send a staff bearer token", errUnauthenticated))
				return
			}
			for _, role := range roles {
				if p.has(role) {
					next(w, r)
					return
				}
			}
			if p.staff == "" {
				s.writeError(w, r, fmt.Errorf("%w: the bearer token is not a staff token", errUnauthenticated))
				return
			}
			s.writeError(w, r, fmt.Errorf("needs role %s: %w", strings.Join(roles, " or "), domain.ErrForbidden))
		}
	}
}

// residentGate is what can be decided about a resident route before any
// look-up, the same whatever the reference or ID: no token is 401, a staff
// token without centre-staff 403. It passes centre-staff and any other
// bearer (a resident's token, to be checked against the resident).
func residentGate(p principal) error {
	switch {
	case p.has(RoleCentreStaff):
		return nil
	case p.bearer == "":
		return fmt.Errorf("%w: send the resident's access token as a bearer token", errUnauthenticated)
	case p.staff != "":
		return fmt.Errorf("needs role %s: %w", RoleCentreStaff, domain.ErrForbidden)
	}
	return nil
}

// authorizeResident allows staff with a resident-facing role, or the bearer
// of the resident's (or their proxy's) access token. Any other token gets
// errHidden, whether the resident exists or not: one look-up of the token
// hashes either way, then the same answer.
func (s *Server) authorizeResident(r *http.Request, residentID string) error {
	p := principalOf(r.Context())
	if err := residentGate(p); err != nil || p.has(RoleCentreStaff) {
		return err
	}
	return hide(s.app.AuthorizeResident(r.Context(), residentID, p.bearer))
}

// hide turns "no such resident", "not yours" and "malformed" into errHidden;
// other errors (the database's) stay as they are.
func hide(err error) error {
	if errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrForbidden) || errors.Is(err, domain.ErrInvalid) {
		return errHidden
	}
	return err
}

// absentResident is a well-formed resident ID that is never issued: a
// reference that does not exist is checked against it, so that it costs the
// same token look-up as a reference that exists.
const absentResident = "00000000-0000-7000-8000-000000000000"

// StaffName is the name of the staff token that made r (empty for residents
// and anonymous callers), for handlers mounted behind the API that audit
// who acted.
func StaffName(r *http.Request) string { return principalOf(r.Context()).staff }

// StaffAuthorizer returns a check for handlers outside the API (the
// operations dashboard): true when the request's bearer token is one of
// tokens and holds one of roles, or admin.
func StaffAuthorizer(tokens []StaffToken, roles ...string) func(*http.Request) bool {
	s := &Server{}
	for _, t := range tokens {
		h, err := hex.DecodeString(t.SHA256)
		if err == nil {
			s.staff = append(s.staff, staffToken{name: t.Name, hash: h, roles: t.Roles})
		}
	}
	return func(r *http.Request) bool {
		p := s.authenticate(r)
		for _, role := range roles {
			if p.has(role) {
				return true
			}
		}
		return p.has(RoleAdmin)
	}
}
