package hotline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo/sip"
)

// agentQueue holds the agent phones and the callers waiting for one. Callers
// are served first come, first served; a free caller gets the agent that has
// been idle longest.
type agentQueue struct {
	mu      sync.Mutex
	agents  []*agentLine
	waiting []*waiter
	changed chan struct{} // closed and replaced whenever an agent frees or the queue moves
}

type agentLine struct {
	uri       sip.Uri
	raw       string
	busy      bool
	idleSince time.Time
}

// waiter is one caller in the queue (not zero-sized: pointers to zero-sized values may compare equal).
type waiter struct{ joined time.Time }

func newAgentQueue(uris []string, now time.Time) (*agentQueue, error) {
	q := &agentQueue{changed: make(chan struct{})}
	for i, u := range uris {
		var uri sip.Uri
		if err := sip.ParseUri(u, &uri); err != nil {
			return nil, fmt.Errorf("hotline: agent %q: %w", u, err)
		}
		// Configuration order breaks ties: the first agent counts as idle longest.
		q.agents = append(q.agents, &agentLine{uri: uri, raw: u, idleSince: now.Add(time.Duration(i) * time.Nanosecond)})
	}
	return q, nil
}

func (q *agentQueue) signalLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// join puts a caller at the end of the queue.
func (q *agentQueue) join() *waiter {
	w := &waiter{joined: time.Now()}
	q.mu.Lock()
	q.waiting = append(q.waiting, w)
	q.mu.Unlock()
	return w
}

// leave takes a caller out of the queue (no-op when already out).
func (q *agentQueue) leave(w *waiter) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, x := range q.waiting {
		if x == w {
			q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
			q.signalLocked()
			return
		}
	}
}

// position is the caller's place in the queue, from 1; 0 when not waiting.
func (q *agentQueue) position(w *waiter) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, x := range q.waiting {
		if x == w {
			return i + 1
		}
	}
	return 0
}

// tryAssign gives the first waiting caller the longest-idle free agent. The
// caller stays first in the queue until connected or leave is called.
func (q *agentQueue) tryAssign(w *waiter) (*agentLine, <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiting) == 0 || q.waiting[0] != w {
		return nil, q.changed
	}
	var best *agentLine
	for _, a := range q.agents {
		if !a.busy && (best == nil || a.idleSince.Before(best.idleSince)) {
			best = a
		}
	}
	if best != nil {
		best.busy = true
	}
	return best, q.changed
}

// release frees an agent; it is idle from now.
func (q *agentQueue) release(a *agentLine, now time.Time) {
	q.mu.Lock()
	a.busy = false
	a.idleSince = now
	q.signalLocked()
	q.mu.Unlock()
}

// toAgent queues the caller for an agent, announces the position, offers a
// callback after a while, and bridges the call to the agent (B2BUA).
func (c *call) toAgent(ctx context.Context) (string, error) {
	v := c.ivr
	if v.agents == nil || len(v.agents.agents) == 0 {
		c.ev.step("agent", "unavailable", "")
		return outcomeAgent, c.play(ctx, "agent", "agent-unavailable")
	}
	c.ev.step("agent", "queued", "")
	w := v.agents.join()
	defer v.agents.leave(w)
	if err := c.play(ctx, "agent"); err != nil {
		return outcomeCallerHangup, err
	}
	tick := time.NewTicker(v.cfg.PositionEvery)
	defer tick.Stop()
	callback := time.After(v.cfg.CallbackAfter)
	failures := 0
	for {
		a, changed := v.agents.tryAssign(w)
		if a != nil {
			out, err := c.bridge(ctx, w, a)
			if err == nil || errors.Is(err, errHangup) {
				return out, err
			}
			v.cfg.Logger.Info("hotline: agent did not take the call", "agent", a.raw, "err", err)
			v.agents.release(a, time.Now())
			if failures++; failures >= 2*len(v.agents.agents) {
				c.ev.step("agent", "unavailable", "")
				return outcomeAgent, c.play(ctx, "agent-unavailable")
			}
			continue
		}
		select {
		case <-changed:
		case <-tick.C:
			pos := v.agents.position(w)
			if pos > 0 && pos < 60 {
				if err := c.play(ctx, "queue-position", "num-"+strconv.Itoa(pos), "queue-wait"); err != nil {
					return outcomeCallerHangup, err
				}
			}
		case <-callback:
			c.keys.flush()
			choice, err := c.ask(ctx, "callback-offer", []string{"callback-offer"}, 1, false, func(s string) bool { return s == "1" || s == "2" })
			if err != nil && !errors.Is(err, errGaveUp) {
				return outcomeCallerHangup, err
			}
			if choice == "1" {
				v.agents.leave(w)
				return c.requestCallback(ctx)
			}
			c.ev.step("callback-offer", "declined", "")
		case <-ctx.Done():
			return outcomeCallerHangup, errHangup
		}
	}
}

