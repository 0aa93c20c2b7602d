package waitingroom

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// BenchOptions configures Bench; zero fields take the defaults.
type BenchOptions struct {
	// Tickets issued over HTTP before the position checks. Default 100,000.
	Tickets int
	// Clients is the number of concurrent HTTP clients. Default 32.
	Clients int
	// CheckDuration is how long position checks run (each kind). Default 5 s.
	CheckDuration time.Duration
	// Capacity is the booking capacity the admission rate must follow.
	// Default 200/s.
	Capacity float64
	// RateDuration is how long the admission rate is measured. Default 10 s.
	RateDuration time.Duration
	// Keep leaves the benchmark's room in the database.
	Keep bool
}

func (o *BenchOptions) setDefaults() {
	if o.Tickets <= 0 {
		o.Tickets = 100_000
	}
	if o.Clients <= 0 {
		o.Clients = 32
	}
	if o.CheckDuration <= 0 {
		o.CheckDuration = 5 * time.Second
	}
	if o.Capacity <= 0 {
		o.Capacity = 200
	}
	if o.RateDuration <= 0 {
		o.RateDuration = 10 * time.Second
	}
}

// Bench measures the waiting room (issue 9, "Speed") on pool, a migrated
// database, in a room of its own that it removes afterwards: it issues
// opts.Tickets tickets over real HTTP (every request a new browser), then
// measures position checks per second over real HTTP against the JSON status
// endpoint and against the gate's waiting page (goal: at least 10,000/s on 2
// cores), then how closely the admission rate follows a fixed booking
// capacity (goal: within 5 %). Figures are written to out.
func Bench(ctx context.Context, pool *pgxpool.Pool, out io.Writer, opts BenchOptions) (err error) {
	opts.setDefaults()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	name := "bench_" + hex.EncodeToString(suffix)
	roomCtx, stop := context.WithCancel(ctx)
	defer stop()
	room, err := New(roomCtx, pool, Config{
		Room: name, Secret: secret, Capacity: FixedCapacity(opts.Capacity), SessionLimit: 1,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	if !opts.Keep {
		defer func() {
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_, e1 := pool.Exec(c, `DELETE FROM waiting_room_state WHERE room = $1`, name)
			_, e2 := pool.Exec(c, `DROP SEQUENCE IF EXISTS `+room.seqArrival+`, `+room.seqPre)
			err = errors.Join(err, e1, e2)
		}()
	}
	zero := 0
	if err := room.Change(ctx, Settings{SessionLimit: &zero}); err != nil {
		return err
	}
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); _ = room.Run(roomCtx) }()
	defer func() { stop(); <-loopDone }()

	mux := http.NewServeMux()
	mux.Handle("/buchen/", room.Gate(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "booking")
	})))
	mux.Handle("/warteraum/status", room.Status())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: opts.Clients * 2, MaxIdleConnsPerHost: opts.Clients * 2, IdleConnTimeout: time.Minute,
	}}
	defer client.CloseIdleConnections()

	fmt.Fprintf(out, "waiting room benchmark: room %s, GOMAXPROCS %d, %d HTTP clients on 127.0.0.1 (client and server share the cores)\n",
		name, runtime.GOMAXPROCS(0), opts.Clients)

	// 1. Issue the tickets: each request is a new browser.
	cookies := make([]string, opts.Tickets)
	var next atomic.Int64
	start := time.Now()
	err = parallel(ctx, opts.Clients, func() error {
		for {
			i := int(next.Add(1)) - 1
			if i >= opts.Tickets {
				return nil
			}
			resp, err := get(ctx, client, base+"/buchen/", "")
			if err != nil {
				return err
			}
			var parts []string
			for _, c := range resp.Cookies() {
				if c.Name == cookieSession || c.Name == cookieTicket {
					parts = append(parts, c.Name+"="+c.Value)
				}
			}
			if len(parts) != 2 {
				return fmt.Errorf("bench: ticket %d: response %d without session and ticket cookies", i, resp.StatusCode)
			}
			cookies[i] = strings.Join(parts, "; ")
		}
	})
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(out, "tickets issued over HTTP: %d in %.1fs (%.0f/s); rows per waiting visitor: 0\n",
		opts.Tickets, el.Seconds(), float64(opts.Tickets)/el.Seconds())
	time.Sleep(2 * room.cfg.Tick) // every replica's snapshot knows the last ticket

	// 2. Position checks.
	for _, k := range []struct{ what, path, want string }{
		{"JSON status endpoint", "/warteraum/status", `"state":"waiting"`},
		{"waiting page through the gate", "/buchen/", `data-position=`},
	} {
		rate, p50, p99, err := checkPositions(ctx, client, base+k.path, k.want, cookies, opts)
		if err != nil {
			return err
		}
		verdict := "meets"
		if rate < 10_000 {
			verdict = "below"
		}
		fmt.Fprintf(out, "position checks (%s): %.0f/s over %s, p50 %s, p99 %s (%s the goal of 10,000/s)\n",
			k.what, rate, opts.CheckDuration, p50.Round(time.Microsecond), p99.Round(time.Microsecond), verdict)
	}

	// 3. Admission rate against the capacity.
	limit := 10_000_000
	if err := room.Change(ctx, Settings{SessionLimit: &limit}); err != nil {
		return err
	}
	time.Sleep(time.Second) // warm-up: the burst allowance is spent
	up0, at0, err := admitted(ctx, pool, name)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(opts.RateDuration):
	}
	up1, at1, err := admitted(ctx, pool, name)
	if err != nil {
		return err
	}
	rate := float64(up1-up0) / at1.Sub(at0).Seconds()
	dev := (rate - opts.Capacity) / opts.Capacity * 100
	verdict := "within"
	if math.Abs(dev) > 5 {
		verdict = "outside"
	}
	fmt.Fprintf(out, "admission rate: %.1f/s at a capacity of %.0f/s over %.1fs (%+.2f%%, %s the goal of 5%%); %d still waiting\n",
		rate, opts.Capacity, at1.Sub(at0).Seconds(), dev, verdict, int64(opts.Tickets)-up1)
	return nil
}

