package hotline

import (
	"context"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/simulators/agent"
	"github.com/vaxhub/vaxhub/simulators/caller"
)

func TestAgentQueueServesFirstComeAndGivesTheLongestIdleAgent(t *testing.T) {
	t0 := time.Unix(1000, 0)
	q, err := newAgentQueue([]string{"sip:a@127.0.0.1:5070", "sip:b@127.0.0.1:5071"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	first, second := q.join(), q.join()
	if q.position(first) != 1 || q.position(second) != 2 {
		t.Fatalf("positions %d %d", q.position(first), q.position(second))
	}
	if a, _ := q.tryAssign(second); a != nil {
		t.Fatal("the second caller overtook the first")
	}
	a, _ := q.tryAssign(first)
	if a == nil || a.raw != "sip:a@127.0.0.1:5070" {
		t.Fatalf("first caller got %+v, want agent a (idle longest by configuration order)", a)
	}
	q.leave(first)
	if q.position(second) != 1 {
		t.Fatal("second caller did not move up")
	}
	q.release(a, t0.Add(time.Minute)) // a is idle again, but b has been idle longer
	b, _ := q.tryAssign(second)
	if b == nil || b.raw != "sip:b@127.0.0.1:5071" {
		t.Fatalf("second caller got %+v, want agent b (idle longest)", b)
	}
}

func TestCallerAskingForAnAgentIsBridgedToAnAgentPhone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	phones, err := agent.Start(ctx, agent.Config{N: 2, AnswerAfter: 100 * time.Millisecond, TalkTime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l := startIVR(t, nil, func(c *Config) { c.Agents = phones.URIs })
	res := dial(t, l, caller.Config{}, "wait 300ms, press 0, wait 300ms, press *")
	if !res.RemoteHangup {
		t.Fatalf("call: %+v", res)
	}
	out, evs := l.outcome(t)
	if out != outcomeAgentHandled {
		t.Fatalf("outcome %q, events %v", out, evs)
	}
	if phones.Answered(0) != 1 || phones.Answered(1) != 0 {
		t.Errorf("answered %d and %d, want the first (longest idle) agent", phones.Answered(0), phones.Answered(1))
	}
}

func TestWaitingCallerIsOfferedACallbackAndConfirmsTheNumber(t *testing.T) {
	t.Parallel()
	l := startIVR(t, nil, func(c *Config) {
		c.Agents = []string{"sip:agent1@127.0.0.1:9"} // kept busy below: nobody is free
		c.CallbackAfter = 200 * time.Millisecond
		c.PositionEvery = time.Minute
	})
	l.ivr.agents.mu.Lock()
	l.ivr.agents.agents[0].busy = true
	l.ivr.agents.mu.Unlock()
	res := dial(t, l, caller.Config{}, "wait 300ms, press 0, wait 300ms, press *, wait 900ms, press 1, wait 300ms, enter 03525123456#, wait 400ms, press 1, wait 500ms, press *")
	if !res.RemoteHangup {
		t.Fatalf("call: %+v", res)
	}
	out, evs := l.outcome(t)
	if out != outcomeCallback {
		t.Fatalf("outcome %q, events %v", out, evs)
	}
	found := false
	for _, e := range evs {
		if e["type"] == EventCallbackRequested {
			found = e["data"].(map[string]any)["phone"] == "03525123456"
		}
	}
	if !found {
		t.Errorf("no call.callback-requested with the confirmed number in %v", evs)
	}
}
