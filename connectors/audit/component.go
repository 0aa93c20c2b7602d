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

// Start is the hub's entry: the trail's own migrations, then its consumers on a router as its own
// bus user, over every event topic.
func Start(ctx context.Context, d component.Deps) (stop func(context.Context) error, err error) {
	trail, err := New(ctx, d.Pool, d.Logger) // its table before its consumers
	if err != nil {
		return nil, err
	}
	router := bus.NewRouter(d.Consumer)
	if err := trail.Register(router, d.Topics); err != nil {
		return nil, err
	}
	return component.Background(ctx, "audit consumers", d.Failed, router.Run), nil
}
