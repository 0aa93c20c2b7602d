package component

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestBackgroundReportsAPartThatStopsOnItsOwn: a part that returns while
// it should run is handed to failed (the supervisor then stops the hub);
// one that returns because stop was called is not.
func TestBackgroundReportsAPartThatStopsOnItsOwn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fn      func(ctx context.Context) error
		stopped bool
	}{
		{"error", func(context.Context) error { return errors.New("broker gone") }, false},
		{"returns nil", func(context.Context) error { return nil }, false},
		{"runs until stop", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failed := make(chan error, 1)
			closed := false
			stop := Background(context.Background(), "part", func(err error) { failed <- err }, tc.fn, func() { closed = true })
			if !tc.stopped {
				select {
				case err := <-failed:
					if err == nil {
						t.Fatal("nil failure")
					}
				case <-time.After(2 * time.Second):
					t.Fatal("failure not reported")
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := stop(ctx)
			if tc.stopped && err != nil {
				t.Fatalf("stop: %v", err)
			}
			if !closed {
				t.Error("closers not run")
			}
			select {
			case err := <-failed:
				t.Errorf("a failure reported after stop: %v", err)
			default:
			}
		})
	}
}
