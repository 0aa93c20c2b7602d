package mappings

import (
	"io/fs"
	"os"
	"sort"
	"strings"
	"testing"
)

// TestMappingFilesPassTheirTests runs every tests-as-data file of the
// repository against its mapping, one subtest per case.
func TestMappingFilesPassTheirTests(t *testing.T) {
	fsys := Embedded()
	set, err := LoadDir(fsys, ".")
	if err != nil {
		t.Fatalf("load mappings: %v", err)
	}
	testFiles, err := findTestFiles(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(testFiles) == 0 {
		t.Fatal("no *_test.yaml files found")
	}
	for _, file := range testFiles {
		t.Run(file, func(t *testing.T) {
			tf, err := loadTestFile(fsys, ".", file)
			if err != nil {
				t.Fatalf("load test file: %v", err)
			}
			m, ok := set.Get(tf.mapping)
			if !ok {
				t.Fatalf("no mapping %q for %s", tf.mapping, file)
			}
			for _, tc := range tf.cases {
				t.Run(tc.name, func(t *testing.T) {
					if err := tc.run(m); err != nil {
						t.Error(err)
					}
				})
			}
		})
	}
}

func TestEveryMappingHasATestFile(t *testing.T) {
	set, err := LoadDir(Embedded(), ".")
	if err != nil {
		t.Fatalf("load mappings: %v", err)
	}
	if len(set.Names()) == 0 {
		t.Fatal("no mappings embedded")
	}
	for _, name := range set.Names() {
		if _, err := fs.Stat(Embedded(), name+testFileExt); err != nil {
			t.Errorf("mapping %s has no test file %s%s", name, name, testFileExt)
		}
	}
}

func TestEveryMappingTestsBothDirectionsItHas(t *testing.T) {
	set, err := LoadDir(Embedded(), ".")
	if err != nil {
		t.Fatalf("load mappings: %v", err)
	}
	for _, name := range set.Names() {
		m, _ := set.Get(name)
		tf, err := loadTestFile(Embedded(), ".", name+testFileExt)
		if err != nil {
			t.Fatalf("load test file: %v", err)
		}
		var in, out, inErr, outErr int
		for _, tc := range tf.cases {
			switch {
			case tc.dir == inbound && tc.expectError == "":
				in++
			case tc.dir == inbound:
				inErr++
			case tc.expectError == "":
				out++
			default:
				outErr++
			}
		}
		if in == 0 || inErr == 0 {
			t.Errorf("%s: want inbound cases with expect and with expect_error, have %d and %d", name, in, inErr)
		}
		if m.HasOutbound() && (out == 0 || outErr == 0) {
			t.Errorf("%s: want outbound cases with expect and with expect_error, have %d and %d", name, out, outErr)
		}
	}
}

func TestCheckPassesForTheRepositoryFiles(t *testing.T) {
	if err := Check(Embedded(), "."); err != nil {
		t.Fatal(err)
	}
	// The same files read from disk, the way `vaxhub mappings check` run from
	// the repository root names them.
	if err := Check(os.DirFS(".."), "mappings"); err != nil {
		t.Fatal(err)
	}
}

// TestEmbeddedFilesMatchTheFolder fails when a YAML file on disk is not
// compiled into the binary (for example in a folder deeper than the embed
// pattern reaches).
func TestEmbeddedFilesMatchTheFolder(t *testing.T) {
	list := func(fsys fs.FS) []string {
		var out []string
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(out)
		return out
	}
	onDisk, embedded := list(os.DirFS(".")), list(Embedded())
	if strings.Join(onDisk, "\n") != strings.Join(embedded, "\n") {
		t.Fatalf("embedded files differ from the folder:\n on disk:  %v\n embedded: %v", onDisk, embedded)
	}
}
