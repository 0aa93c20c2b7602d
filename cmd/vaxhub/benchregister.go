package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/register"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/core/store"
	"github.com/vaxhub/vaxhub/schemas"
	regsim "github.com/vaxhub/vaxhub/simulators/register"
)

// benchRegister measures the population register round trip (issue 5,
// "Speed"): the register simulator with Saxony's population in-process over
// real HTTP, a fresh database with the Saxony campaign, the embedded broker,
// the outbox relay and the register connector as `vaxhub run` starts them.
// Real people of the synthetic population are registered through core/app
// at a target rate; the latency of each is decided_at − registered_at from
// the database. Then, in the same run, the simulator's own exact-search
// rate is measured with concurrent HTTP clients, for comparison.
func benchRegister(ctx context.Context, args []string) error {
	return runBenchRegister(ctx, args, os.Stdout)
}

func runBenchRegister(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("vaxhub bench register", flag.ContinueOnError)
	fs.SetOutput(out)
	size := fs.Int("size", 4_100_000, "residents of the simulated population register")
	seed := fs.Uint64("seed", regsim.DefaultSeed, "seed of the synthetic population")
	rate := fs.Int("rate", 200, "registrations per second")
	duration := fs.Duration("duration", 20*time.Second, "how long registrations are offered")
	searchDuration := fs.Duration("search-duration", 5*time.Second, "how long the simulator's own search rate is measured")
	searchClients := fs.Int("search-clients", 8, "concurrent HTTP clients of the search-rate run")
	workers := fs.Int("workers", 16, "goroutines that call App.RegisterResident (the pacer hands them work at the target rate)")
	partitions := fs.Int("partitions", 6, "partitions of the event topics (the vaxhub run default)")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait after the load for the last verdicts")
	keep := fs.Bool("keep", false, "keep the benchmark database")
	verbose := fs.Bool("v", false, "log the hub's warnings to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &usageError{helpShown}
		}
		return &usageError{err.Error()}
	}
	if *size < 1 || *rate < 1 || *duration <= 0 || *searchDuration <= 0 || *searchClients < 1 || *workers < 1 || *partitions < 1 || *wait <= 0 {
		return &usageError{"bench register: -size, -rate, -duration, -search-duration, -search-clients, -workers, -partitions and -wait must be positive"}
	}
	total := int(float64(*rate) * duration.Seconds())
	if total < 1 {
		return &usageError{"bench register: -rate × -duration is less than one registration"}
	}
	cfg, err := loadConfig(nil, modeRun)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *verbose {
		log = newLogger("warn")
	}
	fmt.Fprintf(out, "vaxhub bench register: %d residents, %d registrations/s for %s, search rate for %s (GOMAXPROCS %d)\n",
		*size, *rate, *duration, *searchDuration, runtime.GOMAXPROCS(0))

	// 1. The register simulator, in-process, over real HTTP.
	sim, err := regsim.New(regsim.Config{Seed: *seed, Size: *size})
	if err != nil {
		return err
	}
	runtime.GC()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	heapMiB := float64(mem.HeapAlloc) / (1 << 20)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	simSrv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go simSrv.Serve(ln) //nolint:errcheck
	defer simSrv.Close()
	simURL := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "  simulator:  %d residents (seed %d) generated in %s, heap %.0f MiB after GC, on %s\n",
		sim.Size(), *seed, sim.Generated().Round(time.Millisecond), heapMiB, simURL)

	// 2. A fresh database with the Saxony campaign (two slot days).
	parts, dbName, done, err := benchCore(ctx, cfg, "register", 2, *keep, nil, log)
	if err != nil {
		return err
	}
	defer done()
	benchURL := cfg.DatabaseURL
	fmt.Fprintf(out, "  database:   %s on %s (migrated, campaign saxony-2021, 2 slot days, booking needs verification: %v)\n",
		dbName, maskURL(benchURL), cfg.requireVerification())

	// 3. Embedded broker, topics, relay and the register connector.
	stopHub, err := startRegisterHub(ctx, parts, simURL, *partitions, log)
	if err != nil {
		return err
	}
	defer stopHub()
	fmt.Fprintf(out, "  hub:        embedded broker, %d partitions, outbox relay, register connector -> %s (defaults of `vaxhub run`)\n", *partitions, simURL)

	// 4. Real people of the synthetic population: one for the warm-up and
	// one per registration of the load.
	people, err := sampleResidents(ctx, simURL, total+1)
	if err != nil {
		return err
	}
	residents := make([]domain.Resident, len(people))
	for i, p := range people {
		if residents[i], err = residentFromSample(p); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "  people:     %d sampled from /_sim/residents/sample (kind=normal, min_age=18, unique in the register)\n", len(people))

	// Warm-up: the connector joins its group and answers one registration
	// before the clock starts.
	t0 := time.Now()
	reg, err := parts.app.RegisterResident(ctx, app.Registration{Resident: residents[0]})
	if err != nil {
		return fmt.Errorf("warm-up registration: %w", err)
	}
	v, err := awaitVerdict(ctx, parts.app, reg.Resident.ID, time.Minute)
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	fmt.Fprintf(out, "  warm-up:    first verdict (%s) %s after registration (connector joined its consumer group)\n",
		v.Status, time.Since(t0).Round(time.Millisecond))

	// 5. The load: registrations at the target rate through core/app.
	load := registerAtRate(ctx, parts.app, residents[1:], *rate, *workers)
	fmt.Fprintf(out, "  load:       %d registrations offered in %s (%.1f/s), %d failed, pacer max lag %s\n",
		len(load.ids)+load.failed, load.elapsed.Round(time.Millisecond), float64(len(load.ids)+load.failed)/load.elapsed.Seconds(),
		load.failed, load.maxLag.Round(time.Millisecond))
	if load.firstErr != nil {
		fmt.Fprintf(out, "              first registration error: %v\n", load.firstErr)
	}
	if len(load.ids) == 0 {
		return errors.New("bench register: no registration succeeded")
	}

	// 6. Every registration gets its verdict (or the wait times out).
	waitStart := time.Now()
	decided, err := awaitDecided(ctx, parts, load.ids, *wait)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  verdicts:   %d of %d decided %s after the last registration\n", decided, len(load.ids), time.Since(waitStart).Round(time.Millisecond))
	vs, err := verdictTimes(ctx, parts, load.ids)
	if err != nil {
		return err
	}

	// 7. The simulator's own search rate, same process, same population.
	search := searchRate(ctx, simURL, people, *searchClients, *searchDuration)

	// Summary.
	lat := make([]time.Duration, 0, len(vs))
	mix := map[string]int{}
	reasons := map[string]int{}
	var first, last time.Time
	for _, x := range vs {
		lat = append(lat, max(x.decided.Sub(x.registered), 0))
		mix[x.status]++
		if x.reason != "" {
			reasons[x.status+"/"+x.reason]++
		}
		if first.IsZero() || x.registered.Before(first) {
			first = x.registered
		}
		if x.decided.After(last) {
			last = x.decided
		}
	}
	slices.Sort(lat)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "== bench register: summary ==")
	fmt.Fprintf(out, "population:        %d residents (seed %d), generated in %s, heap %.0f MiB\n",
		sim.Size(), *seed, sim.Generated().Round(time.Millisecond), heapMiB)
	fmt.Fprintf(out, "registrations:     %d via core/app App.RegisterResident in-process (the registration path, not the HTTP API),\n", len(load.ids))
	fmt.Fprintf(out, "                   target %d/s, achieved %.1f/s over %s, %d failed\n",
		*rate, float64(len(load.ids))/load.elapsed.Seconds(), load.elapsed.Round(time.Millisecond), load.failed)
	fmt.Fprintf(out, "verdicts:          %d of %d: verified %d, rejected %d, needs-review %d%s\n", len(vs), len(load.ids),
		mix[string(domain.RegisterVerified)], mix[string(domain.RegisterRejected)], mix[string(domain.RegisterNeedsReview)], reasonList(reasons))
	var vps float64
	if len(vs) > 0 && last.After(first) {
		vps = float64(len(vs)) / last.Sub(first).Seconds()
	}
	fmt.Fprintf(out, "verdicts/s:        %.1f (first registered_at to last decided_at; bounded by the offered %d/s)\n", vps, *rate)
	if len(lat) > 0 {
		p50, p99, pmax := percentile(lat, 50), percentile(lat, 99), lat[len(lat)-1]
		goal := "goal p99 < 500 ms met"
		if p99 >= 500*time.Millisecond {
			goal = "goal p99 < 500 ms NOT met"
		}
		fmt.Fprintf(out, "latency:           registered_at -> decided_at (database): p50 %.1f ms  p99 %.1f ms  max %.1f ms  (%s)\n",
			msf(p50), msf(p99), msf(pmax), goal)
	}
	fmt.Fprintf(out, "simulator search:  %.0f searches/s (exact GET /Patient with X-Request-ID, %d HTTP clients, %s, %d ok, %d errors, p50 %.2f ms, p99 %.2f ms)\n",
		search.rate, *searchClients, search.elapsed.Round(time.Millisecond), search.ok, search.errors, msf(search.p50), msf(search.p99))
	if vps > 0 {
		fmt.Fprintf(out, "ratio:             simulator searches/s ÷ verdicts/s = %.1f\n", search.rate/vps)
	}
	var problems []string
	if load.failed > 0 {
		problems = append(problems, fmt.Sprintf("%d registrations failed", load.failed))
	}
	if len(vs) < len(load.ids) {
		problems = append(problems, fmt.Sprintf("%d registrations without a verdict after %s", len(load.ids)-len(vs), *wait))
	}
	if search.ok == 0 {
		problems = append(problems, "no search succeeded")
	}
	if len(problems) > 0 {
		return fmt.Errorf("bench register: %s", strings.Join(problems, "; "))
	}
	return nil
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func reasonList(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(" (")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, m[k])
	}
	b.WriteString(")")
	return b.String()
}

