package bus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// EmbeddedConfig configures the in-process Kafka-protocol broker.
type EmbeddedConfig struct {
	// Addr is host:port to listen on. Default "127.0.0.1:9092"; port 0 picks a
	// free port (tests).
	Addr string
	// DataDir keeps topics, offsets and groups across restarts. Empty: in memory.
	DataDir string
	// Partitions is the default partition count for topics created without
	// one. Default 16.
	Partitions int
	// SyncWrites fsyncs every produce (slower, survives a machine crash).
	SyncWrites bool
}

func (c *EmbeddedConfig) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:9092"
	}
	if c.Partitions == 0 {
		c.Partitions = 16
	}
}

// Validate reports the first thing wrong with c.
func (c *EmbeddedConfig) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("bus: embedded broker: address %q: %w", c.Addr, err)
	}
	if c.Partitions < 0 {
		return errors.New("bus: embedded broker: negative partitions")
	}
	return nil
}

// Embedded is a single-node Kafka-protocol broker (kfake) inside the process,
// for `vaxhub run` and tests. Nothing else in the code assumes it.
type Embedded struct {
	c     *kfake.Cluster
	addrs []string
}

// StartEmbedded starts the broker and returns once it accepts connections.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	addr := cfg.Addr
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			var lc net.ListenConfig
			return lc.Listen(ctx, network, addr)
		}),
		// Consumer groups in tests and on a laptop restart often; let them
		// use short sessions.
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded broker on %s: %w", addr, err)
	}
	return &Embedded{c: c, addrs: c.ListenAddrs()}, nil
}

// Addrs returns the address the broker listens on (with the real port when
// the configured port was 0).
func (e *Embedded) Addrs() []string { return append([]string(nil), e.addrs...) }

// Close stops the broker and, with a DataDir, writes its state to disk.
func (e *Embedded) Close() { e.c.Close() }
