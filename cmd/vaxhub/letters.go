package main

import (
	"context"
	"fmt"

	"github.com/vaxhub/vaxhub/connectors/print/letter"
)

// cmdLetters renders sample letters: vaxhub letters sample DIR.
func cmdLetters(_ context.Context, args []string) error {
	if len(args) != 2 || args[0] != "sample" {
		return &usageError{"usage: vaxhub letters sample DIR"}
	}
	if err := letter.Samples(args[1]); err != nil {
		return err
	}
	fmt.Printf("one letter of each kind written to %s\n", args[1])
	return nil
}
