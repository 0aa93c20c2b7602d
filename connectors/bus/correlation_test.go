package bus

import (
	"context"
	"strings"
	"testing"

	"github.com/vaxhub/vaxhub/core/app"
)

// TestConsumedCorrelationIDIsCheckedLikeAtTheEdge: a Kafka header the
// envelope schema would refuse (anyone who can write to the broker sets
// headers) never reaches the handler's context; the envelope's ID does.
func TestConsumedCorrelationIDIsCheckedLikeAtTheEdge(t *testing.T) {
	env := func(corr string) []byte { return []byte(`{"id":"e1","correlation_id":"` + corr + `"}`) }
	cases := []struct {
		name, header string
		value        []byte
		want         string
	}{
		{"valid header", "req-1", env("env-1"), "req-1"},
		{"no header", "", env("env-1"), "env-1"},
		{"header with a space", "has space", env("env-1"), "env-1"},
		{"over-long header", strings.Repeat("x", 129), env("env-1"), "env-1"},
		{"control character", "a\x01b", env("env-1"), "env-1"},
		{"non-ASCII header", "zürich", env("env-1"), "env-1"},
		{"both bad", "has space", env("also bad"), ""},
		{"no envelope", "", []byte("not json"), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := Message{Value: c.value, Headers: map[string]string{}}
			if c.header != "" {
				msg.Headers[HeaderCorrelationID] = c.header
			}
			got := "unset"
			h := CorrelationIDMiddleware(func(ctx context.Context, _ Message) error {
				got = app.CorrelationID(ctx)
				return nil
			})
			if err := h(context.Background(), msg); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("handler saw correlation ID %q, want %q", got, c.want)
			}
		})
	}
}
