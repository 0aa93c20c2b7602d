package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emiago/diago/media"

	"github.com/vaxhub/vaxhub/connectors/hotline"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

//go:embed testdata/bench_hotline.xml
var benchHotlineScenario string

// sippShare holds SIPp's bundled captures (Debian package sip-tester).
const sippShare = "/usr/share/sip-tester"

const (
	// benchKeyGap is the time from one key to the next. A stock DTMF capture
	// lasts 140 ms, and SIPp cancels a call's playing capture when the next
	// starts: the gap leaves its media threads slack under load.
	benchKeyGap  = 250 * time.Millisecond
	benchMinTail = 1500 * time.Millisecond // talk after the keys while the IVR looks the appointment up
)

// benchHotline measures the IVR (issue 6, "Speed"): SIPp drives calls with
// RTP audio and RFC 4733 keys against the hotline in-process, over a fresh
// database with the Saxony campaign, and the figures are printed.
func benchHotline(ctx context.Context, args []string) error {
	return runBenchHotline(ctx, args, os.Stdout)
}

func runBenchHotline(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("vaxhub bench hotline", flag.ContinueOnError)
	fs.SetOutput(out)
	calls := fs.Int("calls", 1000, "total calls SIPp makes")
	concurrent := fs.Int("concurrent", 500, "calls held at once at most (SIPp -l)")
	rate := fs.Int("rate", 100, "new calls per second (SIPp -r)")
	hold := fs.Float64("hold", 8, "seconds a call stays up, from the ACK to the caller's BYE (raised to what the keypad path needs)")
	sippBin := fs.String("sipp", "sipp", "the SIPp binary")
	rtpStart := fs.Int("rtp-port-start", 20000, "first RTP port of the IVR (the range is 4 ports per held call)")
	keep := fs.Bool("keep", false, "keep the benchmark database and SIPp's files (printed)")
	verbose := fs.Bool("v", false, "log the IVR's warnings to stderr")
	events := fs.Bool("events", true, "record call events in the outbox, as vaxhub run does (false: drop them, to see their cost)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &usageError{helpShown}
		}
		return &usageError{err.Error()}
	}
	if *calls < 1 || *concurrent < 1 || *rate < 1 || *hold <= 0 || *rtpStart < 1024 {
		return &usageError{"bench hotline: -calls, -concurrent, -rate and -hold must be positive"}
	}
	sipp, err := exec.LookPath(*sippBin)
	if err != nil {
		return fmt.Errorf("bench hotline: sipp is not on PATH (Debian package sip-tester): %w", err)
	}
	for _, f := range []string{"g711a.pcap", "dtmf_2833_0.pcap", "dtmf_2833_pound.pcap"} {
		if _, err := os.Stat(filepath.Join(sippShare, f)); err != nil {
			return fmt.Errorf("bench hotline: SIPp's captures are missing: %w", err)
		}
	}
	cfg, err := loadConfig(nil, modeRun)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *verbose {
		log = newLogger("warn")
	}
	// diago's RTP reader warns on every repeated sequence number, and SIPp
	// replays each capture with the same ones: quiet unless -v.
	prevMediaLog := media.DefaultLogger()
	media.SetDefaultLogger(log)
	defer media.SetDefaultLogger(prevMediaLog)
	fmt.Fprintf(out, "vaxhub bench hotline: %d calls, at most %d at once, %d new calls/s, hold %gs (GOMAXPROCS %d, %d CPUs)\n",
		*calls, *concurrent, *rate, *hold, runtime.GOMAXPROCS(0), runtime.NumCPU())

	// 1. A fresh database with the Saxony campaign and one booked resident
	// whose appointment every caller hears.
	parts, dbName, cleanup, err := benchCore(ctx, cfg, "hotline", 60, *keep, nil, log)
	if err != nil {
		return err
	}
	defer cleanup()
	benchURL := cfg.DatabaseURL
	birth := domain.Date{Year: 1938, Month: 12, Day: 24}
	ap, err := benchHotlineBooking(ctx, parts.app, birth, cfg.requireVerification())
	if err != nil {
		return fmt.Errorf("bench hotline: book the appointment the callers hear: %w", err)
	}
	fmt.Fprintf(out, "  database:   %s on %s (migrated, campaign saxony-2021, 60 slot days, one booking at %s)\n",
		dbName, maskURL(benchURL), ap.CentreID)

	// 2. The IVR in-process, with limits raised for one SIPp source.
	sipPort, err := freeUDPTCPPort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(sipPort)
	rtpEnd := min(*rtpStart+max(4*(*concurrent), 2000), 39998)
	var rec hotline.EventRecorder
	if *events {
		rec = parts.app
	}
	ivr, err := hotline.New(parts.app, hotline.Config{
		Addr:                    addr,
		Transports:              []string{"udp"},
		RTPPortStart:            *rtpStart,
		RTPPortEnd:              rtpEnd,
		CallsPerSecondPerSource: float64(2 * *rate),
		BurstPerSource:          *concurrent + *rate,
		MaxCallsPerSource:       max(2**concurrent, 2000), // SIPp is one source
		MaxCalls:                max(2**concurrent, 2000),
		Events:                  rec,
		CallerHashKey:           []byte("vaxhub bench hotline"),
		Logger:                  log,
	})
	if err != nil {
		return err
	}
	ivrCtx, cancelIVR := context.WithCancel(ctx)
	stopIVR, err := ivr.Start(ivrCtx)
	if err != nil {
		cancelIVR()
		return err
	}
	defer func() { cancelIVR(); stopIVR() }()
	fmt.Fprintf(out, "  ivr:        sip:116117@%s (UDP), RTP %d-%d, %d calls/s per source (burst %d), max %d calls, events to the outbox\n",
		addr, *rtpStart, rtpEnd, 2**rate, *concurrent+*rate, max(2**concurrent, 2000))

	// 3. The SIPp scenario: talk, key the path, stay, hang up.
	dir, err := os.MkdirTemp("", "vaxhub-bench-hotline-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	keys := "2" + ap.Reference + "#" + fmt.Sprintf("%02d%02d%04d", birth.Day, int(birth.Month), birth.Year)
	scen, callFor := benchHotlineXML(keys, time.Duration(*hold*float64(time.Second)))
	scenPath := filepath.Join(dir, "bench_hotline.xml")
	if err := os.WriteFile(scenPath, []byte(scen), 0o644); err != nil {
		return err
	}
	if callFor > time.Duration(*hold*float64(time.Second)) {
		fmt.Fprintf(out, "  note:       -hold %gs raised to %.1fs: the keypad path (%d keys) needs it\n", *hold, callFor.Seconds(), len(keys))
	}
	fmt.Fprintf(out, "  caller:     SIPp %s: INVITE (PCMA, telephone-event) -> 200 -> ACK, keys 2 <reference> # <birth date> (%d stock dtmf_2833 captures, one per %s), g711a.pcap audio (PCMA) while the IVR reads the appointment out, BYE %.1fs after the ACK\n",
		sipp, len(keys), benchKeyGap, callFor.Seconds())

	// 4. Run SIPp while sampling this process.
	sippPort, err := freeUDPTCPPort()
	if err != nil {
		return err
	}
	expected := time.Duration(float64(*calls)/float64(min(*rate, max(1, int(float64(*concurrent)/callFor.Seconds()))))*float64(time.Second)) + callFor
	limit := 2*expected + 60*time.Second
	statPath := filepath.Join(dir, "stat.csv")
	sargs := []string{addr, "-sf", scenPath, "-s", "116117", "-i", "127.0.0.1", "-mi", "127.0.0.1",
		"-p", strconv.Itoa(sippPort), "-mp", "40000",
		"-r", strconv.Itoa(*rate), "-l", strconv.Itoa(*concurrent), "-m", strconv.Itoa(*calls),
		"-trace_stat", "-stf", statPath, "-fd", "1", "-trace_rtt", "-rtt_freq", "1", "-trace_err",
		"-nostdin", "-timeout", strconv.Itoa(int(limit.Seconds())) + "s", "-timeout_error"}
	cmd := exec.CommandContext(ctx, sipp, sargs...)
	cmd.Dir = dir
	var sippOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &sippOut, &sippOut

	runtime.GC()
	baseRSS := procRSS()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapInuse
	baseGoroutines := runtime.NumGoroutine()
	cpu0 := selfCPU()
	samp := startHotlineSampler(ivr)
	t0 := time.Now()
	runErr := cmd.Run()
	wall := time.Since(t0)
	cpu1 := selfCPU()
	peak := samp.stop()
	// The IVR ends its side after SIPp; wait for the last calls to let go.
	for deadline := time.Now().Add(10 * time.Second); ivr.ActiveCalls() > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	var sippCPU time.Duration
	if cmd.ProcessState != nil {
		sippCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}

	// 5. SIPp's counts and set-up times; the IVR's view from the outbox.
	st, statErr := readSIPpStats(statPath)
	setups, rttErr := readSIPpRTT(dir)
	if statErr != nil || (runErr != nil && st.successful+st.failed == 0) {
		return fmt.Errorf("bench hotline: sipp: %v (stats: %v)\n%s", runErr, statErr, tailString(sippOut.String(), 3000))
	}
	outcomes, heard, err := benchHotlineOutcomes(ctx, parts)
	if err != nil {
		return err
	}
	done := st.successful + st.failed
	failedShare := 0.0
	if done > 0 {
		failedShare = float64(st.failed) / float64(done)
	}
	cpuMS := float64((cpu1 - cpu0).Microseconds()) / 1000
	fmt.Fprintf(out, "\n== bench hotline: summary ==\n")
	fmt.Fprintf(out, "calls:             %d made, %d successful, %d failed (SIPp exit: %s)\n", st.created, st.successful, st.failed, exitText(runErr))
	fmt.Fprintf(out, "calls/s:           %.1f completed per second over %s (offered %d new calls/s; SIPp created %.1f/s)\n",
		float64(done)/wall.Seconds(), wall.Round(time.Millisecond), *rate, st.callRate)
	fmt.Fprintf(out, "peak held at once: %d in the IVR (sampled every 20 ms), %d in SIPp (sampled every 1 s); target %d\n", peak.calls, st.peakCurrent, *concurrent)
	fmt.Fprintf(out, "failed share:      %.2f %%", 100*failedShare)
	if st.failed > 0 {
		fmt.Fprintf(out, " (%s)", st.failReasons())
	}
	fmt.Fprintln(out)
	if rttErr != nil || len(setups) == 0 {
		fmt.Fprintf(out, "set-up time:       not measured (%v)\n", rttErr)
	} else {
		fmt.Fprintf(out, "set-up time:       INVITE -> 200 OK p50 %s, p99 %s, max %s (%d calls; SIPp rtd, whole milliseconds)\n",
			fmtMS(quantile(setups, 0.50)), fmtMS(quantile(setups, 0.99)), fmtMS(setups[len(setups)-1]), len(setups))
	}
	fmt.Fprintf(out, "keypad + core:     %d of %d calls keyed menu 2, reference, #, birth date and heard the appointment (call.step hear/read); outcomes %s\n",
		heard, done, outcomes)
	perCall := 0.0
	if done > 0 {
		perCall = cpuMS / float64(done)
	}
	fmt.Fprintf(out, "cpu per call:      %.1f ms in the hub process (IVR + core client: %.2f s CPU over %s = %.0f %% of one core); SIPp %.1f ms/call; PostgreSQL not counted\n",
		perCall, cpuMS/1000, wall.Round(time.Millisecond), 100*cpuMS/1000/wall.Seconds(), float64(sippCPU.Microseconds())/1000/float64(max(done, 1)))
	if peak.calls > 0 {
		fmt.Fprintf(out, "memory per call:   %.1f KiB RSS (RSS %.1f MiB at %d held calls vs %.1f MiB before), Go heap %.1f KiB, %.1f goroutines per call\n",
			float64(peak.rss-baseRSS)/1024/float64(peak.calls), float64(peak.rss)/(1<<20), peak.calls, float64(baseRSS)/(1<<20),
			(float64(peak.heap)-float64(baseHeap))/1024/float64(peak.calls), float64(peak.goroutines-baseGoroutines)/float64(peak.calls))
	} else {
		fmt.Fprintf(out, "memory per call:   not measured (no call was seen held)\n")
	}
	if *keep {
		fmt.Fprintf(out, "files:             %s (scenario, stats, rtt, errors); database %s kept\n", dir, dbName)
	}
	switch {
	case runErr != nil && st.failed == 0:
		return fmt.Errorf("bench hotline: sipp: %v\n%s", runErr, tailString(sippOut.String(), 2000))
	case st.failed > 0:
		return fmt.Errorf("bench hotline: %d of %d calls failed", st.failed, done)
	case st.successful < *calls:
		return fmt.Errorf("bench hotline: only %d of %d calls completed", st.successful, *calls)
	}
	return nil
}

