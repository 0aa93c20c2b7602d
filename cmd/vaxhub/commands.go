package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

const usage = `usage: vaxhub COMMAND [flags]

commands:
  run       start everything for a laptop or a test: migrate, load the campaign, serve the API
  hub       start only the hub against configured endpoints (no dev token)
  hotline   run only the SIP/IVR hotline against the database (the hub's configuration and core)
  letters   render one sample letter of each kind: "vaxhub letters sample DIR"
  reconcile compare the hub with SAP: "vaxhub reconcile stock|mobile" (stock: exit 1 on differences)
  sim       run one simulator of an outside system: "vaxhub sim sap"
  migrate   apply the database migrations and exit
  bench     benchmarks that print figures: "vaxhub bench booking|bus|register|portal|hotline"
  dlq       dead letters: "vaxhub dlq list [-n N]", "dlq show ID", "dlq replay ID|--all"
  kafka     "vaxhub kafka kcat-config [-user operator|tester]": a librdkafka configuration for kcat -F
  schemas   "vaxhub schemas check [dir]": validate the schema files and their examples
  mappings  "vaxhub mappings check [dir]": validate the mapping files and run their tests
  config    print the effective configuration (secrets masked); "-markdown": the README's table of the components' settings

Run "vaxhub COMMAND -h" for a command's flags.`

// dispatch runs the command of args. Help asked for (-h, -help, --help,
// whether the command's flag set or the command itself answered it) is
// not an error: the usage was printed, the exit code is 0.
func dispatch(ctx context.Context, args []string) error {
	err := runCommand(ctx, args)
	if askedForHelp(err) {
		return nil
	}
	return err
}

func askedForHelp(err error) bool {
	var ue *usageError
	return err != nil && (errors.Is(err, flag.ErrHelp) || (errors.As(err, &ue) && ue.msg == helpShown) ||
		strings.Contains(err.Error(), flag.ErrHelp.Error()))
}

// helpShown is the usageError of a command that printed its usage on -h.
const helpShown = "help shown"

// helpFor answers -h for commands whose usage is one line: it prints it.
func helpFor(cmd string, rest []string) bool {
	if len(rest) == 0 || (rest[0] != "-h" && rest[0] != "-help" && rest[0] != "--help") {
		return false
	}
	for _, line := range strings.Split(usage, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == cmd {
			fmt.Println(strings.TrimSpace(line))
		}
	}
	return true
}

func runCommand(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return &usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "letters", "reconcile", "sim", "bench", "dlq", "kafka", "schemas", "mappings":
		if helpFor(cmd, rest) {
			return nil
		}
	}
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, modeRun)
	case "hub":
		return cmdRun(ctx, rest, modeHub)
	case "hotline":
		return cmdHotline(ctx, rest)
	case "letters":
		return cmdLetters(ctx, rest)
	case "reconcile":
		return cmdReconcile(ctx, rest)
	case "sim":
		return cmdSim(ctx, rest)
	case "migrate":
		return cmdMigrate(ctx, rest)
	case "bench":
		return cmdBench(ctx, rest)
	case "dlq":
		return cmdDLQ(ctx, rest)
	case "kafka":
		return cmdKafka(ctx, rest)
	case "schemas":
		return cmdSchemas(ctx, rest)
	case "mappings":
		return cmdMappings(ctx, rest)
	case "config":
		if len(rest) == 1 && (rest[0] == "-markdown" || rest[0] == "--markdown") {
			fmt.Print(componentTable(specs())) // the README's table
			return nil
		}
		cfg, err := loadConfig(rest, modeRun)
		if err != nil {
			return err
		}
		cfg.runSwitches(simulatorURLs()) // what `vaxhub run` would start
		cfg.print(os.Stdout)
		return nil
	case "-h", "--help", "help":
		fmt.Println(usage)
		return nil
	}
	return &usageError{fmt.Sprintf("unknown command %q\n%s", cmd, strings.TrimSpace(usage))}
}
