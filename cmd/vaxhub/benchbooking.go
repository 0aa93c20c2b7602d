package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/connectors/api"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/deploy/campaign"
)

// benchBooking books through the HTTP API with N concurrent clients against
// a fresh campaign for a fixed time, then runs pgbench (TPC-B-like, same N,
// same server, same duration) and prints the ratio.
func benchBooking(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench booking", flag.ContinueOnError)
	clients := fs.Int("clients", 16, "concurrent HTTP clients (and pgbench clients)")
	duration := fs.Duration("duration", 20*time.Second, "how long each side runs")
	residents := fs.Int("residents", 60000, "residents registered before the run (each books at most once)")
	skipPgbench := fs.Bool("skip-pgbench", false, "do not run pgbench")
	keep := fs.Bool("keep", false, "keep the benchmark databases")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the booking run to this file")
	if err := fs.Parse(args); err != nil {
		return &usageError{err.Error()}
	}
	cfg, err := loadConfig(nil, modeRun)
	if err != nil {
		return err
	}
	// The population imported below is not matched against a register:
	// the benchmark measures the booking path, not the verification.
	noVerification := false
	cfg.RequireVerification = &noVerification
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	parts, dbName, done, err := benchCore(ctx, cfg, "booking", 70, *keep, func(c *campaign.Campaign) {
		for p := range c.Supply.PerCentrePerWeek {
			c.Supply.PerCentrePerWeek[p] = 200_000 // stock must not be what limits the benchmark
		}
	}, log)
	if err != nil {
		return err
	}
	defer done()
	fmt.Printf("bench booking: fresh database %s, %d clients, %s\n", dbName, *clients, *duration)
	today := domain.DateOf(parts.app.Now().In(cfg.loc))
	c, err := campaign.Load(campaign.Embedded(), "saxony-2021")
	if err != nil {
		return err
	}
	people, err := importPeople(ctx, parts, *residents)
	if err != nil {
		return err
	}
	// The bench measures the core behind the API from one address: the
	// public rate limits (an edge concern, tested on their own) are off.
	srv, err := api.New(parts.app, api.Config{Logger: log, IPRate: -1, TokenRate: -1})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln) //nolint:errcheck
	defer hs.Close()
	base := "http://" + ln.Addr().String()

	slots, err := benchSlots(ctx, base, c.Centres, today, cfg.loc)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	res := runBookings(ctx, base, *clients, *duration, people, slots)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	fmt.Printf("bookings:   %d booked, %d refused (409), %d errors in %s\n", res.booked, res.refused, res.errors, res.elapsed.Round(time.Millisecond))
	bps := float64(res.booked) / res.elapsed.Seconds()
	fmt.Printf("            %.0f bookings/s (%.0f requests/s), latency p50 %s, p99 %s\n", bps,
		float64(res.booked+res.refused+res.errors)/res.elapsed.Seconds(), res.p(0.50), res.p(0.99))
	broken, err := parts.store.CheckInvariants(ctx)
	if err != nil {
		return err
	}
	if len(broken) > 0 {
		fmt.Printf("invariants: BROKEN\n  %s\n", strings.Join(broken, "\n  "))
	} else {
		fmt.Println("invariants: all hold (capacity, stock by day, one open series per resident)")
	}
	if *skipPgbench {
		return nil
	}
	tps, err := runPgbench(ctx, cfg.DatabaseURL, *clients, *duration, *keep)
	if err != nil {
		return fmt.Errorf("pgbench: %w", err)
	}
	fmt.Printf("pgbench:    %.0f tps (TPC-B-like, %d clients, %s, same server)\n", tps, *clients, *duration)
	fmt.Printf("ratio:      bookings/s ÷ pgbench tps = %.2f\n", bps/tps)
	if len(broken) > 0 {
		return errors.New("invariants broken")
	}
	if res.booked == 0 || res.errors > res.booked/100 {
		return fmt.Errorf("%d of %d booking requests failed", res.errors, res.booked+res.refused+res.errors)
	}
	return nil
}

type person struct{ id, token string }

// importPeople registers n adults all over Saxony in bulk.
func importPeople(ctx context.Context, parts *hubParts, n int) ([]person, error) {
	now := parts.app.Now().UTC()
	const batch = 5000
	out := make([]person, 0, n)
	for start := 0; start < n; start += batch {
		var rs []domain.Resident
		var hashes [][]byte
		var events []domain.Event
		for i := start; i < min(start+batch, n); i++ {
			r := domain.Resident{ID: domain.NewID(), GivenNames: "Anna", FamilyName: "Weiß", BirthDate: domain.Date{Year: 1935 + i%70, Month: time.Month(1 + i%12), Day: 1 + i%28},
				Sex: domain.SexFemale, Address: domain.Address{Street: "Hauptstraße 1", PostalCode: "01587", City: "Riesa", MunicipalityKey: "14627230"},
				Indications: []domain.Indication{}, Intolerances: []domain.Intolerance{}, Channel: "staff", RegisteredAt: now}
			tok, hash := app.NewToken()
			rs, hashes = append(rs, r), append(hashes, hash)
			events = append(events, domain.NewEvent("resident.registered", r.ID, "bench", now, domain.ResidentRegistered{
				ResidentID: r.ID, MunicipalityKey: r.Address.MunicipalityKey, AgeGroup: domain.AgeGroup(r.AgeOn(domain.DateOf(now))), Channel: "staff"}))
			out = append(out, person{r.ID, tok})
		}
		if err := parts.store.ImportResidents(ctx, rs, hashes, events); err != nil {
			return nil, err
		}
	}
	return out, nil
}