func admitted(ctx context.Context, pool *pgxpool.Pool, room string) (int64, time.Time, error) {
	var up int64
	var at time.Time
	err := pool.QueryRow(ctx, `SELECT admitted_up_to, clock_timestamp() FROM waiting_room_state WHERE room = $1`, room).Scan(&up, &at)
	return up, at, err
}

func get(ctx context.Context, client *http.Client, url, cookie string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

func checkPositions(ctx context.Context, client *http.Client, url, want string, cookies []string, opts BenchOptions) (float64, time.Duration, time.Duration, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var done atomic.Int64
	var next atomic.Int64
	start := time.Now()
	deadline := start.Add(opts.CheckDuration)
	err := parallel(ctx, opts.Clients, func() error {
		own := make([]time.Duration, 0, 1<<14)
		defer func() { mu.Lock(); lat = append(lat, own...); mu.Unlock() }()
		for time.Now().Before(deadline) {
			i := int(next.Add(7919)) % len(cookies) // spread over the queue
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			req.Header.Set("Cookie", cookies[i])
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			own = append(own, time.Since(t0))
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
				return fmt.Errorf("bench: position check %s: %d %.200q", url, resp.StatusCode, body)
			}
			done.Add(1)
		}
		return nil
	})
	if err != nil {
		return 0, 0, 0, err
	}
	el := time.Since(start)
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	return float64(done.Load()) / el.Seconds(), q(0.50), q(0.99), nil
}

// parallel runs n copies of f and returns the first error.
func parallel(ctx context.Context, n int, f func() error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f() }()
	}
	wg.Wait()
	return errors.Join(append(errs, ctx.Err())...)
}
