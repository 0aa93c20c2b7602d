package httpclient

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrBreakerOpen: the system's breaker is open (or half-open and busy),
	// so the call was refused without reaching the server. Transient: try
	// again later.
	ErrBreakerOpen = errors.New("circuit breaker open")

	// ErrPermanent: retrying cannot help (a 4xx other than 408 and 429, an
	// unencodable body, an oversized response). Dead-letter the message: a
	// connector's handler returns bus.Permanent(err) when
	// errors.Is(err, ErrPermanent).
	ErrPermanent = errors.New("permanent failure")

	// ErrExhausted: every attempt failed transiently (5xx, 408, 429, network
	// error, attempt timeout). Transient: try again later.
	ErrExhausted = errors.New("retries exhausted")
)

// StatusError is an answer with status 400 or above. Every one that Do
// returns for a 4xx other than 408 and 429 unwraps to ErrPermanent; a 5xx,
// 408 or 429 appears wrapped in an ErrExhausted error instead.
type StatusError struct {
	System string
	Method string
	URL    string
	Status int
	Header http.Header
	Body   []byte
}

// Permanent reports whether retrying cannot fix this status.
func (e *StatusError) Permanent() bool { return permanentStatus(e.Status) }

// Error names the call and the status and quotes the start of the body.
func (e *StatusError) Error() string {
	const limit = 512
	body := e.Body
	cut := ""
	if len(body) > limit {
		body, cut = body[:limit], "..."
	}
	return fmt.Sprintf("%s %s: status %d %s: %q%s", e.Method, e.URL, e.Status, http.StatusText(e.Status), body, cut)
}

// Unwrap returns ErrPermanent for a status that retrying cannot fix.
func (e *StatusError) Unwrap() error {
	if e.Permanent() {
		return ErrPermanent
	}
	return nil
}

// permanentStatus: 4xx except 408 Request Timeout and 429 Too Many Requests.
func permanentStatus(status int) bool {
	return status >= 400 && status < 500 &&
		status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
}

// excludedError marks an attempt that ended because the caller's context
// ended; the breaker neither counts it as success nor as failure.
type excludedError struct{ err error }

func (e *excludedError) Error() string { return e.err.Error() }
func (e *excludedError) Unwrap() error { return e.err }

// breakerSuccess tells the breaker which attempt outcomes mean "the system
// is healthy": 2xx/3xx and the caller's own mistakes (permanent 4xx).
// 5xx, 408, 429, network errors and timeouts are failures.
func breakerSuccess(err error) bool {
	return err == nil || errors.Is(err, ErrPermanent)
}

func breakerExcluded(err error) bool {
	var ex *excludedError
	return errors.As(err, &ex)
}
