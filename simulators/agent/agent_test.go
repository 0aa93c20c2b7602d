package agent

import (
	"context"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/simulators/caller"
)

func TestPhoneAnswersTalksAndHangsUpAndIsBusyMeanwhile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := Start(ctx, Config{N: 1, AnswerAfter: 100 * time.Millisecond, TalkTime: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan *caller.Result, 1)
	go func() {
		res, err := caller.Call(ctx, caller.Config{Target: p.URIs[0], WaitEnd: 10 * time.Second}, nil)
		if err != nil {
			t.Error(err)
		}
		first <- res
	}()
	time.Sleep(700 * time.Millisecond) // the first call is being talked
	second, err := caller.Call(ctx, caller.Config{Target: p.URIs[0], WaitEnd: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.Answered || second.Status != 486 {
		t.Errorf("second call while talking: %+v, want 486", second)
	}
	res := <-first
	if res == nil || !res.Answered || !res.RemoteHangup {
		t.Fatalf("first call: %+v, want answered and ended by the agent", res)
	}
	if p.Answered(0) != 1 {
		t.Errorf("answered %d calls", p.Answered(0))
	}
}
