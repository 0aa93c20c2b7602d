package bus

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Headers a dead letter carries, besides the original message's headers.
const (
	HeaderDLQReason    = "dlq-reason"    // why: schema, permanent error, retries exhausted
	HeaderDLQTopic     = "dlq-topic"     // where it came from (and where a replay goes)
	HeaderDLQPartition = "dlq-partition" // its partition there
	HeaderDLQOffset    = "dlq-offset"    // its offset there
	HeaderDLQHandler   = "dlq-handler"   // the handler that gave up
	HeaderDLQTime      = "dlq-time"      // when, RFC 3339 UTC
	// HeaderDLQReplayOf is set on a replayed message: the dead letter's ID.
	HeaderDLQReplayOf = "dlq-replay-of"
	// HeaderDLQSignature is the HMAC-SHA256 (hex) of the dead letter under
	// Config.DLQKey: origin, handler, reason, key and value.
	HeaderDLQSignature = "dlq-signature"
)

// ErrDLQNotFound is returned for a dead-letter ID that does not exist.
var ErrDLQNotFound = errors.New("dead letter not found")

// DeadLetter is one message on the dead-letter topic. ID is
// "<partition>:<offset>" on that topic.
type DeadLetter struct {
	ID        string
	Partition int
	Offset    int64
	Time      time.Time // when it was dead-lettered (broker time)
	Key       string
	Value     []byte
	Headers   map[string]string // all headers, dlq-* included
}

// Reason, OriginTopic and Handler read the dlq-* headers.
func (d DeadLetter) Reason() string      { return d.Headers[HeaderDLQReason] }
func (d DeadLetter) OriginTopic() string { return d.Headers[HeaderDLQTopic] }
func (d DeadLetter) Handler() string     { return d.Headers[HeaderDLQHandler] }

// ParseDLQID parses "<partition>:<offset>".
func ParseDLQID(id string) (partition int, offset int64, err error) {
	p, o, ok := strings.Cut(id, ":")
	if ok {
		partition, err = strconv.Atoi(p)
		if err == nil {
			offset, err = strconv.ParseInt(o, 10, 64)
		}
	}
	if !ok || err != nil || partition < 0 || offset < 0 {
		return 0, 0, fmt.Errorf("bus: dead-letter ID %q is not <partition>:<offset>", id)
	}
	return partition, offset, nil
}

