package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/vaxhub/vaxhub/"

// rule says what the packages under a folder may import from this module
// (folder prefixes) and whether they may import anything outside the
// standard library and the module. The table follows the "Folders" table of
// docs/architecture.md; the first matching rule (longest folder) applies.
type rule struct {
	folder     string
	mayImport  []string
	thirdParty []string // allowed third-party import path prefixes; nil: none; "*": any
}

var rules = []rule{
	{"core/domain", nil, nil},
	{"core/app", []string{"core/domain"}, nil},
	{"core/store", []string{"core/"}, []string{"github.com/jackc/pgx/"}},
	// The bus reads and sets the correlation ID under core/app's key (one key).
	{"connectors/bus", []string{"schemas", "core/app"}, []string{"*"}},
	{"connectors/httpclient", nil, []string{"*"}},
	{"connectors/ratelimit", nil, nil},
	{"connectors/pgmigrate", nil, []string{"github.com/jackc/pgx/"}},
	{"connectors/jobs", []string{"connectors/pgmigrate"}, []string{"github.com/jackc/pgx/", "github.com/prometheus/", "github.com/google/uuid"}},
	// The contract between the supervisor and the components: types only.
	{"connectors/component", []string{"core/app", "core/domain", "connectors/bus", "schemas"}, []string{"*"}},
	// A connector: core/app and core/domain types, the bus, the shared HTTP
	// client and rate limiter, the component contract, the migrator and the
	// job queue, mappings, schemas, the embedded campaign data, the log guard
	// (internal/logcap) for loggers it hands to libraries, and its own
	// sub-packages (checked below); never core/store, never another connector.
	{"connectors/", []string{"core/app", "core/domain", "connectors/bus", "connectors/httpclient", "connectors/ratelimit", "connectors/component", "connectors/pgmigrate", "connectors/jobs", "mappings", "schemas", "deploy/campaign", "internal/logcap"}, []string{"*"}},
	{"mappings", nil, []string{"github.com/goccy/go-yaml"}},
	{"schemas", nil, []string{"github.com/xeipuuv/gojsonschema", "github.com/xeipuuv/gojsonreference"}}, // gojsonreference: the type of gojsonschema.JSONLoader.JsonReference
	// Simulators are the outside world: nothing of core or connectors.
	{"simulators/", []string{"simulators/"}, []string{"*"}},
	{"deploy/campaign", []string{"core/app", "core/domain"}, []string{"*"}},
	{"internal/", []string{"core/", "connectors/", "schemas", "mappings", "deploy/", "simulators/", "internal/"}, []string{"*"}},
	{"cmd/", []string{""}, []string{"*"}},
}

// deviations are today's known breaks of the rules, each with the issue
// that removes it. The test fails when one of them disappears too, so that
// this list and docs/architecture.md ("Known deviations") stay true.
var deviations = map[string]string{
	"connectors/web -> connectors/print/letter": "the portal renders the confirmation letter PDF itself",
}

type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "github.com/vaxhub/vaxhub/...")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(&out)
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func ruleFor(folder string) (rule, bool) {
	best, found := rule{}, false
	for _, r := range rules {
		if (folder == r.folder || strings.HasPrefix(folder, strings.TrimSuffix(r.folder, "/")+"/")) && len(r.folder) > len(best.folder) {
			best, found = r, true
		}
	}
	return best, found
}

// ownSubtree: connectors/sap/... belongs to connectors/sap.
func ownSubtree(folder string) string {
	parts := strings.SplitN(folder, "/", 3)
	if len(parts) >= 2 && (parts[0] == "connectors" || parts[0] == "simulators") {
		return parts[0] + "/" + parts[1]
	}
	return folder
}

func hasPrefix(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if p == "*" || path == strings.TrimSuffix(p, "/") || strings.HasPrefix(path, p) || (p != "" && strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/")) || p == "" {
			return true
		}
	}
	return false
}

func isStandard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func TestImportsFollowTheArchitecture(t *testing.T) {
	seen := map[string]bool{}
	var broken []string
	for _, p := range listPackages(t) {
		folder := strings.TrimPrefix(p.ImportPath, module)
		r, ok := ruleFor(folder)
		if !ok {
			broken = append(broken, folder+": no rule in docs/architecture.md covers this folder")
			continue
		}
		for _, imp := range p.Imports {
			switch {
			case strings.HasPrefix(imp, module):
				target := strings.TrimPrefix(imp, module)
				if strings.HasPrefix(target, "cmd/") {
					broken = append(broken, folder+" -> "+target+": nothing imports cmd")
					continue
				}
				if strings.HasPrefix(target, ownSubtree(folder)+"/") || target == ownSubtree(folder) {
					continue
				}
				if hasPrefix(target, r.mayImport) {
					continue
				}
				edge := ownSubtree(folder) + " -> " + target
				if _, ok := deviations[edge]; ok {
					seen[edge] = true
					continue
				}
				broken = append(broken, edge+": not allowed by the rule for "+r.folder)
			case isStandard(imp):
			default:
				if r.thirdParty == nil || !hasPrefix(imp, r.thirdParty) {
					broken = append(broken, folder+" -> "+imp+": third-party import not allowed for "+r.folder)
				}
			}
		}
	}
	sort.Strings(broken)
	for _, b := range broken {
		t.Error(b)
	}
	for edge, why := range deviations {
		if !seen[edge] {
			t.Errorf("known deviation %q (%s) no longer exists: remove it from this list and from docs/architecture.md", edge, why)
		}
	}
}

// TestRuleTableCatchesABreak proves the checker is not vacuous: a few
// imports that the architecture forbids are reported.
func TestRuleTableCatchesABreak(t *testing.T) {
	cases := []struct {
		from, to string
		allowed  bool
	}{
		{"core/domain", "core/app", false},
		{"core/app", "core/store", false},
		{"core/app", "core/domain", true},
		{"simulators/sap", "core/domain", false},
		{"simulators/sap", "simulators/faults", true},
		{"connectors/notify", "core/store", false},
		{"connectors/notify", "connectors/sap", false},
		{"connectors/notify", "connectors/bus", true},
		{"connectors/notify", "connectors/component", true},
		{"connectors/component", "connectors/sap", false},
		{"connectors/notify", "connectors/jobs", true},
		{"connectors/jobs", "core/app", false},
		{"connectors/pgmigrate", "connectors/bus", false},
		{"connectors/sap/odata", "connectors/sap", true},
		{"cmd/vaxhub", "core/store", true},
	}
	for _, c := range cases {
		r, ok := ruleFor(c.from)
		if !ok {
			t.Fatalf("no rule for %s", c.from)
		}
		got := strings.HasPrefix(c.to, ownSubtree(c.from)) || hasPrefix(c.to, r.mayImport)
		if got != c.allowed {
			t.Errorf("%s -> %s: allowed=%v, want %v", c.from, c.to, got, c.allowed)
		}
	}
}
