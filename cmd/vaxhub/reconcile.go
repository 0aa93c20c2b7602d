package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"

	"github.com/vaxhub/vaxhub/connectors/sap"
	"github.com/vaxhub/vaxhub/connectors/servicenow"
	"github.com/vaxhub/vaxhub/core/app"
)

// exitOne carries a failure that was printed already (exit status 1).
type exitOne struct{ err error }

func (e *exitOne) Error() string { return e.err.Error() }
func (e *exitOne) Unwrap() error { return e.err }

// cmdReconcile compares the hub with an outside system: `vaxhub reconcile stock`.
func cmdReconcile(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "stock" && args[0] != "mobile") {
		return &usageError{"usage: vaxhub reconcile stock|mobile [--from DAY] [--to DAY] [--json]"}
	}
	cfg, err := loadConfig(nil, modeRun)
	if err != nil {
		return err
	}
	parts, err := openCore(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer parts.pool.Close()
	if args[0] == "mobile" {
		mob, err := app.NewMobile(parts.app, parts.store)
		if err != nil {
			return err
		}
		return servicenow.ReconcileMobileMain(ctx, servicenow.Deps{Mobile: mob}, args[1:], os.Stdout)
	}
	cfg.runSwitches(simulatorURLs()) // unless configured: the SAP simulator
	v := cfg.values(sap.Spec)
	err = sap.ReconcileMain(ctx, sap.Deps{Pool: parts.pool, App: parts.app, Config: sap.Config{
		BaseURL: v.String("url"), User: v.String("user"), Password: v.String("password"), SAPClient: v.String("client")}}, args[1:], os.Stdout)
	if errors.Is(err, sap.ErrDifferences) {
		return &exitOne{err}
	}
	return err
}
