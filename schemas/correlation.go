package schemas

import (
	"crypto/rand"
	"encoding/hex"
)

// MaxCorrelationIDLen is the envelope's maxLength for correlation_id.
const MaxCorrelationIDLen = 128

// ValidCorrelationID reports whether id may stand in an envelope's
// correlation_id: 1 to 128 printable ASCII characters without spaces
// (pattern ^[!-~]+$ of envelope.schema.json). Every edge that takes a
// correlation ID from outside (an HTTP header, a Kafka header) checks it with
// this one function before it reaches an event.
func ValidCorrelationID(id string) bool {
	if len(id) == 0 || len(id) > MaxCorrelationIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '!' || id[i] > '~' {
			return false
		}
	}
	return true
}

// NewCorrelationID returns a fresh correlation ID: 32 hex digits of
// randomness, valid for the envelope.
func NewCorrelationID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CorrelationIDOrNew returns id when it is valid, else a new one; replaced
// says which.
func CorrelationIDOrNew(id string) (use string, replaced bool) {
	if ValidCorrelationID(id) {
		return id, false
	}
	return NewCorrelationID(), true
}
