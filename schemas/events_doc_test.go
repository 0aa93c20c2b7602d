package schemas

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestEveryDocumentedEventTypeHasASchema keeps docs/events.md and the schemas
// from drifting apart: the event types in the first column of its table of
// events are exactly the types that have a schema.
func TestEveryDocumentedEventTypeHasASchema(t *testing.T) {
	b, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := documentedEventTypes(string(b))
	if len(documented) == 0 {
		t.Fatal("found no event types in docs/events.md: is the table still headed | type | ...?")
	}
	types := loadRegistry(t).Types()
	for _, eventType := range documented {
		if !slices.Contains(types, eventType) {
			t.Errorf("%s is in docs/events.md but has no %s.schema.json", eventType, eventType)
		}
	}
	for _, eventType := range types {
		if !slices.Contains(documented, eventType) {
			t.Errorf("%s.schema.json exists but %s is not in the table of docs/events.md", eventType, eventType)
		}
	}
}

func TestDocumentedEventTypesReadsOnlyTheTableOfEvents(t *testing.T) {
	doc := strings.Join([]string{
		"| field | meaning |",
		"|---|---|",
		"| `id` | UUIDv7 |",
		"| `type` | for example `appointment.booked` |",
		"",
		"| type | subject | data |",
		"|---|---|---|",
		"| `resident.registered` | resident_id | `resident_id` |",
		"| `stock.changed` | `<centre_id>/<product>` | `centre_id` |",
		"",
		"Products are `comirnaty`.",
	}, "\n")
	got := documentedEventTypes(doc)
	want := []string{"resident.registered", "stock.changed"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

var firstCellType = regexp.MustCompile("^\\|\\s*`([^`]+)`\\s*\\|")

// documentedEventTypes returns the backticked first cells of every markdown
// table whose header's first cell is "type".
func documentedEventTypes(markdown string) []string {
	var types []string
	inTable := false
	for _, line := range strings.Split(markdown, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if strings.TrimSpace(cells[0]) == "type" {
			inTable = true
			continue
		}
		if m := firstCellType.FindStringSubmatch(line); inTable && m != nil {
			types = append(types, m[1])
		}
	}
	return types
}
