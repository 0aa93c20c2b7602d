package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/vaxhub/vaxhub/connectors/api"
	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/component"
	"github.com/vaxhub/vaxhub/connectors/ratelimit"
)

type mode int

const (
	modeRun mode = iota // laptop: dev token allowed, key file created, local broker
	modeHub             // production: every secret from configuration
)

// config is the effective configuration: flags, then environment, then one YAML file.
type config struct {
	HTTPAddr     string           `json:"http_addr"`
	DatabaseURL  string           `json:"database_url"`
	DataDir      string           `json:"data_dir"`
	DataKey      string           `json:"data_key"` // base64 or hex of 32 bytes
	Campaign     string           `json:"campaign"` // "saxony-2021" (embedded) or a directory
	TimeZone     string           `json:"time_zone"`
	SlotDays     int              `json:"slot_days"`
	StaffTokens  []api.StaffToken `json:"staff_tokens"`
	DevToken     string           `json:"-"`
	KafkaBrokers string           `json:"kafka_brokers"`
	KafkaAddr    string           `json:"kafka_addr"`
	LogLevel     string           `json:"log_level"`
	// BookingLanes: booking transactions that run at once (see store.Options).
	BookingLanes int `json:"booking_lanes"`
	// TrustedProxies are the reverse proxies (addresses or networks) whose
	// X-Forwarded-For the API's per-address rate limit believes; empty: the
	// TCP peer is the client. Env VAXHUB_TRUSTED_PROXIES, comma-separated.
	TrustedProxies []string `json:"trusted_proxies"`
	// APILimits are the public JSON API's rate limits for callers without a
	// staff token (see api.Config); zero keeps the portal's figures:
	// 20/s with bursts of 100 per client address, 5/s with bursts of 40 per
	// bearer token; a negative rate switches a limit off.
	APILimits struct {
		AddressRate  float64 `json:"address_rate"`
		AddressBurst int     `json:"address_burst"`
		TokenRate    float64 `json:"token_rate"`
		TokenBurst   int     `json:"token_burst"`
	} `json:"api_limits"`
	// The components' fields (sap, print, servicenow, register, hotline,
	// ...) are read by their specs: see components.go and componentValues.
	// RequireVerification: only residents the register (or staff, by hand)
	// confirmed may book. Default true; VAXHUB_REQUIRE_VERIFICATION=false
	// switches it off.
	RequireVerification *bool `json:"require_verification"`

	// Kafka holds SASL, TLS and producer tuning for a real cluster (keys as
	// the bus.Config field names, case-insensitive: kafka: {sasl: {mechanism: scram-sha-512, ...}, tls: {enabled: true}}).
	// KAFKA_SASL_MECHANISM, KAFKA_SASL_USER and KAFKA_SASL_PASSWORD set its SASL part.
	// The embedded broker ignores it: its users are in <data_dir>/kafka-users.json.
	Kafka bus.Config `json:"kafka"`
	// KafkaUsers gives parts of the hub their own user on a real cluster
	// (relay, audit, sap, servicenow, register, print; operator for the
	// tools), e.g. kafka_users: {relay: {username: vaxhub-relay, password: ...}};
	// a part not listed connects as the user of kafka.sasl.
	KafkaUsers map[string]bus.SASLConfig `json:"kafka_users"`
	// KafkaPartitions is the partition count of topics created at start-up; KafkaReplicationFactor
	// their replication (0: 1 on the embedded broker, 3 on a real cluster).
	KafkaPartitions        int `json:"kafka_partitions"`
	KafkaReplicationFactor int `json:"kafka_replication_factor"`

	mode    mode
	proxies ratelimit.TrustedProxies
	key     []byte
	loc     *time.Location
	sources map[string]string
	// comp holds each component's field values by spec name, as read from
	// the file and the environment (defaults applied).
	comp map[string]component.Values
}

// superuserURL is the database URL when none is configured and `vaxhub run`
// finds no database.url in the data dir: PostgreSQL's superuser on this
// machine, which logs in only where the server trusts it.
const superuserURL = "postgres://postgres@127.0.0.1:5432/vaxhub"

