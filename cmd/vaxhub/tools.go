package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/mappings"
	"github.com/vaxhub/vaxhub/schemas"
)

// toolOut is where the tools print; tests replace it.
var toolOut io.Writer = os.Stdout

// parseInterleaved parses flags that may come before or after the positional
// arguments ("dlq show 0:3 -brokers x" as well as "dlq show -brokers x 0:3").
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &usageError{helpShown}
			}
			return nil, &usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// toolKafka is the Kafka configuration of the tools, as a person user
// (-user, default operator): brokers from -brokers, KAFKA_BROKERS, the config
// file (-config or VAXHUB_CONFIG: its SASL and TLS settings and kafka_users
// too; KAFKA_SASL_* over them), else the embedded broker's default address
// (VAXHUB_KAFKA_ADDR, the config file's kafka_addr, default 127.0.0.1:9092)
// with the user's password from <data dir>/kafka-users.json (-data-dir,
// VAXHUB_DATA_DIR, the config file's data_dir, default .vaxhub). Reading it
// has no side effects (unlike loadConfig, it creates no data key and no
// credentials).
func toolKafka(fs *flag.FlagSet) func() (bus.Config, error) {
	brokers := fs.String("brokers", "", "Kafka brokers, comma-separated (default: KAFKA_BROKERS, the config file, else the embedded broker 127.0.0.1:9092)")
	file := fs.String("config", os.Getenv("VAXHUB_CONFIG"), "YAML configuration file (env VAXHUB_CONFIG) for SASL/TLS settings")
	dataDir := fs.String("data-dir", "", "data directory of vaxhub run, whose kafka-users.json has the embedded broker's passwords (env VAXHUB_DATA_DIR, default .vaxhub)")
	user := fs.String("user", busOperator, "bus user: operator (read everything, replay dead letters) or tester (vaxhub run only: may also write every topic)")
	return func() (bus.Config, error) {
		c := defaultConfig()
		if *file != "" {
			if err := c.readFile(*file); err != nil {
				return bus.Config{}, err
			}
		}
		if v := os.Getenv("KAFKA_BROKERS"); v != "" {
			c.KafkaBrokers = v
		}
		if *brokers != "" {
			c.KafkaBrokers = *brokers
		}
		if v := os.Getenv("VAXHUB_DATA_DIR"); v != "" {
			c.DataDir = v
		}
		if v := os.Getenv("VAXHUB_KAFKA_ADDR"); v != "" {
			c.KafkaAddr = v
		}
		if *dataDir != "" {
			c.DataDir = *dataDir
		}
		c.kafkaSASLFromEnv()
		k := c.Kafka
		k.Brokers = c.kafkaBrokers()
		creds := busCredentials{base: k, perUser: c.KafkaUsers}
		if len(k.Brokers) == 0 {
			if !isPersonUser(*user) {
				return bus.Config{}, &usageError{fmt.Sprintf("-user %q: the embedded broker hands out operator or tester; the hub's own users stay in the hub", *user)}
			}
			passwords, found, err := readKafkaUsers(c.DataDir)
			if err != nil {
				return bus.Config{}, err
			}
			if !found {
				return bus.Config{}, fmt.Errorf("no Kafka credentials in %s: the embedded broker makes them at its first start (`vaxhub run`); for a real cluster set KAFKA_BROKERS and KAFKA_SASL_*",
					kafkaUsersPath(c.DataDir))
			}
			k.Brokers = []string{c.KafkaAddr}
			creds = busCredentials{base: k, embedded: passwords}
		}
		kc, err := creds.forUser(*user)
		if err != nil {
			return bus.Config{}, err
		}
		// The key that signs dead letters, so that a replay puts back only
		// what the hub's consumers dead-lettered: derived from the data key
		// (VAXHUB_DATA_KEY, or the data dir's data.key of `vaxhub run`).
		if key := toolDataKey(c); key != nil {
			c.key = key
			kc.DLQKey = derivedKey(&c, dlqKeyLabel)
		}
		return kc, nil
	}
}

// toolDataKey reads the data key without creating one: VAXHUB_DATA_KEY or
// the config file's data_key, else <data dir>/data.key; nil when neither is
// there or readable.
func toolDataKey(c config) []byte {
	if v := os.Getenv("VAXHUB_DATA_KEY"); v != "" {
		c.DataKey = v
	}
	if c.DataKey != "" {
		if k, err := decodeKey(c.DataKey); err == nil {
			return k
		}
		return nil
	}
	b, err := os.ReadFile(filepath.Join(c.DataDir, "data.key"))
	if err != nil {
		return nil
	}
	k, err := decodeKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil
	}
	return k
}

