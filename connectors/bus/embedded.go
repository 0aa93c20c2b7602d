package bus

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// EmbeddedMechanism is the SASL mechanism clients of the embedded broker use
// by default; every user may also authenticate with SCRAM-SHA-512.
const EmbeddedMechanism = "SCRAM-SHA-256"

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
	// Users may connect, with SASL/SCRAM-SHA-256 or -512, each with its own
	// ACLs; nobody else may (issue 12: no unauthenticated client, no client
	// that may do more than its part). At least one is a superuser: it
	// creates the topics and sets the ACLs. The users and ACLs given here
	// replace whatever the broker kept in DataDir: they are set anew on
	// every start.
	Users []User
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
	return validateUsers(c.Users)
}

// Embedded is a single-node Kafka-protocol broker (kfake) inside the process,
// for `vaxhub run` and tests. Nothing else in the code assumes it.
type Embedded struct {
	c     *kfake.Cluster
	addrs []string
	users map[string]User
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
		// kfake keeps the SCRAM credentials and ACLs it was given in its
		// data directory and prefers them to the ones configured. The
		// configured users are the truth (a rotated password must work, a
		// removed ACL must be gone): drop its copies before it starts.
		for _, name := range []string{"sasl.json", "acls.json"} {
			if err := os.Remove(filepath.Join(cfg.DataDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("bus: embedded broker: reset %s: %w", name, err)
			}
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	opts = append(opts, kfake.EnableSASL(), kfake.EnableACLs())
	users := make(map[string]User, len(cfg.Users))
	var admin User
	for _, u := range cfg.Users {
		users[u.Name] = u
		if u.Superuser {
			admin = u
			opts = append(opts, kfake.Superuser("SCRAM-SHA-256", u.Name, u.Password), kfake.Superuser("SCRAM-SHA-512", u.Name, u.Password))
		} else {
			opts = append(opts, kfake.User("SCRAM-SHA-256", u.Name, u.Password), kfake.User("SCRAM-SHA-512", u.Name, u.Password))
		}
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded broker on %s: %w", addr, err)
	}
	e := &Embedded{c: c, addrs: c.ListenAddrs(), users: users}
	if err := advertiseSASLHandshakeV0(ctx, c, e.addrs[0]); err != nil {
		c.Close()
		return nil, err
	}
	if err := e.setACLs(ctx, admin, cfg.Users); err != nil {
		c.Close()
		return nil, err
	}
	return e, nil
}

// setACLs creates the users' ACLs as admin, through the Kafka protocol
// (kfake seeds ACLs only into an empty data directory).
func (e *Embedded) setACLs(ctx context.Context, admin User, users []User) error {
	var entries []kafka.ACLEntry
	for _, u := range users {
		for _, a := range u.ACLs {
			en, err := a.entry(u.Name)
			if err != nil {
				return err
			}
			entries = append(entries, en)
		}
	}
	if len(entries) == 0 {
		return nil
	}
	cfg, err := e.Config(admin.Name)
	if err != nil {
		return err
	}
	cfg.setDefaults()
	tr, err := cfg.transport()
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(e.addrs...), Timeout: 10 * time.Second, Transport: tr}
	res, err := cl.CreateACLs(ctx, &kafka.CreateACLsRequest{ACLs: entries})
	if err != nil {
		return fmt.Errorf("bus: embedded broker: set ACLs: %w", err)
	}
	for i, err := range res.Errors {
		if err != nil {
			return fmt.Errorf("bus: embedded broker: ACL %+v: %w", entries[i], err)
		}
	}
	return nil
}

// Config returns the client configuration of user: the broker's address and
// the user's SCRAM credentials.
func (e *Embedded) Config(user string) (Config, error) {
	u, ok := e.users[user]
	if !ok {
		return Config{}, fmt.Errorf("bus: embedded broker has no user %q", user)
	}
	return Config{Brokers: e.Addrs(), SASL: SASLConfig{Mechanism: strings.ToLower(EmbeddedMechanism), Username: u.Name, Password: u.Password}}, nil
}

// Addrs returns the address the broker listens on (with the real port when
// the configured port was 0).
func (e *Embedded) Addrs() []string { return append([]string(nil), e.addrs...) }

// Close stops the broker and, with a DataDir, writes its state to disk.
func (e *Embedded) Close() { e.c.Close() }
