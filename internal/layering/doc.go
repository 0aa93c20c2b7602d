// Package layering holds the test that enforces the import rules of
// docs/architecture.md: which folder may import which. It has no code of
// its own; a change that breaks a rule fails `make test`.
package layering