// startRegisterHub starts the embedded broker, the event topics and the
// dead-letter topic, the outbox relay and the register connector, with the
// configuration `vaxhub run` gives them. stop shuts them down in order.
func startRegisterHub(ctx context.Context, parts *hubParts, simURL string, partitions int, log *slog.Logger) (stop func(), err error) {
	registry, err := schemas.Load()
	if err != nil {
		return nil, err
	}
	passwords := newKafkaUsers()
	broker, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{Addr: "127.0.0.1:0", Partitions: partitions,
		Users: embeddedUsers(passwords, eventTopics(registry))})
	if err != nil {
		return nil, err
	}
	var undo []func()
	stop = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		undo = nil
	}
	undo = append(undo, broker.Close)
	fail := func(err error) (func(), error) {
		stop()
		return nil, err
	}
	creds := busCredentials{base: bus.Config{Brokers: broker.Addrs()}, embedded: passwords}
	var specs []bus.TopicSpec
	for _, t := range append(eventTopics(registry), bus.DLQTopic) {
		specs = append(specs, bus.TopicSpec{Name: t, Partitions: partitions})
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = bus.EnsureTopics(tctx, creds.must(busAdmin), specs)
	cancel()
	if err != nil {
		return fail(err)
	}
	promReg := prometheus.NewRegistry()
	metrics, err := bus.NewMetrics(promReg)
	if err != nil {
		return fail(err)
	}
	pub, err := bus.NewPublisher(creds.must(busRelay))
	if err != nil {
		return fail(err)
	}
	undo = append(undo, func() { _ = pub.Close() })
	outbox := store.NewOutbox(parts.pool)
	undo = append(undo, outbox.Close)
	relay, err := bus.NewRelay(outbox, pub, bus.RelayConfig{Metrics: metrics, Logger: log})
	if err != nil {
		return fail(err)
	}
	rctx, cancelRelay := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(rctx) }()
	undo = append(undo, func() { cancelRelay(); <-done })
	stopConnector, err := register.StartWith(context.WithoutCancel(ctx), register.Deps{App: parts.app, Config: register.Config{BaseURL: simURL},
		Consumer:   bus.ConsumerConfig{Kafka: creds.must(busRegister), Validator: registry, Metrics: metrics, Logger: log, ShutdownTimeout: consumerShutdown},
		Registerer: promReg, Logger: log})
	if err != nil {
		return fail(fmt.Errorf("register connector: %w", err))
	}
	undo = append(undo, stopConnector)
	return stop, nil
}

