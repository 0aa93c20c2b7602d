package bus

import "errors"

// ErrPermanent marks a handler error that retrying cannot fix (a 4xx from an
// outside system, an event the domain rejects). The message goes to the
// dead-letter topic at once. Test with errors.Is(err, ErrPermanent).
var ErrPermanent = errors.New("permanent failure")

// ErrInvalid marks a message that failed schema validation.
var ErrInvalid = errors.New("invalid message")

type permanentError struct{ err error }

func (e permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e permanentError) Unwrap() []error {
	return []error{e.err, ErrPermanent}
}

// Permanent wraps err so that the consumer dead-letters the message instead of
// retrying it. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

// IsPermanent reports whether err was marked with Permanent (or is ErrPermanent).
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }
