package domain

import (
	"errors"
	"fmt"
)

// Sentinel errors that callers branch on with errors.Is. Refusals wrap one of
// them so that an API can map them to a status code and a phone line can read
// the reason out.
var (
	ErrInvalid           = errors.New("invalid input")
	ErrNotFound          = errors.New("not found")
	ErrNotEntitled       = errors.New("not entitled")
	ErrProductNotAllowed = errors.New("product not allowed")
	ErrNoCapacity        = errors.New("no free place")
	ErrNoStock           = errors.New("no dose in stock")
	ErrAlreadyBooked     = errors.New("resident already holds an open appointment series")
	ErrConflict          = errors.New("state does not allow this")
	ErrForbidden         = errors.New("forbidden")
	// ErrLocked: too many failed identifications locked the reference or
	// the resident (issue 12); even the right date of birth is refused until
	// the lock ends. A *LockedError says until when.
	ErrLocked = errors.New("locked after too many failed attempts")
)

// FieldError names the input field that is wrong. It wraps ErrInvalid.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Invalid returns a FieldError for field.
func Invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Refusal is a business "no" with a reason a person may hear read out on the
// phone. Code is stable and machine-readable; Message is German, short and
// polite; Kind is the sentinel it wraps.
type Refusal struct {
	Kind    error
	Code    string
	Message string
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Message }

// Unwrap returns the sentinel the refusal belongs to.
func (r *Refusal) Unwrap() error { return r.Kind }

func refuse(kind error, code, msg string) *Refusal {
	return &Refusal{Kind: kind, Code: code, Message: msg}
}