// databaseURLFile, in the data dir, holds the URL of the vaxhub role that
// deploy/local/ensure-postgres.sh run (make run) creates with a generated
// password; `vaxhub run` uses it when no database URL is configured.
const databaseURLFile = "database.url"

func defaultConfig() config {
	return config{HTTPAddr: "127.0.0.1:8080", DatabaseURL: superuserURL, DataDir: ".vaxhub",
		Campaign: "saxony-2021", TimeZone: "Europe/Berlin", SlotDays: 120, KafkaAddr: "127.0.0.1:9092", KafkaPartitions: 6, LogLevel: "info",
		sources: map[string]string{}}
}

func loadConfig(args []string, m mode) (*config, error) {
	c := defaultConfig()
	c.mode = m
	fs := flag.NewFlagSet("vaxhub", flag.ContinueOnError)
	file := fs.String("config", os.Getenv("VAXHUB_CONFIG"), "YAML configuration file (env VAXHUB_CONFIG)")
	httpAddr := fs.String("http-addr", "", "API listen address (env VAXHUB_HTTP_ADDR, default 127.0.0.1:8080)")
	dbURL := fs.String("database-url", "", "PostgreSQL URL (env DATABASE_URL)")
	dataDir := fs.String("data-dir", "", "directory for local state: broker data, the local data key (env VAXHUB_DATA_DIR)")
	campaign := fs.String("campaign", "", "campaign to load: an embedded name or a directory (env VAXHUB_CAMPAIGN)")
	brokers := fs.String("kafka-brokers", "", "Kafka brokers of a real cluster; empty starts the embedded broker (env KAFKA_BROKERS)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (env VAXHUB_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, &usageError{helpShown}
		}
		return nil, &usageError{err.Error()}
	}
	dbURLInFile := false
	if *file != "" {
		c.DatabaseURL = ""
		if err := c.readFile(*file); err != nil {
			return nil, err
		}
		dbURLInFile = c.DatabaseURL != ""
		c.DatabaseURL = orDefault(c.DatabaseURL, superuserURL)
	}
	env := map[string]*string{"VAXHUB_HTTP_ADDR": &c.HTTPAddr, "DATABASE_URL": &c.DatabaseURL, "VAXHUB_DATA_DIR": &c.DataDir,
		"VAXHUB_DATA_KEY": &c.DataKey, "VAXHUB_CAMPAIGN": &c.Campaign, "KAFKA_BROKERS": &c.KafkaBrokers, "VAXHUB_KAFKA_ADDR": &c.KafkaAddr, "VAXHUB_LOG_LEVEL": &c.LogLevel,
		"VAXHUB_TIME_ZONE": &c.TimeZone}
	for name, dst := range env {
		if v := os.Getenv(name); v != "" {
			*dst = v
			c.sources[name] = "env"
		}
	}
	c.kafkaSASLFromEnv()
	if err := c.componentValues(); err != nil {
		return nil, err
	}
	if v := os.Getenv("VAXHUB_REQUIRE_VERIFICATION"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("VAXHUB_REQUIRE_VERIFICATION: want true or false, got %q", v)
		}
		c.RequireVerification = &b
	}
	if v := os.Getenv("VAXHUB_BOOKING_LANES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("VAXHUB_BOOKING_LANES: want a positive number, got %q", v)
		}
		c.BookingLanes = n
	}
	if v := os.Getenv("VAXHUB_TRUSTED_PROXIES"); v != "" {
		c.TrustedProxies = strings.Split(v, ",")
	}
	if v := os.Getenv("VAXHUB_STAFF_TOKENS"); v != "" {
		toks, err := parseTokens(v)
		if err != nil {
			return nil, fmt.Errorf("VAXHUB_STAFF_TOKENS: %w", err)
		}
		c.StaffTokens = toks
	}
	c.DevToken = os.Getenv("VAXHUB_DEV_TOKEN")
	flags := map[string]struct {
		v   *string
		dst *string
	}{"http-addr": {httpAddr, &c.HTTPAddr}, "database-url": {dbURL, &c.DatabaseURL}, "data-dir": {dataDir, &c.DataDir},
		"campaign": {campaign, &c.Campaign}, "kafka-brokers": {brokers, &c.KafkaBrokers}, "log-level": {logLevel, &c.LogLevel}}
	fs.Visit(func(f *flag.Flag) {
		if x, ok := flags[f.Name]; ok {
			*x.dst = *x.v
			c.sources[f.Name] = "flag"
		}
	})
	if err := c.localDatabaseURL(dbURLInFile); err != nil {
		return nil, err
	}
	return &c, c.finish()
}

