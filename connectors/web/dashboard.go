package web

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vaxhub/vaxhub/connectors/web/waitingroom"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

// DashboardConfig switches on the staff operations dashboard at /dashboard
// (page), /dashboard/events (server-sent events, one JSON snapshot every
// Interval) and /dashboard/snapshot (the same JSON once).
//
//	web.Config{..., Dashboard: &web.DashboardConfig{
//		Authorize: func(r *http.Request) bool { return staffOK(r) }, // bearer token or staff session
//		Room:      room,                                              // may be nil
//		Metrics:   registry,                                          // prometheus.Gatherer, may be nil
//	}}
type DashboardConfig struct {
	// Authorize decides whether the request may see the dashboard.
	// Required. A refused request without an Authorization header gets
	// 401 (with WWW-Authenticate: Bearer), one with a header 403; both get
	// a clear page and nothing of the figures.
	Authorize func(*http.Request) bool
	// Room is the waiting room whose queue is shown; nil: "not available".
	Room *waitingroom.Room
	// Metrics is read for the bus (vaxhub_outbox_backlog,
	// vaxhub_consumer_lag, vaxhub_consumer_dead_lettered_total,
	// vaxhub_http_client_breaker_state) and the hotline
	// (vaxhub_hotline_calls_in_progress, vaxhub_hotline_queue_length,
	// vaxhub_hotline_agents_free). A metric that is missing is shown as
	// "not available". Nil: all "not available".
	Metrics prometheus.Gatherer
	// Interval between snapshots on the event stream. Default 3s, at
	// least 100ms.
	Interval time.Duration
	// MaxStream ends an event stream after this long; the browser's
	// EventSource reconnects by itself. It bounds how long an open
	// dashboard holds up a graceful shutdown (http.Server.Shutdown waits
	// for active requests). Default 30s, at least Interval.
	MaxStream time.Duration
}

// Metric names the dashboard reads from DashboardConfig.Metrics.
const (
	metricOutboxBacklog   = "vaxhub_outbox_backlog"
	metricConsumerLag     = "vaxhub_consumer_lag"
	metricDeadLettered    = "vaxhub_consumer_dead_lettered_total"
	metricBreakerState    = "vaxhub_http_client_breaker_state"
	metricHotlineCalls    = "vaxhub_hotline_calls_in_progress"
	metricHotlineQueue    = "vaxhub_hotline_queue_length"
	metricHotlineAgents   = "vaxhub_hotline_agents_free"
	dashboardMinInterval  = 100 * time.Millisecond
	dashboardDefaultEvery = 3 * time.Second
)

func (c *DashboardConfig) validate() error {
	if c.Authorize == nil {
		return fmt.Errorf("web: Dashboard.Authorize is required")
	}
	if c.Interval == 0 {
		c.Interval = dashboardDefaultEvery
	}
	if c.Interval < dashboardMinInterval {
		return fmt.Errorf("web: Dashboard.Interval must be at least %s", dashboardMinInterval)
	}
	if c.MaxStream == 0 {
		c.MaxStream = 30 * time.Second
	}
	if c.MaxStream < c.Interval {
		return fmt.Errorf("web: Dashboard.MaxStream must be at least Interval")
	}
	return nil
}

// saxonyDistricts names Saxony's districts by AGS.
var saxonyDistricts = map[string]string{
	"14511": "Chemnitz", "14521": "Erzgebirgskreis", "14522": "Mittelsachsen", "14523": "Vogtlandkreis",
	"14524": "Zwickau", "14612": "Dresden", "14625": "Bautzen", "14626": "Görlitz", "14627": "Meißen",
	"14628": "Sächsische Schweiz-Osterzgebirge", "14713": "Leipzig", "14729": "Landkreis Leipzig", "14730": "Nordsachsen",
}

func districtName(ags string) string {
	if n, ok := saxonyDistricts[ags]; ok {
		return n + " (" + ags + ")"
	}
	if ags == "" {
		return "–"
	}
	return ags
}

// dashboard serves the staff pages.
type dashboard struct {
	p   *portal
	cfg DashboardConfig

	mu     sync.Mutex
	cached *dashRaw
}

// dashRaw is what one snapshot reads, shared by all viewers for a moment.
type dashRaw struct {
	at       time.Time
	progress *app.Progress
	centres  []domain.Centre
	products map[string]string
	err      error
	room     *waitingroom.Stats
	metrics  map[string]*dto.MetricFamily
	mErr     error
}

