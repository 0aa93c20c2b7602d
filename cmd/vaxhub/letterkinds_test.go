package main

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vaxhub/vaxhub/connectors/print/letter"
)

// TestLetterKindsAreThePrintConnectors: the kinds of letter the API accepts
// (as cmd/vaxhub builds it) and documents are the print connector's
// letter.Requestable; a changed-appointment letter, which only a move sends,
// is refused by the API with a 400 naming the kinds.
func TestLetterKindsAreThePrintConnectors(t *testing.T) {
	want := make([]string, len(letter.Requestable))
	for i, k := range letter.Requestable {
		want[i] = string(k)
	}
	if got := requestableLetterKinds(); !slices.Equal(got, want) {
		t.Fatalf("kinds handed to the API %v, want %v", got, want)
	}
	b, err := os.ReadFile("../../connectors/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas struct {
				LetterRequest struct {
					Properties struct {
						Kind struct {
							Enum []string `json:"enum"`
						} `json:"kind"`
					} `json:"properties"`
				}
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Components.Schemas.LetterRequest.Properties.Kind.Enum; !slices.Equal(got, want) {
		t.Errorf("openapi.json LetterRequest.kind enum %v, want %v", got, want)
	}

	base, _, _ := hubHTTP(t, "slot_days: 1\n")
	c := from("127.0.0.1")
	for _, kind := range []string{"changed", "invitation", ""} {
		r := edgeCall(t, c, "POST", base+"/api/v1/letters", edgeStaffToken, `{"kind":"`+kind+`","reference":"40211876"}`)
		if r.status != http.StatusBadRequest {
			t.Errorf("kind %q: %d %s, want 400", kind, r.status, r.body)
			continue
		}
		if p := r.problem(t); p["field"] != "kind" || !strings.Contains(p["detail"].(string), strings.Join(want, ", ")) {
			t.Errorf("kind %q: problem %v does not name the kinds %v", kind, p, want)
		}
	}
	// A requestable kind passes the API's check (no print connector runs here).
	if r := edgeCall(t, c, "POST", base+"/api/v1/letters", edgeStaffToken, `{"kind":"reminder","reference":"40211876"}`); r.status != http.StatusServiceUnavailable {
		t.Errorf("kind reminder without a print connector: %d %s, want 503", r.status, r.body)
	}
}
