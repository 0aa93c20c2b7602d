package schemas

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// ajvModules finds node and the ajv packages (VAXHUB_AJV_DIR: a directory
// with node_modules/ajv and node_modules/ajv-formats; .ci/run installs them
// outside the repository). Without them the test fails in CI (CI=true) and
// skips, saying so, elsewhere.
func ajvModules(t *testing.T) (node, modules string) {
	t.Helper()
	missing := func(why string) {
		msg := "ajv check NOT RUN: " + why + ". Install with: npm install --prefix /opt/vaxhub-ci ajv@8 ajv-formats@3; then VAXHUB_AJV_DIR=/opt/vaxhub-ci (.ci/run does this)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("*** " + msg + " ***")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	dir := os.Getenv("VAXHUB_AJV_DIR")
	if dir == "" {
		missing("VAXHUB_AJV_DIR is not set")
	}
	modules = filepath.Join(dir, "node_modules")
	for _, pkg := range []string{"ajv", "ajv-formats"} {
		if _, err := os.Stat(filepath.Join(modules, pkg, "package.json")); err != nil {
			missing(pkg + " is not installed in " + modules)
		}
	}
	return node, modules
}

func runAjv(t *testing.T, node, modules, dir string) (string, error) {
	t.Helper()
	script, err := filepath.Abs("ajvcheck.js")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script, dir)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// TestAjvResolvesEverySchemaByItsID: a validator outside Go (ajv, draft-07),
// given every schema file by its $id alone, resolves the envelope and judges
// every example of testdata as the registry does (valid passes, invalid
// fails). Without the $ids it cannot resolve "envelope.schema.json", which is
// what the check proves.
func TestAjvResolvesEverySchemaByItsID(t *testing.T) {
	node, modules := ajvModules(t)
	out, err := runAjv(t, node, modules, ".")
	if err != nil {
		t.Fatalf("ajv judged examples differently or a schema did not compile: %v\n%s", err, failedLines(out))
	}
	if !regexp.MustCompile(`"examples":[1-9][0-9]*,"failed":0`).MatchString(out) {
		t.Fatalf("ajv checked no examples:\n%s", out)
	}

	// The same folder without $id: ajv cannot resolve the envelope.
	bare := t.TempDir()
	id := regexp.MustCompile(`\n\s*"\$id": "[^"]*",`)
	err = fs.WalkDir(os.DirFS("."), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(bare, filepath.Dir(p)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(bare, p), id.ReplaceAll(b, nil), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runAjv(t, node, modules, bare); err == nil || !strings.Contains(out, "envelope.schema.json") {
		t.Fatalf("without $id ajv still resolved the envelope (the check proves nothing): %v\n%s", err, failedLines(out))
	}
}

func failedLines(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, `"ok":true`) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestEverySchemaCarriesItsID: the $id of each file is BaseURL plus its path,
// so relative $refs resolve to the file beside it in any validator.
func TestEverySchemaCarriesItsID(t *testing.T) {
	files, _ := fs.Glob(files, "*"+suffix)
	ext, _ := fs.Glob(os.DirFS("."), externalDir+"/*"+suffix)
	for _, f := range append(files, ext...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := decode(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if got, _ := doc.(map[string]any)["$id"].(string); got != "https://vaxhub.example/schemas/"+f {
			t.Errorf("%s: $id %q, want %q", f, got, "https://vaxhub.example/schemas/"+f)
		}
	}
	if len(files) < 10 {
		t.Fatalf("only %d schema files", len(files))
	}
}
