package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/vaxhub/vaxhub/connectors/component"
)

// printComponents writes each component once: on or off, then its fields
// with their effective values (secrets masked) and environment variables.
func (c *config) printComponents(w io.Writer) {
	for _, spec := range specs() {
		if len(spec.Fields) == 0 {
			continue
		}
		v := c.values(spec)
		state := "off"
		if switchedOn(spec, v) {
			state = "on"
		}
		fmt.Fprintf(w, "  %s: %s (%s)\n", spec.Name, state, spec.Doc)
		for _, f := range spec.Fields {
			val := v[f.Name]
			switch {
			case f.Secret && val != "":
				val = "****"
			case val == "":
				val = "(not set)"
			}
			fmt.Fprintf(w, "    %-15s %s  [%s]\n", f.Name+":", val, f.Env)
		}
	}
}

// componentTable is the README's table of the components' settings,
// generated from their specs (`vaxhub config -markdown`).
func componentTable(specs []component.Spec) string {
	var b strings.Builder
	b.WriteString("| setting | environment | default | `vaxhub run` | required by `vaxhub hub` | about |\n|---|---|---|---|---|---|\n")
	cell := func(s string) string {
		if s == "" {
			return ""
		}
		return "`" + s + "`"
	}
	for _, spec := range specs {
		for _, f := range spec.Fields {
			run := cell(f.RunDefault)
			if f.Name == spec.Switch && spec.Simulator != "" {
				run = "its simulator"
			}
			req := ""
			switch {
			case f.Name == spec.Switch:
				req = "switches it on"
			case f.Required:
				req = "yes, when on"
			}
			def := cell(f.Default)
			if f.Name == spec.Switch && f.Default == "" {
				def = "off"
			}
			about := f.Doc
			if f.Secret {
				about += " (secret: never printed)"
			}
			fmt.Fprintf(&b, "| `%s.%s` | `%s` | %s | %s | %s | %s: %s |\n", spec.Name, f.Name, f.Env, def, run, req, spec.Doc, strings.ReplaceAll(about, "|", "\\|"))
		}
	}
	return b.String()
}
