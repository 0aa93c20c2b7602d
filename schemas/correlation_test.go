package schemas

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestCorrelationIDCheckAgreesWithTheEnvelopeSchema runs ValidCorrelationID
// and the envelope schema over the same IDs: the function edges use must
// accept exactly what the outbox and the consumers accept.
func TestCorrelationIDCheckAgreesWithTheEnvelopeSchema(t *testing.T) {
	reg, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/appointment.booked/valid/two-doses.json")
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	ids := []string{
		"", "a", "req-42", "has space", " lead", "tab\there", "new\nline", "nul\x00", "del\x7f",
		"äöü", "emoji-\U0001F600", "nbsp\u00a0x", strings.Repeat("x", MaxCorrelationIDLen), strings.Repeat("x", MaxCorrelationIDLen+1),
		"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", NewCorrelationID(),
	}
	for _, id := range ids {
		env["correlation_id"] = id
		b, _ := json.Marshal(env)
		schemaOK := reg.ValidateMessage(b) == nil
		if got := ValidCorrelationID(id); got != schemaOK {
			t.Errorf("%q: ValidCorrelationID = %v, envelope schema accepts = %v", id, got, schemaOK)
		}
	}
	if !ValidCorrelationID(NewCorrelationID()) {
		t.Error("NewCorrelationID is not valid")
	}
	if id, replaced := CorrelationIDOrNew("has space"); !replaced || !ValidCorrelationID(id) {
		t.Errorf("CorrelationIDOrNew(has space) = %q, %v", id, replaced)
	}
	if id, replaced := CorrelationIDOrNew("req-42"); replaced || id != "req-42" {
		t.Errorf("CorrelationIDOrNew(req-42) = %q, %v", id, replaced)
	}
}
