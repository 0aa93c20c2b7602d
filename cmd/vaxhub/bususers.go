package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vaxhub/vaxhub/connectors/bus"
)

// The bus users: every part of the hub that talks to Kafka connects as its
// own user, with the least it needs (issue 12, point 5).
const (
	busAdmin = "admin" // embedded broker only: superuser; creates the topics, sets the ACLs
	busRelay = "relay" // the outbox relay: writes the event topics
	// Each component whose Spec has a Bus has a user of its name
	// (components.go); these two are named in the tools and benchmarks.
	busRegister = "register"
	busPrint    = "print"
	busOperator = "operator" // people: read every topic, replay dead letters
	busTester   = "tester"   // `vaxhub run` only: may also write every topic (inject a malformed message on purpose)
)

// busUsers are the users of the embedded broker, in the order they are
// listed: admin and the relay, one per component that consumes (its Spec's
// Bus, in the order of the component list), the operator and the tester.
func busUsers() []string {
	out := []string{busAdmin, busRelay}
	for _, s := range specs() {
		if s.Bus != nil {
			out = append(out, s.Name)
		}
	}
	return append(out, busOperator, busTester)
}

// busACLs is what user may do on the bus, given the event topics. Every
// consumer may write the dead-letter topic (its own dead letters); none may
// write an event topic: events come only from the outbox, through the relay.
func busACLs(user string, topics []string) []bus.ACL {
	consumer := func(topics []string, groups ...string) []bus.ACL {
		out := append(bus.ReadTopics(topics...), bus.ReadGroups(groups...)...)
		return append(out, bus.WriteTopics(bus.DLQTopic)...)
	}
	switch user {
	case busRelay:
		return bus.WriteTopics(topics...)
	case busOperator:
		// Read everything (kcat, vaxhub dlq list|show), consume in groups of
		// its own, and write the event topics (vaxhub dlq replay).
		out := []bus.ACL{{Resource: bus.ResourceTopic, Name: "*", Operation: bus.OpRead},
			{Resource: bus.ResourceGroup, Name: "vaxhub-operator", Prefixed: true, Operation: bus.OpRead}}
		return append(out, bus.WriteTopics(topics...)...)
	case busTester:
		return []bus.ACL{{Resource: bus.ResourceTopic, Name: "*", Operation: bus.OpRead},
			{Resource: bus.ResourceTopic, Name: "*", Operation: bus.OpWrite},
			{Resource: bus.ResourceGroup, Name: "*", Operation: bus.OpRead}}
	}
	for _, s := range specs() {
		if s.Name == user && s.Bus != nil {
			read := s.Bus.Topics
			if s.Bus.AllTopics {
				read = topics
			}
			return consumer(read, s.Bus.Groups...)
		}
	}
	return nil
}

// embeddedUsers are the users of the embedded broker with the passwords of
// the credentials file.
func embeddedUsers(passwords map[string]string, topics []string) []bus.User {
	out := make([]bus.User, 0, len(busUsers()))
	for _, name := range busUsers() {
		out = append(out, bus.User{Name: name, Password: passwords[name], Superuser: name == busAdmin, ACLs: busACLs(name, topics)})
	}
	return out
}

// kafkaUsersFile is the credentials file of the embedded broker in the data
// directory: generated on the first start, mode 0600, reused afterwards.
// Delete it (and restart) to rotate every password.
type kafkaUsersFile struct {
	Mechanism string            `json:"mechanism"`
	Users     map[string]string `json:"users"`
}

func kafkaUsersPath(dataDir string) string { return filepath.Join(dataDir, "kafka-users.json") }

// readKafkaUsers reads the credentials file; found is false when there is none yet.
func readKafkaUsers(dataDir string) (users map[string]string, found bool, err error) {
	path := kafkaUsersPath(dataDir)
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("kafka users: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, true, fmt.Errorf("kafka users: %s is readable by others (mode %v): chmod 600 it, or delete it to have new passwords made", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, true, fmt.Errorf("kafka users: %w", err)
	}
	var f kafkaUsersFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, true, fmt.Errorf("kafka users: %s: %w", path, err)
	}
	return f.Users, true, nil
}