// ListDLQ returns the newest limit dead letters (all when limit <= 0), oldest
// first.
func ListDLQ(ctx context.Context, cfg Config, limit int) ([]DeadLetter, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err := cfg.dialer()
	if err != nil {
		return nil, err
	}
	parts, err := dlqPartitions(ctx, d, cfg.Brokers)
	if err != nil {
		return nil, err
	}
	var out []DeadLetter
	for _, p := range parts {
		first, last, err := partitionOffsets(ctx, d, cfg.Brokers, p)
		if err != nil {
			return nil, err
		}
		if limit > 0 && last-first > int64(limit) {
			first = last - int64(limit)
		}
		dls, err := readRange(ctx, cfg, d, p, first, last)
		if err != nil {
			return nil, err
		}
		out = append(out, dls...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].ID < out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// ShowDLQ returns the dead letter with the given ID ("<partition>:<offset>").
func ShowDLQ(ctx context.Context, cfg Config, id string) (DeadLetter, error) {
	p, o, err := ParseDLQID(id)
	if err != nil {
		return DeadLetter{}, err
	}
	cfg, err = cfg.withDefaults()
	if err != nil {
		return DeadLetter{}, err
	}
	d, err := cfg.dialer()
	if err != nil {
		return DeadLetter{}, err
	}
	first, last, err := partitionOffsets(ctx, d, cfg.Brokers, p)
	if err != nil {
		return DeadLetter{}, err
	}
	if o < first || o >= last {
		return DeadLetter{}, fmt.Errorf("bus: %s: %w", id, ErrDLQNotFound)
	}
	dls, err := readRange(ctx, cfg, d, p, o, o+1)
	if err != nil {
		return DeadLetter{}, err
	}
	if len(dls) != 1 || dls[0].Offset != o {
		return DeadLetter{}, fmt.Errorf("bus: %s: %w", id, ErrDLQNotFound)
	}
	return dls[0], nil
}

// ReplayDLQ republishes dead letters to the topic they came from, with their
// original key, value and headers (dlq-* removed, dlq-replay-of added). id is
// one "<partition>:<offset>" or "all". It returns how many it republished.
// The dead letters stay on the dead-letter topic (Kafka is a log); consumers
// are idempotent, so replaying twice is harmless.
//
// Only dead letters signed with cfg.DLQKey are replayed; an unsigned or
// wrongly signed one (written by anyone but the hub's consumers, or before
// signing began) stops the replay with ErrDLQNotSigned before anything is
// published.
func ReplayDLQ(ctx context.Context, cfg Config, id string) (int, error) {
	var dls []DeadLetter
	if id == "all" {
		var err error
		if dls, err = ListDLQ(ctx, cfg, 0); err != nil {
			return 0, err
		}
	} else {
		dl, err := ShowDLQ(ctx, cfg, id)
		if err != nil {
			return 0, err
		}
		dls = []DeadLetter{dl}
	}
	if len(dls) == 0 {
		return 0, nil
	}
	if len(cfg.DLQKey) == 0 {
		return 0, errors.New("bus: replay needs the key that signs dead letters (the hub derives it from its data key): without it a forged dead letter could not be told from a real one")
	}
	msgs := make([]Message, 0, len(dls))
	for _, dl := range dls {
		topic := dl.OriginTopic()
		if topic == "" {
			return 0, fmt.Errorf("bus: replay %s: no %s header", dl.ID, HeaderDLQTopic)
		}
		if !hmac.Equal([]byte(dl.Headers[HeaderDLQSignature]), []byte(SignDeadLetter(cfg.DLQKey, dl.Headers, dl.Key, dl.Value))) {
			return 0, fmt.Errorf("bus: replay %s: %w", dl.ID, ErrDLQNotSigned)
		}
		h := make(map[string]string, len(dl.Headers))
		for k, v := range dl.Headers {
			if !strings.HasPrefix(k, "dlq-") {
				h[k] = v
			}
		}
		h[HeaderDLQReplayOf] = dl.ID
		msgs = append(msgs, Message{Topic: topic, Key: dl.Key, Value: dl.Value, Headers: h})
	}
	pub, err := NewPublisher(cfg)
	if err != nil {
		return 0, err
	}
	defer pub.Close()
	if err := pub.Publish(ctx, msgs...); err != nil {
		return 0, fmt.Errorf("bus: replay: %w", err)
	}
	return len(msgs), nil
}

func dlqPartitions(ctx context.Context, d *kafka.Dialer, brokers []string) ([]int, error) {
	var lastErr error
	for _, b := range brokers {
		ps, err := d.LookupPartitions(ctx, "tcp", b, DLQTopic)
		if err != nil {
			lastErr = err
			continue
		}
		out := make([]int, 0, len(ps))
		for _, p := range ps {
			out = append(out, p.ID)
		}
		sort.Ints(out)
		return out, nil
	}
	return nil, fmt.Errorf("bus: dead-letter topic %s: %w", DLQTopic, lastErr)
}

func partitionOffsets(ctx context.Context, d *kafka.Dialer, brokers []string, p int) (first, last int64, err error) {
	for _, b := range brokers {
		var conn *kafka.Conn
		conn, err = d.DialLeader(ctx, "tcp", b, DLQTopic, p)
		if err != nil {
			continue
		}
		first, last, err = conn.ReadOffsets()
		conn.Close()
		if err == nil {
			return first, last, nil
		}
	}
	return 0, 0, fmt.Errorf("bus: %s partition %d offsets: %w", DLQTopic, p, err)
}

// readRange reads offsets [from, to) of one dead-letter partition.
func readRange(ctx context.Context, cfg Config, d *kafka.Dialer, p int, from, to int64) ([]DeadLetter, error) {
	if from >= to {
		return nil, nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   cfg.Brokers,
		Topic:     DLQTopic,
		Partition: p,
		Dialer:    d,
		MinBytes:  1,
		MaxBytes:  10 << 20,
		MaxWait:   200 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		return nil, err
	}
	var out []DeadLetter
	for {
		km, err := r.ReadMessage(ctx) // no GroupID: nothing is committed
		if err != nil {
			return nil, fmt.Errorf("bus: read %s partition %d: %w", DLQTopic, p, err)
		}
		if km.Offset >= to {
			break
		}
		m := fromKafka(km)
		out = append(out, DeadLetter{
			ID:        fmt.Sprintf("%d:%d", p, km.Offset),
			Partition: p,
			Offset:    km.Offset,
			Time:      km.Time,
			Key:       m.Key,
			Value:     m.Value,
			Headers:   m.Headers,
		})
		if km.Offset >= to-1 {
			break
		}
	}
	return out, nil
}

// ErrDLQNotSigned: a dead letter does not carry the hub's signature.
var ErrDLQNotSigned = errors.New("the dead letter is not signed by this hub (forged, or written before dead letters were signed): refusing to replay it")

// SignDeadLetter signs what a replay trusts: where the message came from and
// goes back to, who gave up on it and why, and its key and value.
func SignDeadLetter(key []byte, h map[string]string, msgKey string, value []byte) string {
	m := hmac.New(sha256.New, key)
	for _, name := range []string{HeaderDLQTopic, HeaderDLQPartition, HeaderDLQOffset, HeaderDLQHandler, HeaderDLQReason, HeaderDLQTime} {
		fmt.Fprintf(m, "%s=%d:%s\n", name, len(h[name]), h[name])
	}
	fmt.Fprintf(m, "key=%d:", len(msgKey))
	io.WriteString(m, msgKey)
	fmt.Fprintf(m, "\nvalue=%d:", len(value))
	m.Write(value)
	return hex.EncodeToString(m.Sum(nil))
}