// benchHotlineBooking registers a resident born on birth in Riesa and books
// their first appointment there.
func benchHotlineBooking(ctx context.Context, a *app.App, birth domain.Date, verify bool) (*domain.Appointment, error) {
	reg, err := a.RegisterResident(ctx, app.Registration{Resident: domain.Resident{GivenNames: "Erika", FamilyName: "Anrufer",
		BirthDate: birth, Sex: domain.SexFemale,
		Address: domain.Address{Street: "Hauptstraße 1", PostalCode: "01587", City: "Riesa", MunicipalityKey: "14627230"}}})
	if err != nil {
		return nil, err
	}
	if verify {
		if _, err := a.VerifyByHand(ctx, reg.Resident.ID, "bench", "vaxhub bench hotline"); err != nil {
			return nil, err
		}
	}
	return a.Book(ctx, app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: "riesa"})
}

// benchHotlineXML fills the scenario in: 300 ms after the ACK the caller
// keys, then talks until hold is up (at least benchMinTail, so that the IVR
// has looked the appointment up) and hangs up. It returns the scenario and
// how long a call stays up after the ACK.
func benchHotlineXML(keys string, hold time.Duration) (string, time.Duration) {
	const lead = 300 * time.Millisecond
	keying := time.Duration(len(keys)) * benchKeyGap
	tail := max(benchMinTail, hold-lead-keying)
	var sb strings.Builder
	for _, d := range keys {
		name := map[rune]string{'#': "pound", '*': "star"}[d]
		if name == "" {
			name = string(d)
		}
		fmt.Fprintf(&sb, "  <nop><action><exec play_pcap_audio=\"%s/dtmf_2833_%s.pcap\"/></action></nop>\n", sippShare, name)
		fmt.Fprintf(&sb, "  <pause milliseconds=\"%d\"/>\n", benchKeyGap.Milliseconds())
	}
	s := strings.NewReplacer(
		"AUDIO_PCAP", sippShare+"/g711a.pcap",
		"TAIL_MS", strconv.FormatInt(tail.Milliseconds(), 10),
		"<!-- KEYS -->\n", sb.String(),
	).Replace(benchHotlineScenario)
	return s, lead + keying + tail
}

