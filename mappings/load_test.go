package mappings

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// good is a valid mapping used as the base of the load tests.
const good = `description: test mapping
lookups:
  plant:
    values:
      SN12: riesa
inbound:
  - target: centre_id
    source: Plant
    lookup: plant
`

func TestLoadDirReportsFileLineAndField(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // the whole error message
	}{
		{
			name: "bad YAML syntax",
			yaml: "inbound:\n  - target: a\n    source: [b\n",
			want: `sap/x.yaml:3: invalid YAML: sequence end token ']' not found`,
		},
		{
			name: "unknown top-level key",
			yaml: good + "outbond:\n  - target: Plant\n    source: centre_id\n",
			want: `sap/x.yaml:10: field "outbond": unknown key "outbond" (allowed: description, lookups, inbound, outbound)`,
		},
		{
			name: "unknown key in a field",
			yaml: good + "  - target: day\n    source: PostingDate\n    converter: odata-day\n",
			want: `sap/x.yaml:12: field "inbound[1].converter": unknown key "converter" (allowed: target, source, const, convert, lookup, default, required)`,
		},
		{
			name: "unknown key in a lookup",
			yaml: "lookups:\n  plant:\n    value:\n      SN12: riesa\ninbound:\n  - target: a\n    source: b\n",
			want: "sap/x.yaml:3: field \"lookups.plant.value\": unknown key \"value\" (allowed: values, default)\n" +
				`sap/x.yaml:3: field "lookups.plant.values": a lookup needs values`,
		},
		{
			name: "unknown conversion",
			yaml: good + "  - target: day\n    source: PostingDate\n    convert: odata-dat\n",
			want: `sap/x.yaml:12: field "inbound[1].convert": unknown conversion "odata-dat"`,
		},
		{
			name: "unknown lookup",
			yaml: good + "  - target: product\n    source: Material\n    lookup: materials\n",
			want: `sap/x.yaml:12: field "inbound[1].lookup": unknown lookup "materials"`,
		},
		{
			name: "missing target",
			yaml: good + "  - source: Material\n",
			want: `sap/x.yaml:10: field "inbound[1].target": missing target`,
		},
		{
			name: "missing source and const",
			yaml: good + "  - target: product\n",
			want: `sap/x.yaml:10: field "inbound[1].source": missing source (or const)`,
		},
		{
			name: "source and const together",
			yaml: good + "  - target: product\n    source: Material\n    const: comirnaty\n",
			want: `sap/x.yaml:12: field "inbound[1].const": a field has either source or const, not both`,
		},
		{
			name: "const with a conversion",
			yaml: good + "  - target: unit\n    const: ST\n    convert: lower\n",
			want: `sap/x.yaml:12: field "inbound[1].convert": a const field takes no convert`,
		},
		{
			name: "required with a default",
			yaml: good + "  - target: batch\n    source: Batch\n    required: true\n    default: none\n",
			want: `sap/x.yaml:13: field "inbound[1].default": a required field takes no default`,
		},
		{
			name: "required is not a boolean",
			yaml: good + "  - target: batch\n    source: Batch\n    required: yes please\n",
			want: `sap/x.yaml:12: field "inbound[1].required": want true or false, got a string`,
		},
		{
			name: "target is not a string",
			yaml: good + "  - target: [a, b]\n    source: Batch\n",
			want: `sap/x.yaml:10: field "inbound[1].target": want a string, got a list`,
		},
		{
			name: "duplicate target",
			yaml: good + "  - target: centre_id\n    source: IssuingOrReceivingPlant\n",
			want: `sap/x.yaml:10: field "inbound[1].target": target "centre_id" is already set by the field on line 7`,
		},
		{
			name: "overlapping targets",
			yaml: good + "  - target: centre_id.name\n    source: PlantName\n",
			want: `sap/x.yaml:10: field "inbound[1].target": target "centre_id.name" overlaps target "centre_id" on line 7`,
		},
		{
			name: "empty path segment",
			yaml: good + "  - target: day\n    source: to_Header..PostingDate\n",
			want: `sap/x.yaml:11: field "inbound[1].source": path "to_Header..PostingDate" has an empty segment`,
		},
		{
			name: "list index in a target",
			yaml: good + "  - target: items.0.day\n    source: PostingDate\n",
			want: `sap/x.yaml:10: field "inbound[1].target": target "items.0.day" has the list index "0"; targets build objects only`,
		},
		{
			name: "integer with a leading zero",
			yaml: good + "  - target: code\n    const: 0101\n",
			want: `sap/x.yaml:11: field "inbound[1].const": number 0101 has a leading zero or base prefix; quote it if it is a code ("0101")`,
		},
		{
			name: "lookup that cannot be reversed for outbound",
			yaml: "lookups:\n  movement:\n    values:\n      \"101\": in\n      \"501\": in\noutbound:\n  - target: GoodsMovementType\n    source: direction\n    lookup: movement\n",
			want: `sap/x.yaml:9: field "outbound[0].lookup": lookup "movement" cannot be reversed for outbound: keys "101" and "501" both map to "in"`,
		},
		{
			name: "neither inbound nor outbound",
			yaml: "description: nothing to do\n",
			want: `sap/x.yaml:1: a mapping needs an inbound or an outbound section, or both`,
		},
		{
			name: "empty inbound",
			yaml: "inbound: []\n",
			want: `sap/x.yaml:1: field "inbound": needs at least one field`,
		},
		{
			name: "empty file",
			yaml: "# nothing yet\n",
			want: `sap/x.yaml:1: file is empty`,
		},
		{
			name: "top level is a list",
			yaml: "- target: a\n  source: b\n",
			want: `sap/x.yaml:1: want a mapping, got a list`,
		},
		{
			name: "anchors are refused",
			yaml: "inbound:\n  - target: a\n    source: b\n    default: &d {x: 1}\n  - target: c\n    source: d\n    default: *d\n",
			want: "sap/x.yaml:4: field \"inbound[0].default\": YAML anchors, aliases, merge keys and tags are not supported\n" +
				`sap/x.yaml:7: field "inbound[1].default": YAML anchors, aliases, merge keys and tags are not supported`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"mappings/sap/x.yaml": {Data: []byte(tt.yaml)}}
			set, err := LoadDir(fsys, "mappings")
			if err == nil {
				t.Fatalf("LoadDir accepted the file; mappings: %v", set.Names())
			}
			if got := strings.ReplaceAll(err.Error(), "mappings/sap/x.yaml", "sap/x.yaml"); got != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", got, tt.want)
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FileError", err)
			}
			if fe.File != "mappings/sap/x.yaml" {
				t.Errorf("File = %q, want the path inside the fs.FS", fe.File)
			}
		})
	}
}

