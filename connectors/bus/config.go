package bus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Config says how to reach the Kafka cluster. It is shared by the publisher,
// the consumers, topic creation and the dead-letter tools. SASL and TLS are
// configuration, never code changes.
type Config struct {
	// Brokers are the bootstrap addresses, host:port.
	Brokers []string
	// ClientID is sent to the brokers for their logs and quotas. Default "vaxhub".
	ClientID string
	// BatchTimeout is how long the producer waits to fill a batch. kafka-go's
	// default is one second, which would add a second to every event; the
	// default here is 5 ms.
	BatchTimeout time.Duration
	// BatchSize is the most messages one produce request carries per
	// partition. Default 1000. The relay never hands the publisher more than
	// this in one call, so a call is one batch per partition (see Relay).
	BatchSize int
	// BatchBytes is the most bytes one produce request carries per partition.
	// Default 1 MiB (the broker's default message.max.bytes).
	BatchBytes int64
	// WriteTimeout bounds one produce round trip. Default 10 s.
	WriteTimeout time.Duration
	// DialTimeout bounds connecting (TCP, TLS and SASL). Default 10 s.
	DialTimeout time.Duration
	// SASL, when Mechanism is set, authenticates every connection.
	SASL SASLConfig
	// TLS, when Enabled, encrypts every connection.
	TLS TLSConfig
	// DLQKey signs the dead letters this process writes (header
	// dlq-signature, HMAC-SHA256) and checks them before ReplayDLQ puts one
	// back on its topic. Every consumer user may write the dead-letter
	// topic, so without it a leaked component password could forge a "dead
	// letter" that an operator's replay would turn into an event. The hub
	// derives it from the data key; nil: dead letters go unsigned and
	// ReplayDLQ refuses to run.
	DLQKey []byte `json:"-"`
}

// SASLConfig selects a SASL mechanism: "plain", "scram-sha-256" or
// "scram-sha-512" (case-insensitive). Empty means no SASL.
type SASLConfig struct {
	Mechanism string
	Username  string
	Password  string
}

// TLSConfig configures TLS to the brokers. Files are PEM.
type TLSConfig struct {
	Enabled            bool
	CAFile             string // empty: the system roots
	CertFile           string // client certificate, optional (mutual TLS)
	KeyFile            string
	ServerName         string // overrides the name checked in the broker certificate
	InsecureSkipVerify bool   // never in production
}

func (c *Config) setDefaults() {
	if c.ClientID == "" {
		c.ClientID = "vaxhub"
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = 5 * time.Millisecond
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1000
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 1 << 20
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
}

// Validate reports the first thing wrong with c, precisely.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("bus: config: no brokers")
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			return fmt.Errorf("bus: config: broker %q is not host:port", b)
		}
	}
	if c.BatchTimeout < 0 || c.BatchSize < 0 || c.BatchBytes < 0 || c.WriteTimeout < 0 || c.DialTimeout < 0 {
		return errors.New("bus: config: negative timeout or batch size")
	}
	if c.BatchTimeout > time.Second {
		return fmt.Errorf("bus: config: BatchTimeout %v adds that much latency to every event; use milliseconds", c.BatchTimeout)
	}
	switch strings.ToLower(c.SASL.Mechanism) {
	case "":
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.SASL.Username == "" {
			return fmt.Errorf("bus: config: SASL %s needs a username", c.SASL.Mechanism)
		}
	default:
		return fmt.Errorf("bus: config: unknown SASL mechanism %q (plain, scram-sha-256, scram-sha-512)", c.SASL.Mechanism)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("bus: config: TLS CertFile and KeyFile go together")
	}
	return nil
}

// withDefaults returns a validated copy of c with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	c.setDefaults()
	return c, c.Validate()
}

func (c *Config) saslMechanism() (sasl.Mechanism, error) {
	switch strings.ToLower(c.SASL.Mechanism) {
	case "":
		return nil, nil
	case "plain":
		return plain.Mechanism{Username: c.SASL.Username, Password: c.SASL.Password}, nil
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, c.SASL.Username, c.SASL.Password)
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, c.SASL.Username, c.SASL.Password)
	}
	return nil, fmt.Errorf("bus: unknown SASL mechanism %q", c.SASL.Mechanism)
}

func (c *Config) tlsConfig() (*tls.Config, error) {
	if !c.TLS.Enabled {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.TLS.ServerName,
		InsecureSkipVerify: c.TLS.InsecureSkipVerify, //nolint:gosec // explicit opt-in, documented
	}
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("bus: TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("bus: TLS CA %s: no certificates", c.TLS.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("bus: TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// dialer is used by readers and admin connections.
func (c *Config) dialer() (*kafka.Dialer, error) {
	mech, err := c.saslMechanism()
	if err != nil {
		return nil, err
	}
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{
		ClientID:      c.ClientID,
		Timeout:       c.DialTimeout,
		DualStack:     true,
		SASLMechanism: mech,
		TLS:           tc,
	}, nil
}

// transport is used by writers.
func (c *Config) transport() (*kafka.Transport, error) {
	mech, err := c.saslMechanism()
	if err != nil {
		return nil, err
	}
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{
		ClientID:    c.ClientID,
		DialTimeout: c.DialTimeout,
		SASL:        mech,
		TLS:         tc,
		MetadataTTL: 10 * time.Second,
	}, nil
}