// dashData is a snapshot as shown: texts in the viewer's language, the same
// for the HTML page (no script needed) and the event stream.
type dashData struct {
	At     string                `json:"at"`
	Error  string                `json:"error,omitempty"`
	Fields map[string]string     `json:"fields"`
	Lists  map[string][][]string `json:"lists"`
	Chart  dashChart             `json:"chart"`
}

// dashChart is doses per day: X are the days (Unix seconds, midnight in
// Berlin), one series per product plus first and second doses in total.
type dashChart struct {
	X      []int64     `json:"x"`
	Series []dashSerie `json:"series"`
}

type dashSerie struct {
	Label  string  `json:"label"`
	Values []int64 `json:"values"`
}

func (d *dashboard) authorized(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.cfg.Authorize(r) {
			status := http.StatusForbidden
			if r.Header.Get("Authorization") == "" {
				status = http.StatusUnauthorized
				w.Header().Set("WWW-Authenticate", `Bearer realm="vaxhub dashboard"`)
			}
			d.p.log.Warn("web: dashboard refused", "path", r.URL.Path, "status", status, "ip", d.p.clientIP(r))
			v := d.p.view(r, "denied")
			v.Reason = strconv.Itoa(status)
			d.p.render(w, r, status, v)
			return
		}
		next(w, r)
	})
}

func (d *dashboard) page(w http.ResponseWriter, r *http.Request) {
	v := d.p.view(r, "dashboard")
	v.Dash = d.snapshot(r.Context(), v.L)
	d.p.render(w, r, http.StatusOK, v)
}

func (d *dashboard) snapshotJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(d.snapshot(r.Context(), langOf(r)))
}

// events streams a snapshot at once and then every Interval until the
// client goes away or MaxStream has passed (the browser then reconnects).
func (d *dashboard) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	l := langOf(r)
	ctx := r.Context()
	send := func(first bool) error {
		b, err := json.Marshal(d.snapshot(ctx, l))
		if err != nil {
			return err
		}
		_ = rc.SetWriteDeadline(time.Now().Add(d.cfg.Interval + 10*time.Second))
		if first {
			fmt.Fprintf(w, "retry: %d\n", max(1000, d.cfg.Interval.Milliseconds()))
		}
		if _, err := fmt.Fprintf(w, "event: snapshot\ndata: %s\n\n", b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := send(true); err != nil {
		return
	}
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	end := time.NewTimer(d.cfg.MaxStream)
	defer end.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-end.C:
			return
		case <-t.C:
			if err := send(false); err != nil {
				return
			}
		}
	}
}

// raw reads the figures, at most about twice per Interval for all viewers.
func (d *dashboard) raw(ctx context.Context) *dashRaw {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	if d.cached != nil && now.Sub(d.cached.at) < d.cfg.Interval/2 {
		return d.cached
	}
	x := &dashRaw{at: now, products: map[string]string{}}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	x.progress, x.err = d.p.app.Progress(qctx)
	if x.err == nil {
		x.centres, x.err = d.p.app.Centres(qctx)
	}
	if x.err == nil {
		if ps, err := d.p.app.Products(qctx); err == nil {
			for _, p := range ps {
				x.products[string(p.ID)] = p.Name
			}
		}
	}
	if d.cfg.Room != nil {
		s := d.cfg.Room.Stats()
		x.room = &s
	}
	if d.cfg.Metrics != nil {
		x.metrics = map[string]*dto.MetricFamily{}
		mfs, err := d.cfg.Metrics.Gather()
		x.mErr = err
		for _, mf := range mfs {
			x.metrics[mf.GetName()] = mf
		}
	}
	if x.err != nil && ctx.Err() != nil {
		return x // a viewer that went away: do not cache its failure
	}
	d.cached = x
	return x
}

