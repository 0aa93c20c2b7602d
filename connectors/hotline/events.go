package hotline

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/vaxhub/vaxhub/core/domain"
)

// Call event types, on topic vaxhub.call.v1. None carries a phone number in
// clear, a date of birth, a reference or a resident ID.
const (
	EventCallStarted = "call.started"
	EventCallStep    = "call.step"
	EventCallEnded   = "call.ended"
	// EventCallbackRequested carries the number to call back: the one event
	// with personal data, because the agent who calls back needs it.
	EventCallbackRequested = "call.callback-requested"
)

// EventRecorder records call events; *app.App is one (App.RecordEvent:
// validated against their schemas and inserted into the core's outbox, each
// in its own transaction; the outbox relay publishes them to
// vaxhub.call.v1). A call's events are recorded one after another from the
// call's goroutine, so for one key (the call ID) id order is commit order.
type EventRecorder interface {
	RecordEvent(ctx context.Context, ev domain.Event) error
}

// CallStarted is the data of call.started.
type CallStarted struct {
	CallID     string `json:"call_id"`
	CallerHash string `json:"caller_hash"`
	Transport  string `json:"transport"`
}

// CallStep is the data of call.step: one answer in the menu.
type CallStep struct {
	CallID      string `json:"call_id"`
	Seq         int    `json:"seq"`
	Step        string `json:"step"`
	Result      string `json:"result"`
	RefusalCode string `json:"refusal_code,omitempty"`
}

// CallEnded is the data of call.ended.
type CallEnded struct {
	CallID     string `json:"call_id"`
	Outcome    string `json:"outcome"`
	Steps      int    `json:"steps"`
	DurationMS int64  `json:"duration_ms"`
}

// CallbackRequested is the data of call.callback-requested.
type CallbackRequested struct {
	CallID string `json:"call_id"`
	Phone  string `json:"phone"`
}

// callEvents records the events of one call; failures are logged, never
// passed to the caller.
type callEvents struct {
	ivr   *IVR
	id    string
	start time.Time
	seq   int
	corr  string
}

func newCallEvents(v *IVR, id string) *callEvents {
	return &callEvents{ivr: v, id: id, start: time.Now(), corr: id}
}

func (e *callEvents) record(typ string, data any) {
	rec := e.ivr.cfg.Events
	if rec == nil {
		return
	}
	ev := domain.NewEvent(typ, e.id, e.corr, e.ivr.app.Now(), data)
	ev.Source = "vaxhub/connectors/hotline"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rec.RecordEvent(ctx, ev); err != nil {
		e.ivr.cfg.Logger.Warn("hotline: record call event", "type", typ, "call", e.id, "err", err)
	}
}

func (e *callEvents) started(from, transport string) {
	e.record(EventCallStarted, CallStarted{CallID: e.id, CallerHash: e.ivr.callerHash(from), Transport: transport})
}

func (e *callEvents) step(step, result, refusal string) {
	e.seq++
	e.record(EventCallStep, CallStep{CallID: e.id, Seq: e.seq, Step: step, Result: result, RefusalCode: refusal})
}

func (e *callEvents) callbackRequested(phone string) {
	e.record(EventCallbackRequested, CallbackRequested{CallID: e.id, Phone: phone})
}

func (e *callEvents) ended(outcome string) {
	e.record(EventCallEnded, CallEnded{CallID: e.id, Outcome: outcome, Steps: e.seq, DurationMS: time.Since(e.start).Milliseconds()})
}

// callerHash pseudonymises the caller's number (the From user) with a keyed
// HMAC, so that repeated calls from one number can be counted without the
// number being recoverable by hashing every phone number.
func (v *IVR) callerHash(from string) string {
	m := hmac.New(sha256.New, v.hashKey)
	m.Write([]byte(from))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

func randomKey() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

func newCallID() string { return domain.NewID() }