// bridge calls the agent and connects the caller; it returns when either
// side hangs up.
func (c *call) bridge(ctx context.Context, w *waiter, a *agentLine) (string, error) {
	v := c.ivr
	rctx, cancel := context.WithTimeout(ctx, v.cfg.AgentRingTimeout)
	out, outMed, err := v.dg.Invite(rctx, a.uri, diago.InviteOptions{Originator: c.in})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return outcomeCallerHangup, errHangup
		}
		return "", err
	}
	v.agents.leave(w) // connected: no longer waiting
	defer v.agents.release(a, time.Now())
	defer out.Close()
	defer outMed.Close()
	c.ev.step("agent", "connected", "")
	// Caller -> agent: readRTP forwards audio payloads; agent -> caller here.
	aw, err := outMed.AudioWriter()
	if err == nil {
		c.forward.Store(&aw)
		defer c.forward.Store(nil)
	}
	go func() {
		defer func() { _ = recover() }()
		r, err := outMed.AudioReader()
		if err != nil {
			return
		}
		cw, err := c.med.AudioWriter()
		if err != nil {
			return
		}
		buf := make([]byte, media.RTPBufSize)
		for {
			n, err := r.Read(buf)
			if err != nil {
				return
			}
			if n > 0 && int(outMed.RTPPacketReader.PacketHeader.PayloadType) == int(c.audioPT()) {
				if _, err := cw.Write(buf[:n]); err != nil {
					return
				}
			}
		}
	}()
	select {
	case <-out.Context().Done():
		c.ev.step("agent", "ended-by-agent", "")
		return outcomeAgentHandled, nil
	case <-ctx.Done():
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = out.Hangup(hctx)
		return outcomeCallerHangup, errHangup
	}
}

// audioPT is the negotiated audio payload type of the caller's leg.
func (c *call) audioPT() uint8 {
	for _, codec := range c.med.MediaSession().CommonCodecs() {
		if !codec.Matches(media.CodecTelephoneEvent8000) {
			return codec.PayloadType
		}
	}
	return 0
}

// requestCallback asks for the number to call back, reads it back for
// confirmation and records the request.
func (c *call) requestCallback(ctx context.Context) (string, error) {
	for attempt := 1; attempt <= c.ivr.cfg.Attempts; attempt++ {
		num, err := c.ask(ctx, "callback-number", []string{"ask-phone"}, 16, true, func(s string) bool { return len(s) >= 6 && s[0] == '0' })
		if err != nil {
			return outcomeNoInput, err
		}
		ids := append([]string{"callback-confirm"}, sayDigits(num)...)
		ids = append(ids, "confirm-choice")
		ok, err := c.ask(ctx, "callback-confirm", ids, 1, false, func(s string) bool { return s == "1" || s == "2" })
		if err != nil {
			return outcomeNoInput, err
		}
		if ok == "2" {
			continue
		}
		c.ev.callbackRequested(num)
		c.ev.step("callback", "requested", "")
		return outcomeCallback, c.play(ctx, "callback-booked")
	}
	return outcomeNoInput, errGaveUp
}

var _ io.Writer = (*media.RTPPacketWriter)(nil)
