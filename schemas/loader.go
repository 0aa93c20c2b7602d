package schemas

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/xeipuuv/gojsonreference"
	"github.com/xeipuuv/gojsonschema"
)

// BaseURL is the base of every schema's $id: a file's $id is BaseURL followed
// by its path in this folder, for example
// https://vaxhub.example/schemas/appointment.booked.schema.json. A relative
// $ref ("envelope.schema.json") resolves against it, so validators outside
// Go (ajv, editors) find the envelope once every file is added by its $id.
// Nothing is served there: the registry maps these URLs to the embedded
// files and fetches nothing.
const BaseURL = "https://vaxhub.example/schemas/"

// IDOf is the $id the schema file at path (relative to this folder, for
// example "external/sap.material-document.schema.json") must carry.
func IDOf(path string) string { return BaseURL + path }

// fileOf is the inverse of IDOf: the file a schema URL names, fragment
// removed; ok is false for a URL outside BaseURL.
func fileOf(url string) (file string, ok bool) {
	url, _, _ = strings.Cut(url, "#")
	file, ok = strings.CutPrefix(url, BaseURL)
	return file, ok && file != "" && fs.ValidPath(file)
}

// embeddedLoader loads a schema by its URL from the schema folder, and makes
// gojsonschema load every schema it refers to the same way: a reference
// outside BaseURL or to a file that is not there fails, it is never fetched.
type embeddedLoader struct {
	fsys fs.FS
	url  string
}

func (l embeddedLoader) JsonSource() any { return l.url }

func (l embeddedLoader) LoadJSON() (any, error) {
	file, ok := fileOf(l.url)
	if !ok {
		return nil, fmt.Errorf("%s: not a vaxhub schema (%s...): nothing is fetched", l.url, BaseURL)
	}
	b, err := fs.ReadFile(l.fsys, file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.url, err)
	}
	return decode(b)
}

func (l embeddedLoader) JsonReference() (gojsonreference.JsonReference, error) {
	return gojsonreference.NewJsonReference(l.url)
}

func (l embeddedLoader) LoaderFactory() gojsonschema.JSONLoaderFactory { return embeddedFactory(l) }

type embeddedFactory embeddedLoader

func (f embeddedFactory) New(source string) gojsonschema.JSONLoader {
	return embeddedLoader{fsys: f.fsys, url: source}
}