// kafkaSASLFromEnv applies KAFKA_SASL_MECHANISM, KAFKA_SASL_USER and
// KAFKA_SASL_PASSWORD over the config file's kafka.sasl.
func (c *config) kafkaSASLFromEnv() {
	for name, dst := range map[string]*string{"KAFKA_SASL_MECHANISM": &c.Kafka.SASL.Mechanism,
		"KAFKA_SASL_USER": &c.Kafka.SASL.Username, "KAFKA_SASL_PASSWORD": &c.Kafka.SASL.Password} {
		if v := os.Getenv(name); v != "" {
			*dst = v
			if c.sources != nil {
				c.sources[name] = "env"
			}
		}
	}
}

// localDatabaseURL makes the URL in the data dir's database.url the
// default of `vaxhub run`: a URL from a flag, DATABASE_URL or the config
// file wins, and without the file the default stays superuserURL.
func (c *config) localDatabaseURL(configured bool) error {
	if c.mode != modeRun || configured || c.sources["DATABASE_URL"] != "" || c.sources["database-url"] != "" {
		return nil
	}
	path := filepath.Join(c.DataDir, databaseURLFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("database url: %w", err)
	}
	u, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if u == "" {
		return fmt.Errorf("database url: %s is empty (delete it and run deploy/local/ensure-postgres.sh run)", path)
	}
	c.DatabaseURL = u
	c.sources["database_url"] = path
	return nil
}

func (c *config) readFile(name string) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return fmt.Errorf("config file %s: %w", name, err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(j, &top); err != nil {
		return fmt.Errorf("config file %s: %w", name, err)
	}
	for _, spec := range specs() {
		raw, ok := top[spec.Name]
		if !ok || len(spec.Fields) == 0 {
			continue
		}
		delete(top, spec.Name)
		var section map[string]any
		if err := json.Unmarshal(raw, &section); err != nil {
			return fmt.Errorf("config file %s: %s: %w", name, spec.Name, err)
		}
		for k, v := range section {
			if _, ok := spec.Field(k); !ok {
				return fmt.Errorf("config file %s: %s.%s: no such field (see vaxhub config)", name, spec.Name, k)
			}
			c.fileValue(spec.Name)[k] = scalar(v)
		}
	}
	if j, err = json.Marshal(top); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config file %s: %w", name, err)
	}
	return nil
}

// fileValue returns the values of component name read so far.
func (c *config) fileValue(name string) component.Values {
	if c.comp == nil {
		c.comp = map[string]component.Values{}
	}
	if c.comp[name] == nil {
		c.comp[name] = component.Values{}
	}
	return c.comp[name]
}

// scalar is a YAML value as the string a field holds (a list joined by commas).
func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = scalar(e)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(x)
	}
}

// componentValues completes each component's values: the environment over
// the file, then the default (under `vaxhub run` the RunDefault, except for
// the Switch field, which cmdRun sets when it starts the stand-in). `vaxhub
// hub` refuses a component that is on without a required field.
func (c *config) componentValues() error {
	for _, spec := range specs() {
		v := c.fileValue(spec.Name)
		for _, f := range spec.Fields {
			if e := os.Getenv(f.Env); e != "" {
				v[f.Name] = e
				c.sources[f.Env] = "env"
			}
			if v[f.Name] != "" {
				continue
			}
			v[f.Name] = f.Default
			if c.mode == modeRun && f.RunDefault != "" && f.Name != spec.Switch {
				v[f.Name] = f.RunDefault
			}
		}
		if c.mode != modeHub || !switchedOn(spec, v) {
			continue
		}
		for _, f := range spec.Fields {
			if f.Required && v[f.Name] == "" {
				sw, _ := spec.Field(spec.Switch)
				return fmt.Errorf("%s is on (%s is set) but %s.%s is missing: set %s", spec.Name, sw.Env, spec.Name, f.Name, f.Env)
			}
		}
	}
	return nil
}