func TestFileErrorFormat(t *testing.T) {
	err := &FileError{File: "mappings/sap/material-document.yaml", Line: 14, Field: "fields[3].convert", Msg: `unknown conversion "odata-dat"`}
	want := `mappings/sap/material-document.yaml:14: field "fields[3].convert": unknown conversion "odata-dat"`
	if err.Error() != want {
		t.Errorf("got %s, want %s", err, want)
	}
	noLine := &FileError{File: "a.yaml", Msg: "mapping has no test file"}
	if got := noLine.Error(); got != "a.yaml: mapping has no test file" {
		t.Errorf("got %s", got)
	}
}

func TestLoadDirReturnsEveryFilesErrors(t *testing.T) {
	fsys := fstest.MapFS{
		"m/sap/a.yaml":        {Data: []byte(good + "  - target: x\n    source: y\n    convert: nope\n")},
		"m/sap/b.yaml":        {Data: []byte("inbound:\n  - target: x\n    sorce: y\n")},
		"m/servicenow/c.yaml": {Data: []byte(good)},
		"m/servicenow/d.yml":  {Data: []byte(good)},
	}
	_, err := LoadDir(fsys, "m")
	if err == nil {
		t.Fatal("LoadDir accepted broken files")
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T does not join several errors", err)
	}
	var files []string
	for _, e := range joined.Unwrap() {
		var fe *FileError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v is not a *FileError", e)
		}
		files = append(files, fe.File)
	}
	want := "m/sap/a.yaml m/sap/b.yaml m/sap/b.yaml m/servicenow/d.yml"
	if got := strings.Join(files, " "); got != want {
		t.Errorf("errors name files %s, want %s\n%v", got, want, err)
	}
}

func TestLoadDirNamesMappingsByPathAndSkipsTestFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"mappings/sap/material-document-item.yaml":      {Data: []byte(good)},
		"mappings/sap/material-document-item_test.yaml": {Data: []byte("not: [a mapping")},
		"mappings/servicenow/mobile-visit.yaml":         {Data: []byte(good)},
		"mappings/README.md":                            {Data: []byte("# docs")},
	}
	set, err := LoadDir(fsys, "mappings")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Names(), " "); got != "sap/material-document-item servicenow/mobile-visit" {
		t.Errorf("Names() = %s", got)
	}
	m, ok := set.Get("sap/material-document-item")
	if !ok {
		t.Fatal("Get(sap/material-document-item) found nothing")
	}
	if m.Name() != "sap/material-document-item" || m.File() != "mappings/sap/material-document-item.yaml" || m.Description() != "test mapping" {
		t.Errorf("Name, File, Description = %q, %q, %q", m.Name(), m.File(), m.Description())
	}
	if _, ok := set.Get("sap/material-document-item_test"); ok {
		t.Error("a test file was loaded as a mapping")
	}
}

func TestLoadDirOfAMissingFolderFails(t *testing.T) {
	if _, err := LoadDir(fstest.MapFS{}, "mappings"); err == nil {
		t.Fatal("LoadDir of a missing folder succeeded")
	}
}
