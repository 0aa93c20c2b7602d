// Package mappings loads, validates and applies the YAML mapping files that turn
// an external system's records (SAP OData, ServiceNow Table API, ...) into the
// generic maps that connectors decode into core types, and back again.
// It must never import core or connector packages, do I/O while applying a
// mapping, or keep mutable global state: a mapping is data, checked at start-up,
// and applying it is a pure function of the record.
package mappings

import (
	"embed"
	"io/fs"
)

// files holds the repository's mapping files and their tests-as-data, so that
// the binary carries them. Subfolders are one level deep (one per outside
// system); TestEmbeddedFilesMatchTheFolder fails if a file is left out.
//
//go:embed */*.yaml
var files embed.FS

// Embedded returns the mapping files compiled into the binary. Paths are
// relative to the mappings folder, so load them with LoadDir(Embedded(), ".").
func Embedded() fs.FS { return files }