// ensureKafkaUsers returns the passwords of every bus user, making up (and
// writing) those the credentials file does not have yet.
func ensureKafkaUsers(dataDir string) (map[string]string, error) {
	users, _, err := readKafkaUsers(dataDir)
	if err != nil {
		return nil, err
	}
	if users == nil {
		users = map[string]string{}
	}
	changed := false
	for _, name := range busUsers() {
		if len(users[name]) < 16 {
			users[name] = newBusPassword()
			changed = true
		}
	}
	if !changed {
		return users, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	b, err := json.MarshalIndent(kafkaUsersFile{Mechanism: bus.EmbeddedMechanism, Users: users}, "", "  ")
	if err != nil {
		return nil, err
	}
	path := kafkaUsersPath(dataDir)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("kafka users: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("kafka users: %w", err)
	}
	return users, nil
}

func newBusPassword() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newKafkaUsers makes up passwords for every bus user, kept nowhere (the
// benchmarks' throw-away brokers).
func newKafkaUsers() map[string]string {
	out := map[string]string{}
	for _, n := range busUsers() {
		out[n] = newBusPassword()
	}
	return out
}

// busCredentials hands each part of the hub its Kafka configuration.
type busCredentials struct {
	base bus.Config
	// embedded: the passwords of the embedded broker's users; nil for a
	// real cluster.
	embedded map[string]string
	// perUser: per-user SASL settings for a real cluster (kafka_users);
	// a user not listed connects with base's SASL settings.
	perUser map[string]bus.SASLConfig
}

// forUser returns the Kafka configuration user connects with.
func (b busCredentials) forUser(user string) (bus.Config, error) {
	c := b.base
	if b.embedded != nil {
		pw, ok := b.embedded[user]
		if !ok {
			return bus.Config{}, fmt.Errorf("the embedded broker has no user %q", user)
		}
		c.SASL = bus.SASLConfig{Mechanism: strings.ToLower(bus.EmbeddedMechanism), Username: user, Password: pw}
		c.TLS = bus.TLSConfig{}
		return c, nil
	}
	if s, ok := b.perUser[user]; ok {
		if s.Mechanism == "" {
			s.Mechanism = c.SASL.Mechanism
		}
		c.SASL = s
	}
	return c, nil
}

// must is forUser for the users the hub itself knows to exist.
func (b busCredentials) must(user string) bus.Config {
	c, err := b.forUser(user)
	if err != nil {
		panic(err) // a user of busUsers()
	}
	return c
}

// librdkafkaConfig is c as a librdkafka configuration (kcat -F FILE).
func librdkafkaConfig(c bus.Config, user string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# vaxhub: Kafka as %s (kcat -F THIS-FILE). Contains a password: keep it private.\n", orDefault(user, "(no SASL)"))
	fmt.Fprintf(&b, "bootstrap.servers=%s\n", strings.Join(c.Brokers, ","))
	proto := "PLAINTEXT"
	switch {
	case c.SASL.Mechanism != "" && c.TLS.Enabled:
		proto = "SASL_SSL"
	case c.SASL.Mechanism != "":
		proto = "SASL_PLAINTEXT"
	case c.TLS.Enabled:
		proto = "SSL"
	}
	fmt.Fprintf(&b, "security.protocol=%s\n", proto)
	if c.SASL.Mechanism != "" {
		fmt.Fprintf(&b, "sasl.mechanisms=%s\n", strings.ToUpper(c.SASL.Mechanism))
		fmt.Fprintf(&b, "sasl.username=%s\n", c.SASL.Username)
		fmt.Fprintf(&b, "sasl.password=%s\n", c.SASL.Password)
	}
	if c.TLS.Enabled {
		for _, kv := range [][2]string{{"ssl.ca.location", c.TLS.CAFile}, {"ssl.certificate.location", c.TLS.CertFile}, {"ssl.key.location", c.TLS.KeyFile}} {
			if kv[1] != "" {
				fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
			}
		}
		if c.TLS.InsecureSkipVerify {
			b.WriteString("enable.ssl.certificate.verification=false\n")
		}
	}
	return b.String()
}

// personUsers are the users `vaxhub kafka kcat-config` hands out on the
// embedded broker: the components' own credentials stay in the hub.
var personUsers = []string{busOperator, busTester}

func isPersonUser(u string) bool { return slices.Contains(personUsers, u) }
