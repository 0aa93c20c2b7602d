package audit

import (
	"context"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/component"
)

// Spec is the audit trail's: no configuration, always on, every event topic.
var Spec = component.Spec{
	Name: "audit",
	Doc:  "audit trail of every event on the bus",
	Bus:  &component.BusAccess{AllTopics: true, Groups: []string{Group}},
}

// Start is the hub's entry: the trail's consumers on a router as its own
// bus user, over every event topic.
func Start(ctx context.Context, d component.Deps) (stop func(context.Context) error, err error) {
	router := bus.NewRouter(d.Consumer)
	if err := New(d.Pool, d.Logger).Register(router, d.Topics); err != nil {
		return nil, err
	}
	return component.Background(ctx, "audit consumers", d.Failed, router.Run), nil
}
