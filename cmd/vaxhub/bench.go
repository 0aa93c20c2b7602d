package main

import (
	"context"
	"fmt"
)

// cmdBench runs a named benchmark that prints figures.
func cmdBench(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return &usageError{"usage: vaxhub bench booking|bus|register|portal|hotline [flags]"}
	}
	switch args[0] {
	case "booking":
		return benchBooking(ctx, args[1:])
	case "bus":
		return benchBus(ctx, args[1:])
	case "register":
		return benchRegister(ctx, args[1:])
	case "portal":
		return benchPortal(ctx, args[1:])
	case "hotline":
		return benchHotline(ctx, args[1:])
	}
	return &usageError{fmt.Sprintf("unknown benchmark %q (known: booking, bus, register, portal, hotline)", args[0])}
}
