package main

import (
	"github.com/vaxhub/vaxhub/connectors/audit"
	"github.com/vaxhub/vaxhub/connectors/component"
	"github.com/vaxhub/vaxhub/connectors/hotline"
	"github.com/vaxhub/vaxhub/connectors/print"
	"github.com/vaxhub/vaxhub/connectors/register"
	"github.com/vaxhub/vaxhub/connectors/sap"
	"github.com/vaxhub/vaxhub/connectors/servicenow"
)

// components is the hub's one list of components: the supervisor starts
// them in this order and stops them in reverse; `vaxhub config`, the
// README's configuration table and the bus users come from their specs.
// A new connector is one line here. h may be nil for the specs alone.
func components(h *supervisor) []component.Component {
	return []component.Component{
		{Spec: brokerSpec, Start: h.startBroker},
		{Spec: relaySpec, Start: h.startRelay},
		{Spec: audit.Spec, Start: audit.Start},
		{Spec: sap.Spec, Start: sap.Start},
		{Spec: servicenow.Spec, Start: servicenow.Start},
		{Spec: register.Spec, Start: register.Start},
		{Spec: print.Spec, Start: print.Start},
		{Spec: hotline.Spec, Start: hotline.Start},
	}
}

// specs are the specs of the component list.
func specs() []component.Spec {
	var out []component.Spec
	for _, c := range components(nil) {
		out = append(out, c.Spec)
	}
	return out
}