// values are the field values of the component of spec.
func (c *config) values(spec component.Spec) component.Values {
	return c.fileValue(spec.Name)
}

// runSwitches switches on, under `vaxhub run`, what a laptop runs itself:
// a component with a simulator talks to it (sims: name to URL of the
// simulators started), one with a RunDefault on its Switch field (the
// hotline) listens there. Configured values win.
func (c *config) runSwitches(sims map[string]string) {
	for _, spec := range specs() {
		if spec.Switch == "" {
			continue
		}
		v := c.values(spec)
		if v[spec.Switch] != "" {
			continue
		}
		if u, ok := sims[spec.Simulator]; ok && spec.Simulator != "" {
			v[spec.Switch] = u
		} else if f, _ := spec.Field(spec.Switch); f.RunDefault != "" {
			v[spec.Switch] = f.RunDefault
		}
	}
}

// parseTokens reads "name:sha256hex:role+role,name2:...".
func parseTokens(s string) ([]api.StaffToken, error) {
	var out []api.StaffToken
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(strings.TrimSpace(part), ":")
		if len(f) != 3 {
			return nil, fmt.Errorf("%q: want name:sha256hex:role+role", part)
		}
		t := api.StaffToken{Name: f[0], SHA256: strings.ToLower(f[1]), Roles: strings.Split(f[2], "+")}
		if err := t.Validate(); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func (c *config) finish() error {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return fmt.Errorf("time_zone %q: %w", c.TimeZone, err)
	}
	c.loc = loc
	if c.proxies, err = ratelimit.ParseTrustedProxies(c.TrustedProxies); err != nil {
		return fmt.Errorf("trusted_proxies: %w", err)
	}
	for _, t := range c.StaffTokens {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("staff_tokens: %w", err)
		}
	}
	if c.DevToken != "" {
		if c.mode == modeHub {
			return errors.New("VAXHUB_DEV_TOKEN is set, but `vaxhub hub` refuses a token with every role: configure staff_tokens instead")
		}
		if len(c.DevToken) < 8 {
			return errors.New("VAXHUB_DEV_TOKEN must have at least 8 characters")
		}
		c.StaffTokens = append(c.StaffTokens, api.DevToken(c.DevToken))
	}
	switch {
	case c.DataKey != "":
		k, err := decodeKey(c.DataKey)
		if err != nil {
			return fmt.Errorf("data key: %w", err)
		}
		c.key = k
	case c.mode == modeHub:
		return errors.New("no data key: set VAXHUB_DATA_KEY (32 bytes, base64 or hex) so that health data can be sealed")
	default:
		k, err := localKey(c.DataDir)
		if err != nil {
			return err
		}
		c.key = k
		c.sources["data_key"] = filepath.Join(c.DataDir, "data.key")
	}
	c.Kafka.DLQKey = derivedKey(c, dlqKeyLabel)
	return nil
}

// dlqKeyLabel derives the key that signs dead letters (bus.Config.DLQKey).
const dlqKeyLabel = "dead letters"

func decodeKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	return nil, errors.New("must be 32 bytes as 64 hex digits or base64")
}

