package mappings

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// TestReadmeExampleIsValid loads the README's example mapping and runs the
// README's example test file against it, so that the documentation cannot
// drift from the engine.
func TestReadmeExampleIsValid(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)\n( *)```yaml\n(.*?)\n *```").FindAllStringSubmatch(string(data), -1)
	if len(blocks) != 2 {
		t.Fatalf("want 2 yaml blocks in README.md (mapping, tests), found %d", len(blocks))
	}
	dedent := func(indent, body string) string {
		lines := strings.Split(body, "\n")
		for i, l := range lines {
			lines[i] = strings.TrimPrefix(l, indent)
		}
		return strings.Join(lines, "\n") + "\n"
	}
	fsys := fstest.MapFS{
		"m/sap/example.yaml":      {Data: []byte(dedent(blocks[0][1], blocks[0][2]))},
		"m/sap/example_test.yaml": {Data: []byte(dedent(blocks[1][1], blocks[1][2]))},
	}
	if err := Check(fsys, "m"); err != nil {
		t.Fatal(err)
	}
}