func (d *dashboard) snapshot(ctx context.Context, l lang) *dashData {
	x := d.raw(ctx)
	na := l.T("dash.na")
	out := &dashData{At: x.at.In(berlin).Format("02.01.2006 15:04:05"), Fields: map[string]string{}, Lists: map[string][][]string{}}
	num := func(n int64) string { return formatInt(n, l) }
	if x.err != nil {
		d.p.log.Error("web: dashboard progress", "err", x.err)
		out.Error = l.T("dash.err.progress")
	}

	// Progress: doses by day, district, product; first and second doses.
	centreOf := map[string]domain.Centre{}
	for _, c := range x.centres {
		centreOf[c.ID] = c
	}
	product := func(id string) string {
		if n, ok := x.products[id]; ok && n != "" {
			return n
		}
		return id
	}
	type key struct{ day, district, product string }
	type pair struct{ first, second int64 }
	byKey := map[key]*pair{}
	perDay := map[string]map[string]int64{} // day → series label → count
	var first, second int64
	for _, c := range zeroIfNil(x.progress).Doses {
		k := key{c.Day, districtName(centreOf[c.CentreID].DistrictAGS), product(c.Product)}
		pr := byKey[k]
		if pr == nil {
			pr = &pair{}
			byKey[k] = pr
		}
		if perDay[c.Day] == nil {
			perDay[c.Day] = map[string]int64{}
		}
		perDay[c.Day][k.product] += c.Count
		if c.DoseNumber <= 1 {
			pr.first += c.Count
			first += c.Count
			perDay[c.Day]["\x00first"] += c.Count
		} else {
			pr.second += c.Count
			second += c.Count
			perDay[c.Day]["\x00second"] += c.Count
		}
	}
	keys := make([]key, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.day != b.day {
			return a.day > b.day // newest first
		}
		if a.district != b.district {
			return a.district < b.district
		}
		return a.product < b.product
	})
	doses := [][]string{}
	for _, k := range keys {
		pr := byKey[k]
		doses = append(doses, []string{dayText(k.day, l), k.district, k.product, num(pr.first), num(pr.second), num(pr.first + pr.second)})
	}
	out.Lists["doses"] = doses
	out.Chart = chartOf(perDay, l)

	// Stock versus booked per centre and product.
	stock := [][]string{}
	var booked int64
	for _, s := range zeroIfNil(x.progress).Centres {
		booked += s.BookedDoses
		if s.Delivered == 0 && s.BookedDoses == 0 && s.Administered == 0 {
			continue
		}
		c := centreOf[s.CentreID]
		name := c.Name
		if name == "" {
			name = s.CentreID
		}
		stock = append(stock, []string{name, districtName(c.DistrictAGS), product(s.Product), num(s.Delivered), num(s.Administered),
			num(s.Free), num(s.BookedDoses), num(s.Free - s.BookedDoses)})
	}
	out.Lists["stock"] = stock

	if x.progress != nil {
		t := x.progress.Totals
		out.Fields["residents"] = num(t["residents"])
		out.Fields["open_series"] = num(t["open_series"])
		out.Fields["administered"] = num(t["doses_administered"])
		out.Fields["waitlist"] = num(int64(x.progress.WaitlistOpen))
		out.Fields["booked"] = num(booked)
		out.Fields["first"] = num(first)
		out.Fields["second"] = num(second)
	} else {
		for _, k := range []string{"residents", "open_series", "administered", "waitlist", "booked", "first", "second"} {
			out.Fields[k] = na
		}
	}

	// Waiting room.
	if s := x.room; s != nil {
		out.Fields["room_queued"] = num(s.Waiting)
		out.Fields["room_active"] = num(s.ActiveSessions)
		out.Fields["room_admitted"] = formatFloat(s.AdmittedPerMinute, l)
		out.Fields["room_wait"] = waitText(s.EstimatedWaitSeconds, l)
		if s.Paused {
			out.Fields["room_state"] = l.T("dash.room.paused")
		} else {
			out.Fields["room_state"] = l.T("dash.room.running")
		}
	} else {
		for _, k := range []string{"room_queued", "room_active", "room_admitted", "room_wait", "room_state"} {
			out.Fields[k] = na
		}
	}

	// Hotline and bus from the metrics.
	gauge := func(name string) string {
		v, ok := metricSum(x.metrics, name)
		if !ok {
			return na
		}
		return formatFloat(v, l)
	}
	out.Fields["hotline_calls"] = gauge(metricHotlineCalls)
	out.Fields["hotline_queue"] = gauge(metricHotlineQueue)
	out.Fields["hotline_agents"] = gauge(metricHotlineAgents)
	out.Fields["outbox_backlog"] = gauge(metricOutboxBacklog)
	out.Fields["consumer_lag"] = gauge(metricConsumerLag)
	out.Fields["dead_lettered"] = gauge(metricDeadLettered)
	bus := [][]string{}
	for _, m := range []struct{ name, label string }{{metricConsumerLag, "dash.bus.lag"}, {metricDeadLettered, "dash.bus.dlq"}} {
		for _, s := range metricSamples(x.metrics, m.name) {
			bus = append(bus, []string{l.T(m.label), s.labels, formatFloat(s.value, l)})
		}
	}
	out.Lists["bus"] = bus
	breakers := [][]string{}
	for _, s := range metricSamples(x.metrics, metricBreakerState) {
		breakers = append(breakers, []string{s.label("system"), breakerText(s.value, l)})
	}
	out.Lists["breakers"] = breakers
	if x.mErr != nil {
		d.p.log.Warn("web: dashboard metrics", "err", x.mErr)
	}
	return out
}

