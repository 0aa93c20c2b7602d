package servicenow

import (
	"context"
	"flag"
	"fmt"
	"github.com/vaxhub/vaxhub/simulators/simhttp"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/vaxhub/vaxhub/simulators/faults"
)

// Main runs the simulator as a process (`vaxhub sim servicenow`): it parses
// args, prints its address and effective configuration (passwords masked)
// to stdout and serves until ctx is done.
//
//	--addr HOST:PORT         listen address (default 127.0.0.1:8102)
//	--user, --password       integration user (default sim / sim)
//	--extra-user NAME:PW     a further user (repeatable)
//	--client-id, --client-secret  OAuth client (default sim / sim)
//	--token-ttl D            OAuth access token lifetime (default 1799s)
//	--rate-limit N           Table API requests per user and window (default 0: none)
//	--rate-limit-user NAME=N a user's own limit (repeatable)
//	--rate-limit-window D    rate limit window (default 1h)
//	--start TIME             simulated start (default 2021-01-04T06:00:00Z)
//	--time-scale X           simulated seconds per real second (default 1; 0 stops the clock)
//	--dispatch               the dispatcher moves tasks by itself as the clock runs
//	--fault-*                fault injection, see simulators/README.md
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sim servicenow", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", DefaultAddr, "listen address")
	user := fs.String("user", "sim", "integration user for Basic auth and the OAuth password grant")
	password := fs.String("password", "sim", "password of --user")
	clientID := fs.String("client-id", "sim", "OAuth client_id for /oauth_token.do")
	clientSecret := fs.String("client-secret", "sim", "OAuth client_secret")
	tokenTTL := fs.Duration("token-ttl", 1799*time.Second, "lifetime of an OAuth access token")
	rateLimit := fs.Int("rate-limit", 0, "Table API requests each user may make per window (0: no limit)")
	window := fs.Duration("rate-limit-window", time.Hour, "length of a rate limit window")
	start := fs.String("start", DefaultStart.Format(time.RFC3339), "simulated time at start-up")
	scale := fs.Float64("time-scale", 1, "simulated seconds per real second (3600: an hour per second; 0: the clock moves only with POST /_sim/clock/advance)")
	dispatch := fs.Bool("dispatch", false, "the dispatcher assigns tasks and moves them through their states by itself as the simulated clock runs")
	users := map[string]string{}
	fs.Func("extra-user", "a further user NAME:PASSWORD (repeatable)", func(v string) error {
		n, p, ok := strings.Cut(v, ":")
		if !ok || n == "" {
			return fmt.Errorf("want NAME:PASSWORD")
		}
		users[n] = p
		return nil
	})
	userLimits := map[string]int{}
	fs.Func("rate-limit-user", "a user's own rate limit NAME=N (repeatable; 0: no limit)", func(v string) error {
		n, l, ok := strings.Cut(v, "=")
		x, err := strconv.Atoi(l)
		if !ok || n == "" || err != nil || x < 0 {
			return fmt.Errorf("want NAME=N with N >= 0")
		}
		userLimits[n] = x
		return nil
	})
	fopts := faults.Options{}
	fopts.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sim servicenow: unexpected argument %q", fs.Arg(0))
	}
	st, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return fmt.Errorf("sim servicenow: --start %q: want 2021-01-04T06:00:00Z", *start)
	}
	cfg := Config{
		User: *user, Password: *password, Users: users, ClientID: *clientID, ClientSecret: *clientSecret,
		TokenTTL: *tokenTTL, RateLimit: *rateLimit, UserRateLimits: userLimits, RateLimitWindow: *window,
		Start: st, TimeScale: *scale, Dispatch: *dispatch, Faults: fopts,
	}
	sim, err := New(cfg)
	if err != nil {
		return fmt.Errorf("sim servicenow: %w", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("sim servicenow: %w", err)
	}
	fmt.Fprintf(stdout, "ServiceNow simulator on http://%s/api/now/table/ (tables %s)\n", ln.Addr(),
		strings.Join([]string{tOrder, tTask, tGroup, tLocation, tChoice, tVaccination}, ", "))
	fmt.Fprintf(stdout, "  user=%s password=%s extra-users=%d client-id=%s client-secret=%s token-ttl=%s\n",
		*user, strings.Repeat("*", len(*password)), len(users), *clientID, strings.Repeat("*", len(*clientSecret)), *tokenTTL)
	fmt.Fprintf(stdout, "  rate-limit=%d per %s (per-user overrides %d)\n", *rateLimit, *window, len(userLimits))
	fmt.Fprintf(stdout, "  start=%s time-scale=%v dispatch=%v\n", sim.Now().Format(time.RFC3339), *scale, *dispatch)
	fmt.Fprintf(stdout, "  admin: /_sim/clock, /_sim/clock/advance, /_sim/dispatch, /_sim/devices, /_sim/rate-limit, /_sim/faults, /_sim/health\n")

	if err := simhttp.Serve(ctx, ln, sim.Handler()); err != nil {
		return fmt.Errorf("sim servicenow: %w", err)
	}
	return nil
}
