package bus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go"
)

// DLQTopic is the dead-letter topic.
const DLQTopic = "vaxhub.dlq"

// TopicFor returns the topic of an event type: "appointment.booked" goes to
// "vaxhub.appointment.v1" (the aggregate is the part before the first dot).
func TopicFor(eventType string) string {
	agg, _, _ := strings.Cut(eventType, ".")
	return "vaxhub." + agg + ".v1"
}

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name       string
	Partitions int
	// ReplicationFactor defaults to 1 (embedded broker, laptop); use 3 on a
	// real cluster.
	ReplicationFactor int
}

// EnsureTopics creates the topics that do not exist yet, through the
// controller. Existing topics are left as they are, so it is safe on every
// start-up and from several replicas at once.
func EnsureTopics(ctx context.Context, cfg Config, specs []TopicSpec) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if len(specs) == 0 {
		return nil
	}
	tcs := make([]kafka.TopicConfig, 0, len(specs))
	for _, s := range specs {
		if s.Name == "" || s.Partitions <= 0 {
			return fmt.Errorf("bus: ensure topics: bad spec %+v", s)
		}
		rf := s.ReplicationFactor
		if rf == 0 {
			rf = 1
		}
		tcs = append(tcs, kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: rf})
	}
	d, err := cfg.dialer()
	if err != nil {
		return err
	}
	var lastErr error
	for _, addr := range cfg.Brokers {
		if err := createTopics(ctx, d, addr, tcs); err != nil {
			lastErr = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		return nil
	}
	return fmt.Errorf("bus: ensure topics: %w", lastErr)
}

func createTopics(ctx context.Context, d *kafka.Dialer, addr string, tcs []kafka.TopicConfig) error {
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("find controller: %w", err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("dial controller: %w", err)
	}
	defer cc.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = cc.SetDeadline(dl)
	}
	err = cc.CreateTopics(tcs...)
	if errors.Is(err, kafka.TopicAlreadyExists) {
		return nil
	}
	return err
}