func zeroIfNil(p *app.Progress) *app.Progress {
	if p == nil {
		return &app.Progress{}
	}
	return p
}

// chartOf builds the chart data: one series per product, then first and
// second doses in total, over every day from the first to the last.
func chartOf(perDay map[string]map[string]int64, l lang) dashChart {
	ch := dashChart{X: []int64{}, Series: []dashSerie{}}
	if len(perDay) == 0 {
		return ch
	}
	days := make([]string, 0, len(perDay))
	labels := map[string]bool{}
	for d, m := range perDay {
		days = append(days, d)
		for k := range m {
			labels[k] = true
		}
	}
	slices.Sort(days)
	start, err1 := time.ParseInLocation(time.DateOnly, days[0], berlin)
	end, err2 := time.ParseInLocation(time.DateOnly, days[len(days)-1], berlin)
	if err1 != nil || err2 != nil {
		return ch
	}
	var all []string
	for t := start; !t.After(end) && len(all) < 400; t = t.AddDate(0, 0, 1) {
		all = append(all, t.Format(time.DateOnly))
		ch.X = append(ch.X, t.Unix())
	}
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	slices.Sort(names) // "\x00first", "\x00second" come first
	rotate := 0
	for i, n := range names {
		if !strings.HasPrefix(n, "\x00") {
			rotate = i
			break
		}
	}
	names = append(names[rotate:], names[:rotate]...)
	for _, n := range names {
		s := dashSerie{Label: n, Values: make([]int64, len(all))}
		switch n {
		case "\x00first":
			s.Label = l.T("dash.first")
		case "\x00second":
			s.Label = l.T("dash.second")
		}
		for i, d := range all {
			s.Values[i] = perDay[d][n]
		}
		ch.Series = append(ch.Series, s)
	}
	return ch
}

type sample struct {
	labels string
	pairs  []*dto.LabelPair
	value  float64
}

func (s sample) label(name string) string {
	for _, p := range s.pairs {
		if p.GetName() == name {
			return p.GetValue()
		}
	}
	return s.labels
}

func metricSamples(ms map[string]*dto.MetricFamily, name string) []sample {
	mf, ok := ms[name]
	if !ok {
		return nil
	}
	var out []sample
	for _, m := range mf.GetMetric() {
		var v float64
		switch {
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Untyped != nil:
			v = m.GetUntyped().GetValue()
		default:
			continue
		}
		parts := make([]string, 0, len(m.GetLabel()))
		for _, p := range m.GetLabel() {
			parts = append(parts, p.GetName()+"="+p.GetValue())
		}
		out = append(out, sample{labels: strings.Join(parts, ", "), pairs: m.GetLabel(), value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].labels < out[j].labels })
	return out
}

func metricSum(ms map[string]*dto.MetricFamily, name string) (float64, bool) {
	if _, ok := ms[name]; !ok {
		return 0, false
	}
	var sum float64
	for _, s := range metricSamples(ms, name) {
		sum += s.value
	}
	return sum, true
}

func breakerText(v float64, l lang) string {
	switch v {
	case 0:
		return l.T("dash.breaker.closed")
	case 1:
		return l.T("dash.breaker.half")
	case 2:
		return l.T("dash.breaker.open")
	}
	return formatFloat(v, l)
}

func waitText(sec int64, l lang) string {
	switch {
	case sec < 0:
		return l.T("dash.na")
	case sec < 60:
		return l.Tf("dash.seconds", sec)
	}
	return l.Tf("dash.minutes", int64(math.Ceil(float64(sec)/60)))
}

func dayText(day string, l lang) string {
	t, err := time.ParseInLocation(time.DateOnly, day, berlin)
	if err != nil {
		return day
	}
	return l.Day(t)
}

// formatInt groups thousands: 12.345 in German, 12,345 in English.
func formatInt(n int64, l lang) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	sep := "."
	if l == langEN {
		sep = ","
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func formatFloat(v float64, l lang) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return l.T("dash.na")
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return formatInt(int64(v), l)
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if l == langDE {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

// dtableArgs are the arguments of the "dtable" partial.
type dtableArgs struct {
	V     *view
	ID    string
	Heads []string
	Rows  [][]string
}

func init() {
	funcs["dtable"] = func(v *view, id string, heads ...string) dtableArgs {
		a := dtableArgs{V: v, ID: id, Heads: heads}
		if v.Dash != nil {
			a.Rows = v.Dash.Lists[id]
		}
		return a
	}
}