type slotChoice struct {
	centre string
	start  time.Time
}

// benchSlots lists the bookable slots of every centre in the next two weeks
// (starting tomorrow), as a web user would see them.
func benchSlots(ctx context.Context, base string, centres []domain.Centre, today domain.Date, loc *time.Location) ([]slotChoice, error) {
	var out []slotChoice
	from := today.AddDays(1)
	for _, c := range centres {
		for w := 0; w < 2; w++ {
			u := fmt.Sprintf("%s/api/v1/centres/%s/slots?product=comirnaty&from=%s&to=%s", base, c.ID, from.AddDays(7*w), from.AddDays(7*w+7))
			req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return nil, err
			}
			var body struct{ Slots []app.SlotView }
			err = json.NewDecoder(res.Body).Decode(&body)
			res.Body.Close()
			if err != nil {
				return nil, err
			}
			for _, s := range body.Slots {
				out = append(out, slotChoice{c.ID, s.Start})
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no slots to book")
	}
	return out, nil
}

type benchResult struct {
	booked, refused, errors int
	elapsed                 time.Duration
	lat                     []time.Duration
}

func (r *benchResult) p(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(q*float64(len(r.lat))))].Round(100 * time.Microsecond)
}

func runBookings(ctx context.Context, base string, clients int, d time.Duration, people []person, slots []slotChoice) *benchResult {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var next int64
	var mu sync.Mutex
	res := &benchResult{}
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 7))
			var lat []time.Duration
			var booked, refused, failed int
			for time.Now().Before(deadline) && ctx.Err() == nil {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if int(i) >= len(people) {
					break
				}
				p := people[i]
				s := slots[rng.IntN(len(slots))]
				body, _ := json.Marshal(map[string]string{"resident_id": p.id, "centre_id": s.centre, "slot_start": s.start.Format(time.RFC3339)})
				req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/appointments", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+p.token)
				t0 := time.Now()
				r, err := hc.Do(req)
				if err != nil {
					failed++
					continue
				}
				_, _ = io.Copy(io.Discard, r.Body)
				r.Body.Close()
				lat = append(lat, time.Since(t0))
				switch r.StatusCode {
				case http.StatusCreated:
					booked++
				case http.StatusConflict:
					refused++
				default:
					failed++
				}
			}
			mu.Lock()
			res.booked += booked
			res.refused += refused
			res.errors += failed
			res.lat = append(res.lat, lat...)
			mu.Unlock()
		}(uint64(c))
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.lat)
	return res
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// runPgbench initialises a pgbench database on the same server and runs the
// TPC-B-like script with the same number of clients for the same time.
func runPgbench(ctx context.Context, dsn string, clients int, d time.Duration, keep bool) (float64, error) {
	if _, err := exec.LookPath("pgbench"); err != nil {
		return 0, errors.New("pgbench is not installed (Debian: postgresql-contrib or postgresql-client)")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return 0, err
	}
	db := "vaxhub_bench_pgbench"
	pgURL, _ := withDatabase(dsn, db)
	if err := ensureDatabase(ctx, pgURL); err != nil {
		return 0, err
	}
	if !keep {
		defer dropDatabase(context.WithoutCancel(ctx), pgURL, db)
	}
	conn := []string{"-h", u.Hostname(), "-p", orDefault(u.Port(), "5432"), "-U", orDefault(u.User.Username(), "postgres")}
	env := os.Environ()
	if pw, ok := u.User.Password(); ok {
		env = append(env, "PGPASSWORD="+pw)
	}
	if mode := u.Query().Get("sslmode"); mode != "" {
		env = append(env, "PGSSLMODE="+mode) // pgbench connects the way the hub does
	}
	initCmd := exec.CommandContext(ctx, "pgbench", append(append([]string{"-i", "-q", "-s", strconv.Itoa(max(clients, 1))}, conn...), db)...)
	initCmd.Env = env
	if out, err := initCmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("init: %w: %s", err, out)
	}
	run := exec.CommandContext(ctx, "pgbench", append(append([]string{"-n", "-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(int(d.Seconds()))}, conn...), db)...)
	run.Env = env
	out, err := run.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("run: %w: %s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no tps in pgbench output: %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func withDatabase(dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("database url: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func dropDatabase(ctx context.Context, dsn, name string) {
	admin, _ := withDatabase(dsn, "postgres")
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}