// cmdKafka runs "vaxhub kafka kcat-config [-user operator|tester]".
func cmdKafka(_ context.Context, args []string) error {
	const use = "usage: vaxhub kafka kcat-config [-user operator|tester] [-o FILE]   (a librdkafka configuration for kcat -F FILE)"
	if len(args) == 0 || args[0] != "kcat-config" {
		return &usageError{use}
	}
	fs := flag.NewFlagSet("vaxhub kafka kcat-config", flag.ContinueOnError)
	kafkaCfg := toolKafka(fs)
	out := fs.String("o", "", "write the configuration to this file, readable by its owner only (mode 0600), instead of standard output")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return &usageError{use}
	}
	k, err := kafkaCfg()
	if err != nil {
		return err
	}
	conf := librdkafkaConfig(k, k.SASL.Username)
	if *out == "" {
		fmt.Fprint(toolOut, conf)
		return nil
	}
	// It holds a password: never readable by others, whatever the umask.
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

const dlqUsage = `usage: vaxhub dlq list [-n N] | show ID | replay ID|--all   (ID is partition:offset on vaxhub.dlq)`

// cmdDLQ inspects and replays dead letters.
func cmdDLQ(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return &usageError{dlqUsage}
	}
	sub := args[0]
	fs := flag.NewFlagSet("vaxhub dlq "+sub, flag.ContinueOnError)
	kafkaCfg := toolKafka(fs)
	n := fs.Int("n", 20, "list: show the newest N dead letters (0: all)")
	all := fs.Bool("all", false, "replay: every dead letter")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	kcfg, err := kafkaCfg()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	switch sub {
	case "list":
		if len(pos) != 0 {
			return &usageError{dlqUsage}
		}
		dls, err := bus.ListDLQ(ctx, kcfg, *n)
		if err != nil {
			return err
		}
		if len(dls) == 0 {
			fmt.Fprintf(toolOut, "no dead letters on %s (%s)\n", bus.DLQTopic, strings.Join(kcfg.Brokers, ","))
			return nil
		}
		fmt.Fprintf(toolOut, "%-10s  %-24s  %-26s  %-16s  %s\n", "ID", "DEAD-LETTERED", "FROM", "HANDLER", "REASON")
		for _, d := range dls {
			from := d.OriginTopic()
			if p, o := d.Headers[bus.HeaderDLQPartition], d.Headers[bus.HeaderDLQOffset]; p != "" {
				from += "[" + p + "]@" + o
			}
			fmt.Fprintf(toolOut, "%-10s  %-24s  %-26s  %-16s  %s\n", d.ID, d.Time.UTC().Format(time.RFC3339Nano), from, d.Handler(), oneLine(d.Reason(), 200))
		}
		return nil
	case "show":
		if len(pos) != 1 {
			return &usageError{"usage: vaxhub dlq show ID   (ID is partition:offset)"}
		}
		d, err := bus.ShowDLQ(ctx, kcfg, pos[0])
		if err != nil {
			return err
		}
		printDeadLetter(toolOut, d)
		return nil
	case "replay":
		id := ""
		switch {
		case *all && len(pos) == 0:
			id = "all"
		case !*all && len(pos) == 1:
			id = pos[0]
			if _, _, err := bus.ParseDLQID(id); err != nil {
				return &usageError{err.Error()}
			}
		default:
			return &usageError{"usage: vaxhub dlq replay ID|--all"}
		}
		k, err := bus.ReplayDLQ(ctx, kcfg, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(toolOut, "replayed %d dead letter(s) to their original topics\n", k)
		return nil
	}
	return &usageError{fmt.Sprintf("unknown dlq command %q\n%s", sub, dlqUsage)}
}