// benchPerson is one record of /_sim/residents/sample.
type benchPerson struct {
	ID              string   `json:"id"`
	Family          string   `json:"family"`
	Given           []string `json:"given"`
	Gender          string   `json:"gender"`
	BirthDate       string   `json:"birth_date"`
	Street          string   `json:"street"`
	HouseNumber     string   `json:"house_number"`
	PostalCode      string   `json:"postal_code"`
	City            string   `json:"city"`
	MunicipalityKey string   `json:"municipality_key"`
}

// sampleResidents fetches n distinct adults of kind normal (unique in the
// register by name and birth date), page by page.
func sampleResidents(ctx context.Context, base string, n int) ([]benchPerson, error) {
	const perPage = 1000 // the simulator's maximum
	seen := map[string]bool{}
	out := make([]benchPerson, 0, n)
	for page := 0; len(out) < n; page++ {
		if page > 10+4*n/perPage {
			return nil, fmt.Errorf("sample: %d distinct residents after %d pages, want %d", len(out), page, n)
		}
		u := fmt.Sprintf("%s/_sim/residents/sample?kind=normal&min_age=18&n=%d&page=%d", base, perPage, page)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("sample: %w", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("sample: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("sample: %s: %s", resp.Status, body)
		}
		var ans struct {
			Residents []benchPerson `json:"residents"`
		}
		if err := json.Unmarshal(body, &ans); err != nil {
			return nil, fmt.Errorf("sample: %w", err)
		}
		if len(ans.Residents) == 0 {
			return nil, fmt.Errorf("sample: page %d is empty; %d distinct residents, want %d", page, len(out), n)
		}
		for _, p := range ans.Residents {
			if !seen[p.ID] && len(out) < n {
				seen[p.ID] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

var benchSex = map[string]domain.Sex{"female": domain.SexFemale, "male": domain.SexMale, "other": domain.SexDiverse, "unknown": domain.SexUnspecified}

// residentFromSample is the registration the person would type: the same
// names, birth date, sex and home address as in the register.
func residentFromSample(p benchPerson) (domain.Resident, error) {
	bd, err := time.Parse(time.DateOnly, p.BirthDate)
	if err != nil {
		return domain.Resident{}, fmt.Errorf("sample %s: birth date: %w", p.ID, err)
	}
	sex, ok := benchSex[p.Gender]
	if !ok {
		sex = domain.SexUnspecified
	}
	return domain.Resident{GivenNames: strings.Join(p.Given, " "), FamilyName: p.Family, BirthDate: domain.DateOf(bd), Sex: sex,
		Address: domain.Address{Street: strings.TrimSpace(p.Street + " " + p.HouseNumber), PostalCode: p.PostalCode, City: p.City,
			MunicipalityKey: p.MunicipalityKey}}, nil
}

// awaitVerdict polls App.Verification until the resident is decided.
func awaitVerdict(ctx context.Context, a *app.App, id string, timeout time.Duration) (*domain.Verification, error) {
	deadline := time.Now().Add(timeout)
	for {
		v, err := a.Verification(ctx, id)
		if err != nil {
			return nil, err
		}
		if v.Status != domain.RegisterUnverified {
			return v, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no verdict within %s", timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

type registerLoad struct {
	ids      []string
	failed   int
	firstErr error
	elapsed  time.Duration
	maxLag   time.Duration
}

// registerAtRate registers the residents at rate per second: a pacer hands
// each one to a worker at its scheduled time; maxLag is how late the pacer
// found a free worker (time a registration waited that registered_at does
// not see).
func registerAtRate(ctx context.Context, a *app.App, residents []domain.Resident, rate, workers int) registerLoad {
	type job struct {
		r     domain.Resident
		sched time.Time
	}
	work := make(chan job)
	var mu sync.Mutex
	var res registerLoad
	var maxLag atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				lag := int64(time.Since(j.sched))
				for cur := maxLag.Load(); lag > cur && !maxLag.CompareAndSwap(cur, lag); cur = maxLag.Load() {
				}
				reg, err := a.RegisterResident(ctx, app.Registration{Resident: j.r})
				mu.Lock()
				if err != nil {
					res.failed++
					if res.firstErr == nil {
						res.firstErr = err
					}
				} else {
					res.ids = append(res.ids, reg.Resident.ID)
				}
				mu.Unlock()
			}
		}()
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i, r := range residents {
		sched := start.Add(time.Duration(i) * interval)
		if d := time.Until(sched); d > 0 {
			time.Sleep(d)
		}
		if ctx.Err() != nil {
			break
		}
		work <- job{r, sched}
	}
	close(work)
	wg.Wait()
	res.elapsed = time.Since(start)
	res.maxLag = time.Duration(maxLag.Load())
	return res
}

// awaitDecided polls the database until every resident has a decided
// verification or the timeout passes; it returns how many are decided.
func awaitDecided(ctx context.Context, parts *hubParts, ids []string, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		var n int
		err := parts.pool.QueryRow(ctx, `SELECT count(*) FROM resident_verifications
			WHERE resident_id = ANY($1::text[]::uuid[]) AND decided_at IS NOT NULL`, ids).Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("count verdicts: %w", err)
		}
		if n >= len(ids) || time.Now().After(deadline) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type verdictTime struct {
	registered, decided time.Time
	status, reason      string
}

// verdictTimes reads registered_at and decided_at of every decided resident.
func verdictTimes(ctx context.Context, parts *hubParts, ids []string) ([]verdictTime, error) {
	rows, err := parts.pool.Query(ctx, `SELECT r.registered_at, v.decided_at, v.status, coalesce(v.reason, '')
		FROM residents r JOIN resident_verifications v ON v.resident_id = r.id
		WHERE r.id = ANY($1::text[]::uuid[]) AND v.decided_at IS NOT NULL`, ids)
	if err != nil {
		return nil, fmt.Errorf("verdict times: %w", err)
	}
	defer rows.Close()
	var out []verdictTime
	for rows.Next() {
		var x verdictTime
		if err := rows.Scan(&x.registered, &x.decided, &x.status, &x.reason); err != nil {
			return nil, fmt.Errorf("verdict times: %w", err)
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

type searchFigures struct {
	ok, errors int
	elapsed    time.Duration
	rate       float64
	p50, p99   time.Duration
}

// searchRate runs clients concurrent HTTP clients doing the connector's
// exact search (family, every given name, birthdate eq, _max-results 10)
// for the sampled people, each with its own X-Request-ID, for d.
func searchRate(ctx context.Context, base string, people []benchPerson, clients int, d time.Duration) searchFigures {
	queries := make([]string, len(people))
	for i, p := range people {
		q := url.Values{}
		q.Set("family", p.Family)
		for _, g := range p.Given {
			q.Add("given", g)
		}
		q.Set("birthdate", "eq"+p.BirthDate)
		q.Set("_max-results", "10")
		queries[i] = base + "/Patient?" + q.Encode()
	}
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var mu sync.Mutex
	var res searchFigures
	var all []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ok, failed int
			lat := make([]time.Duration, 0, 4096)
			for k := c; time.Now().Before(deadline) && ctx.Err() == nil; k += clients {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, queries[k%len(queries)], nil)
				req.Header.Set("X-Request-ID", uuid.NewString())
				req.Header.Set("Accept", "application/fhir+json")
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					failed++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
				if resp.StatusCode == http.StatusOK {
					ok++
				} else {
					failed++
				}
			}
			mu.Lock()
			res.ok += ok
			res.errors += failed
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.rate = float64(res.ok) / res.elapsed.Seconds()
	if len(all) > 0 {
		slices.Sort(all)
		res.p50, res.p99 = percentile(all, 50), percentile(all, 99)
	}
	return res
}
