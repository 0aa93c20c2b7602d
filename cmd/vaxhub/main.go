// Command vaxhub is the one binary of the hub: run (everything for a
// laptop), hub (only the hub), migrate, bench and the tools that come with
// later issues.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // the campaign's zone must exist on minimal machines
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := dispatch(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "vaxhub:", err)
		os.Exit(exitCode(err))
	}
}
