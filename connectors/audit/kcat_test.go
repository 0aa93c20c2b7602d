package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/vaxhub/vaxhub/internal/bustest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
	"github.com/vaxhub/vaxhub/schemas"
)

// kcatRecord is one line of `kcat -C -J`.
type kcatRecord struct {
	Topic     string   `json:"topic"`
	Partition int      `json:"partition"`
	Offset    int64    `json:"offset"`
	Key       *string  `json:"key"`
	Payload   *string  `json:"payload"`
	Headers   []string `json:"headers"` // name, value, name, value, ...
}

func (r kcatRecord) header(name string) string {
	for i := 0; i+1 < len(r.Headers); i += 2 {
		if r.Headers[i] == name {
			return r.Headers[i+1]
		}
	}
	return ""
}

// kcat runs kcat with args and stdin, failing the test on error.
func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// consumeWithKcat reads topic with kcat, configured (broker, SASL user and
// password) by the librdkafka file conf.
func consumeWithKcat(t *testing.T, conf, topic string) []kcatRecord {
	t.Helper()
	out := kcat(t, "", "-F", conf, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-J")
	var recs []kcatRecord
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r kcatRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("kcat output %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestKcatSeesValidBookingEventsAndAMalformedMessageIsDeadLettered is the
// proof with software nobody here wrote: kcat (librdkafka) reads the booking
// events the relay published and every one matches its schema; a malformed
// message produced with kcat ends up in vaxhub.dlq with a reason, and a good
// message produced after it on the same partition is still audited.
func TestKcatSeesValidBookingEventsAndAMalformedMessageIsDeadLettered(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat is not on PATH: install the Debian package kcat (apt-get install kcat) to run this proof; .ci/run installs it")
	}
	reg, err := schemas.Load()
	if err != nil {
		t.Fatal(err)
	}
	// The real core: bookings through core/app, events through the outbox.
	now := time.Date(2021, 4, 12, 8, 0, 0, 0, hubtest.Berlin(t))
	h := hubtest.New(t, now)
	h.SingleCentre(t)
	h.OpenRules(t)
	tomorrow := h.At(h.Today().AddDays(1), 9, 0)
	h.Slot(t, tomorrow, 10)
	h.Deliver(t, "test", domain.Janssen, 10, h.Today())
	var refs []string
	for i := range 3 {
		reg := h.Resident(t, domain.Date{Year: 1960 + i, Month: 3, Day: 1})
		ap, err := h.App.Book(app.WithCorrelationID(ctx, "req-kcat-booking"), app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: "test", Product: domain.Janssen})
		if err != nil {
			t.Fatalf("book: %v", err)
		}
		refs = append(refs, ap.Reference)
	}

	b := bustest.Start(t, h.Pool)
	cfg := b.Kafka
	conf := b.KcatConfig(t) // the broker refuses kcat without credentials
	waitFor(t, "the outbox to be published", 20*time.Second, func() bool {
		return count(t, h.Pool, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`) == 0
	})

	// kcat reads the booking events; each one matches its schema.
	recs := consumeWithKcat(t, conf, "vaxhub.appointment.v1")
	var seen []string
	for _, r := range recs {
		if r.Payload == nil {
			t.Fatalf("kcat: record %d@%d has no value", r.Partition, r.Offset)
		}
		if err := reg.ValidateMessage([]byte(*r.Payload)); err != nil {
			t.Errorf("kcat: record %d@%d does not match its schema: %v", r.Partition, r.Offset, err)
		}
		var env struct {
			Type, Subject string
			CorrelationID string `json:"correlation_id"`
			Data          struct{ Reference string }
		}
		if err := json.Unmarshal([]byte(*r.Payload), &env); err != nil {
			t.Fatal(err)
		}
		if env.Type != "appointment.booked" || r.Key == nil || *r.Key != env.Subject || env.Data.Reference != env.Subject {
			t.Errorf("kcat: record %d@%d: type %s key %v subject %s", r.Partition, r.Offset, env.Type, r.Key, env.Subject)
		}
		if env.CorrelationID != "req-kcat-booking" || r.header(bus.HeaderCorrelationID) != "req-kcat-booking" {
			t.Errorf("kcat: record %d@%d: correlation ID %q, header %q", r.Partition, r.Offset, env.CorrelationID, r.header(bus.HeaderCorrelationID))
		}
		seen = append(seen, env.Subject)
	}
	slices.Sort(seen)
	slices.Sort(refs)
	if !slices.Equal(seen, refs) {
		t.Fatalf("kcat saw bookings %v, want %v", seen, refs)
	}

	// A malformed message, then a good one with the same key (so the same
	// partition, after it), both produced by kcat.
	startAudit(t, h.Pool, b)
	const malformed = `{"type":"appointment.booked","subject":"not a reference","data":{"phone":"+49 351 000000"}}`
	kcat(t, malformed+"\n", "-F", conf, "-P", "-t", "vaxhub.appointment.v1", "-k", "somekey")
	good := bookedEvent("req-kcat-good")
	kcat(t, string(good.JSON())+"\n", "-F", conf, "-P", "-t", "vaxhub.appointment.v1", "-k", "somekey", "-H", "correlation_id=req-kcat-good")

	waitFor(t, "the good message's audit row", 20*time.Second, func() bool {
		return count(t, h.Pool, `SELECT count(*) FROM audit_events WHERE event_id = $1`, good.ID) == 1
	})
	var corr string
	if err := h.Pool.QueryRow(ctx, `SELECT correlation_id FROM audit_events WHERE event_id = $1`, good.ID).Scan(&corr); err != nil || corr != "req-kcat-good" {
		t.Errorf("good message audited with correlation ID %q (%v), want req-kcat-good", corr, err)
	}
	// Every booking and the good message are audited; the malformed one is
	// not. The bookings are on other partitions, with no order against the
	// good message: wait for them too.
	waitFor(t, "every booking's audit row", 20*time.Second, func() bool {
		return count(t, h.Pool, `SELECT count(*) FROM audit_events WHERE topic = 'vaxhub.appointment.v1'`) >= len(refs)+1
	})
	if n := count(t, h.Pool, `SELECT count(*) FROM audit_events WHERE topic = 'vaxhub.appointment.v1'`); n != len(refs)+1 {
		t.Errorf("%d appointment events audited, want %d", n, len(refs)+1)
	}

	// The malformed message is on vaxhub.dlq with a reason: read by kcat ...
	var dead []kcatRecord
	waitFor(t, "the dead letter", 10*time.Second, func() bool {
		dead = consumeWithKcat(t, conf, bus.DLQTopic)
		return len(dead) > 0
	})
	if len(dead) != 1 || dead[0].Payload == nil || *dead[0].Payload != malformed || *dead[0].Key != "somekey" {
		t.Fatalf("kcat: dead letters %+v, want exactly the malformed message", dead)
	}
	d := dead[0]
	if reason := d.header(bus.HeaderDLQReason); !strings.Contains(reason, "invalid") {
		t.Errorf("dlq-reason %q does not say the message is invalid", reason)
	}
	if d.header(bus.HeaderDLQTopic) != "vaxhub.appointment.v1" || d.header(bus.HeaderDLQHandler) != "audit" || d.header(bus.HeaderDLQOffset) == "" {
		t.Errorf("dead-letter headers %v: want origin topic, handler audit and offset", d.Headers)
	}
	// ... and by the DLQ tools.
	dls, err := bus.ListDLQ(ctx, cfg, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].Reason() != d.header(bus.HeaderDLQReason) || dls[0].OriginTopic() != "vaxhub.appointment.v1" {
		t.Errorf("ListDLQ: %+v", dls)
	}
	t.Logf("dead letter %d:%d reason: %s", d.Partition, d.Offset, d.header(bus.HeaderDLQReason))
}