// localKey reads or creates the data key of a local run in dataDir.
func localKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, "data.key")
	b, err := os.ReadFile(path)
	if err == nil {
		return decodeKey(strings.TrimSpace(string(b)))
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("data key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	return k, nil
}

// print writes the effective configuration with secrets masked.
func (c *config) print(w io.Writer) {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "****"
	}
	fmt.Fprintln(w, "effective configuration:")
	fmt.Fprintf(w, "  http_addr:     %s\n", c.HTTPAddr)
	fmt.Fprintf(w, "  database_url:  %s%s\n", maskURL(c.DatabaseURL), sourceNote(c.sources["database_url"]))
	fmt.Fprintf(w, "  data_dir:      %s\n", c.DataDir)
	fmt.Fprintf(w, "  data_key:      %s (%s)\n", mask("k"), orDefault(c.sources["data_key"], "configured"))
	fmt.Fprintf(w, "  campaign:      %s\n", c.Campaign)
	fmt.Fprintf(w, "  time_zone:     %s\n", c.TimeZone)
	fmt.Fprintf(w, "  kafka_brokers: %s\n", orDefault(c.KafkaBrokers, "(embedded broker on "+c.KafkaAddr+")"))
	fmt.Fprintf(w, "  require_verification: %v\n", c.requireVerification())
	c.printComponents(w)
	if len(c.kafkaBrokers()) > 0 {
		fmt.Fprintf(w, "  kafka:         partitions=%d sasl=%s user=%s password=%s tls=%v\n", c.KafkaPartitions,
			orDefault(c.Kafka.SASL.Mechanism, "none"), c.Kafka.SASL.Username, mask(c.Kafka.SASL.Password), c.Kafka.TLS.Enabled)
	} else {
		fmt.Fprintf(w, "  kafka:         partitions=%d sasl=%s per user (embedded broker; KAFKA_SASL_* apply to a real cluster only)\n",
			c.KafkaPartitions, bus.EmbeddedMechanism)
		// The embedded broker's users, from the credentials file.
		users, found, err := readKafkaUsers(c.DataDir)
		switch {
		case err != nil:
			fmt.Fprintf(w, "  kafka users:   %v\n", err)
		case !found:
			fmt.Fprintf(w, "  kafka users:   %s (made at the first start: SCRAM users %s)\n", kafkaUsersPath(c.DataDir), strings.Join(busUsers(), ", "))
		default:
			var names []string
			for _, n := range busUsers() {
				if users[n] != "" {
					names = append(names, n+"="+mask(users[n]))
				}
			}
			fmt.Fprintf(w, "  kafka users:   %s (%s): %s\n", kafkaUsersPath(c.DataDir), bus.EmbeddedMechanism, strings.Join(names, " "))
		}
	}
	for _, n := range slices.Sorted(maps.Keys(c.KafkaUsers)) {
		u := c.KafkaUsers[n]
		fmt.Fprintf(w, "  kafka user:    %s as %s password=%s\n", n, u.Username, mask(u.Password))
	}
	fmt.Fprintf(w, "  trusted_proxies: %s\n", orDefault(strings.Join(c.TrustedProxies, ","), "(none: X-Forwarded-For is ignored)"))
	l := c.APILimits
	fmt.Fprintf(w, "  api_limits:    address_rate=%g address_burst=%d token_rate=%g token_burst=%d (0: the portal's figures)\n",
		l.AddressRate, l.AddressBurst, l.TokenRate, l.TokenBurst)
	for _, t := range c.StaffTokens {
		fmt.Fprintf(w, "  staff token:   %s roles=%s sha256=%s…\n", t.Name, strings.Join(t.Roles, "+"), t.SHA256[:8])
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// sourceNote names where a setting was read, for print.
func sourceNote(source string) string {
	if source == "" {
		return ""
	}
	return " (" + source + ")"
}

// maskURL hides the password of a database URL (user:password@ or a
// password parameter) or of a key=value connection string.
func maskURL(s string) string {
	if !strings.Contains(s, "://") {
		f := strings.Fields(s)
		for i, kv := range f {
			if k, _, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, "password") {
				f[i] = k + "=****"
			}
		}
		return strings.Join(f, " ")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL, not shown)"
	}
	masked := *u
	masked.User = nil
	q, hidden := masked.Query(), false
	for k := range q {
		if strings.EqualFold(k, "password") {
			q[k], hidden = []string{"****"}, true
		}
	}
	if hidden {
		masked.RawQuery = strings.ReplaceAll(q.Encode(), "%2A%2A%2A%2A", "****")
	}
	out := masked.String()
	if u.User != nil {
		user := url.User(u.User.Username()).String()
		if _, ok := u.User.Password(); ok {
			user += ":****"
		}
		out = strings.Replace(out, "://", "://"+user+"@", 1)
	}
	return out
}

// requireVerification is the effective RequireVerification (default true).
func (c *config) requireVerification() bool {
	return c.RequireVerification == nil || *c.RequireVerification
}