// benchHotlineOutcomes counts the call.ended outcomes and the calls whose
// keys reached the appointment read-out.
func benchHotlineOutcomes(ctx context.Context, parts *hubParts) (string, int, error) {
	rows, err := parts.pool.Query(ctx, `SELECT payload->'data'->>'outcome', count(*) FROM outbox
		WHERE topic = 'vaxhub.call.v1' AND event_type = $1 GROUP BY 1 ORDER BY 2 DESC`, hotline.EventCallEnded)
	if err != nil {
		return "", 0, err
	}
	var parts2 []string
	for rows.Next() {
		var o string
		var n int
		if err := rows.Scan(&o, &n); err != nil {
			rows.Close()
			return "", 0, err
		}
		parts2 = append(parts2, fmt.Sprintf("%s %d", o, n))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", 0, err
	}
	var heard int
	err = parts.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE topic = 'vaxhub.call.v1' AND event_type = $1
		AND payload->'data'->>'step' = 'hear' AND payload->'data'->>'result' = 'read'`, hotline.EventCallStep).Scan(&heard)
	if len(parts2) == 0 {
		parts2 = []string{"none"}
	}
	return strings.Join(parts2, ", "), heard, err
}

// hotlineSample is the state of this process when the IVR held the most calls.
type hotlineSample struct {
	calls, goroutines int
	rss               int64
	heap              uint64
}

type hotlineSampler struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	peak  hotlineSample
}

// startHotlineSampler polls the IVR's held calls every 20 ms; at each new
// peak it records RSS, Go heap and goroutines.
func startHotlineSampler(ivr *hotline.IVR) *hotlineSampler {
	s := &hotlineSampler{stopc: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		lastFull := time.Time{}
		for {
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
			n := ivr.ActiveCalls()
			// A new peak, or the same peak again at most every 500 ms (memory keeps
			// growing while calls are held).
			if n > s.peak.calls || (n == s.peak.calls && n > 0 && time.Since(lastFull) > 500*time.Millisecond) {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				s.peak = hotlineSample{calls: n, goroutines: runtime.NumGoroutine(), rss: procRSS(), heap: ms.HeapInuse}
				lastFull = time.Now()
			}
		}
	}()
	return s
}

func (s *hotlineSampler) stop() hotlineSample {
	close(s.stopc)
	s.wg.Wait()
	return s.peak
}

// sippStats is what SIPp's -trace_stat file says at the end of the run.
type sippStats struct {
	created, successful, failed, peakCurrent int
	callRate                                 float64
	reasons                                  map[string]int
}

func (s sippStats) failReasons() string {
	var out []string
	for k, v := range s.reasons {
		if v > 0 {
			out = append(out, fmt.Sprintf("%s %d", k, v))
		}
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// readSIPpStats reads the ;-separated -trace_stat file: the last line holds
// the cumulative counts, the CurrentCall column of every line the peak.
func readSIPpStats(path string) (sippStats, error) {
	st := sippStats{reasons: map[string]int{}}
	b, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	var header []string
	var last []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	col := func(row []string, name string) string {
		if i := slices.Index(header, name); i >= 0 && i < len(row) {
			return strings.TrimSpace(row[i])
		}
		return ""
	}
	for sc.Scan() {
		row := strings.Split(strings.TrimRight(sc.Text(), ";"), ";")
		if header == nil {
			header = row
			continue
		}
		if len(row) < 10 {
			continue
		}
		last = row
		if n, err := strconv.Atoi(col(row, "CurrentCall")); err == nil && n > st.peakCurrent {
			st.peakCurrent = n
		}
	}
	if header == nil || last == nil {
		return st, fmt.Errorf("no statistics in %s", path)
	}
	atoi := func(name string) int { n, _ := strconv.Atoi(col(last, name)); return n }
	st.created = atoi("TotalCallCreated")
	st.successful = atoi("SuccessfulCall(C)")
	st.failed = atoi("FailedCall(C)")
	st.callRate, _ = strconv.ParseFloat(col(last, "CallRate(C)"), 64)
	for _, h := range header {
		if strings.HasPrefix(h, "Failed") && strings.HasSuffix(h, "(C)") && h != "FailedCall(C)" {
			st.reasons[strings.TrimSuffix(h, "(C)")] = atoi(h)
		}
	}
	return st, nil
}

// readSIPpRTT reads the -trace_rtt file(s) in dir: "date_ms;rtt_ms;rtd_no"
// per measured call, and returns the INVITE -> 200 times, sorted.
func readSIPpRTT(dir string) ([]time.Duration, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*_rtt.csv"))
	if len(files) == 0 {
		return nil, errors.New("no -trace_rtt file")
	}
	var out []time.Duration
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(strings.TrimSpace(line), ";")
			if len(f) < 2 {
				continue
			}
			ms, err := strconv.ParseFloat(strings.TrimSpace(f[1]), 64)
			if err != nil {
				continue // the header
			}
			out = append(out, time.Duration(ms*float64(time.Millisecond)))
		}
	}
	slices.Sort(out)
	return out, nil
}

// quantile of sorted values (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func fmtMS(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
}

func exitText(err error) string {
	if err == nil {
		return "0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return strconv.Itoa(ee.ExitCode())
	}
	return err.Error()
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// selfCPU is the user + system CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procRSS is this process's resident set size in bytes (Linux: VmRSS);
// elsewhere the memory the Go runtime holds from the OS.
func procRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				f := strings.Fields(v)
				if len(f) > 0 {
					if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
						return kb * 1024
					}
				}
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys)
}

// freeUDPTCPPort is a port free on 127.0.0.1 for both UDP and TCP.
func freeUDPTCPPort() (int, error) {
	for range 50 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		u.Close()
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, errors.New("no free port")
}
