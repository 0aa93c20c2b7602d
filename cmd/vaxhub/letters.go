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

// requestableLetterKinds are the kinds staff may ask for, from the print
// connector's one list, for the API (which does not import connectors/print).
func requestableLetterKinds() []string {
	out := make([]string, len(letter.Requestable))
	for i, k := range letter.Requestable {
		out[i] = string(k)
	}
	return out
}