func printDeadLetter(w io.Writer, d bus.DeadLetter) {
	fmt.Fprintf(w, "id:        %s\n", d.ID)
	fmt.Fprintf(w, "time:      %s\n", d.Time.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(w, "key:       %s\n", d.Key)
	fmt.Fprintf(w, "reason:    %s\n", d.Reason())
	fmt.Fprintf(w, "from:      %s partition %s offset %s\n", d.OriginTopic(), d.Headers[bus.HeaderDLQPartition], d.Headers[bus.HeaderDLQOffset])
	fmt.Fprintf(w, "handler:   %s\n", d.Handler())
	keys := make([]string, 0, len(d.Headers))
	for k := range d.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Fprintln(w, "headers:")
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %s\n", k, d.Headers[k])
	}
	fmt.Fprintln(w, "value:")
	var buf bytes.Buffer
	if json.Indent(&buf, d.Value, "  ", "  ") == nil {
		fmt.Fprintf(w, "  %s\n", buf.String())
	} else {
		fmt.Fprintf(w, "  %q\n", d.Value) // not JSON: quoted, so control bytes cannot reach the terminal
	}
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// repoDir finds name (a folder of the repository, such as "schemas") by
// walking up from the working directory to the module root of vaxhub.
func repoDir(name string) (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/vaxhub/vaxhub\n")) {
			p := filepath.Join(dir, name)
			st, err := os.Stat(p)
			return p, err == nil && st.IsDir()
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// problemLines prints every problem of a joined error, one a line, and
// returns how many there were.
func problemLines(w io.Writer, err error) int {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	n := 0
	for _, e := range errs {
		for _, line := range strings.Split(e.Error(), "\n") {
			if strings.TrimSpace(line) != "" {
				fmt.Fprintf(w, "  %s\n", line)
				n++
			}
		}
	}
	return n
}

// checkDir resolves the folder a check command works on: the argument, else
// the repository's folder when run inside the repository, else "" (the
// embedded copy).
func checkDir(cmd, name string, args []string) (dir string, err error) {
	fs := flag.NewFlagSet("vaxhub "+cmd, flag.ContinueOnError)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return "", err
	}
	switch len(pos) {
	case 0:
		if d, ok := repoDir(name); ok {
			return d, nil
		}
		return "", nil
	case 1:
		st, err := os.Stat(pos[0])
		if err != nil {
			return "", fmt.Errorf("%s: %w", cmd, err)
		}
		if !st.IsDir() {
			return "", fmt.Errorf("%s: %s is not a directory", cmd, pos[0])
		}
		return pos[0], nil
	}
	return "", &usageError{fmt.Sprintf("usage: vaxhub %s [dir]", cmd)}
}

// cmdSchemas runs "vaxhub schemas check [dir]".
func cmdSchemas(_ context.Context, args []string) error {
	if len(args) == 0 || args[0] != "check" {
		return &usageError{"usage: vaxhub schemas check [dir]   (default: the repository's schemas folder, else the embedded schemas)"}
	}
	dir, err := checkDir("schemas check", "schemas", args[1:])
	if err != nil {
		return err
	}
	if dir == "" {
		// The binary embeds the schema files but not their examples: check
		// that every embedded schema compiles.
		reg, err := schemas.Load()
		if err != nil {
			fmt.Fprintln(toolOut, "embedded schemas: problems:")
			return fmt.Errorf("schemas check: %d problem(s) in the embedded schemas", problemLines(toolOut, err))
		}
		fmt.Fprintf(toolOut, "embedded schemas: OK: %d event schemas compile (examples are not embedded; run inside the repository or name the folder to check them)\n", len(reg.Types()))
		return nil
	}
	if err := schemas.Check(os.DirFS(dir)); err != nil {
		fmt.Fprintf(toolOut, "%s: problems (file: what is wrong):\n", dir)
		return fmt.Errorf("schemas check: %d problem(s) in %s", problemLines(toolOut, err), dir)
	}
	files, _ := fs.Glob(os.DirFS(dir), "*.schema.json")
	ext, _ := fs.Glob(os.DirFS(dir), "external/*.schema.json")
	fmt.Fprintf(toolOut, "%s: OK: %d schemas, every example behaves as it claims\n", dir, len(files)+len(ext))
	return nil
}

// cmdMappings runs "vaxhub mappings check [dir]".
func cmdMappings(_ context.Context, args []string) error {
	if len(args) == 0 || args[0] != "check" {
		return &usageError{"usage: vaxhub mappings check [dir]   (default: the repository's mappings folder, else the embedded mappings)"}
	}
	dir, err := checkDir("mappings check", "mappings", args[1:])
	if err != nil {
		return err
	}
	fsys, label := mappings.Embedded(), "embedded mappings"
	if dir != "" {
		fsys, label = os.DirFS(dir), dir
	}
	if err := mappings.Check(fsys, "."); err != nil {
		fmt.Fprintf(toolOut, "%s: problems (file:line: field: what is wrong):\n", label)
		return fmt.Errorf("mappings check: %d problem(s) in %s", problemLines(toolOut, err), label)
	}
	set, err := mappings.LoadDir(fsys, ".")
	if err != nil {
		return err
	}
	fmt.Fprintf(toolOut, "%s: OK: %d mappings (%s), every test case passes\n", label, len(set.Names()), strings.Join(set.Names(), ", "))
	return nil
}
