package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"
	"github.com/prometheus/client_golang/prometheus"
)

// FirewallConfig configures the web application firewall: OWASP Coraza with
// the OWASP Core Rule Set (CRS v4), embedded, in blocking mode.
type FirewallConfig struct {
	// ParanoiaLevel is the CRS blocking paranoia level 1..4. Default 1: the
	// level at which real names, addresses and JSON bodies pass untuned.
	ParanoiaLevel int
	// AnomalyThreshold is the CRS inbound anomaly score that blocks.
	// Default 5 (one critical rule).
	AnomalyThreshold int
	// BodyLimit is the largest request body inspected and accepted, in
	// bytes. Default 128 KiB (the portal's forms and the API's JSON are far
	// smaller).
	BodyLimit int
	// Directives are appended after the CRS: rule exclusions for a flow
	// that raises a false positive (SecRuleUpdateTargetById ...).
	Directives string
	// Logger receives one line per blocked request. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives vaxhub_waf_blocked_requests_total. Nil: not
	// registered.
	Registerer prometheus.Registerer
}

// Firewall is a compiled WAF. One Firewall may wrap several handlers (the
// portal through Config.Firewall, the public JSON API through Wrap).
type Firewall struct {
	waf     coraza.WAF
	log     *slog.Logger
	limit   int
	count   prometheus.Counter
	blocked atomic.Uint64
}

// exclusions tune the CRS to the hub's real traffic. Each says why.
const exclusions = `
# The CSRF token and the session cookies are random base64url: never content.
SecRuleUpdateTargetByTag "attack-sqli" "!ARGS:csrf"
SecRuleUpdateTargetByTag "attack-sqli" "!REQUEST_COOKIES:vh_session"
SecRuleUpdateTargetByTag "attack-sqli" "!REQUEST_COOKIES:/^vh_wr_/"
`

// NewFirewall compiles the CRS with the hub's settings.
func NewFirewall(cfg FirewallConfig) (*Firewall, error) {
	if cfg.ParanoiaLevel == 0 {
		cfg.ParanoiaLevel = 1
	}
	if cfg.AnomalyThreshold == 0 {
		cfg.AnomalyThreshold = 5
	}
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = 128 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ParanoiaLevel < 1 || cfg.ParanoiaLevel > 4 || cfg.AnomalyThreshold < 1 || cfg.BodyLimit < 1024 {
		return nil, fmt.Errorf("web: firewall: ParanoiaLevel 1..4, AnomalyThreshold >= 1, BodyLimit >= 1024")
	}
	directives := fmt.Sprintf(`
Include @coraza.conf-recommended
SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit %[1]d
SecRequestBodyInMemoryLimit %[1]d
SecRequestBodyLimitAction Reject
SecResponseBodyAccess Off
SecAuditEngine Off
Include @crs-setup.conf.example
SecAction "id:900000,phase:1,pass,nolog,t:none,setvar:tx.blocking_paranoia_level=%[2]d"
SecAction "id:900110,phase:1,pass,nolog,t:none,setvar:tx.inbound_anomaly_score_threshold=%[3]d,setvar:tx.outbound_anomaly_score_threshold=4"
SecAction "id:900200,phase:1,pass,nolog,t:none,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE'"
Include @owasp_crs/*.conf
%[4]s
%[5]s
`, cfg.BodyLimit, cfg.ParanoiaLevel, cfg.AnomalyThreshold, exclusions, cfg.Directives)
	waf, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(directives))
	if err != nil {
		return nil, fmt.Errorf("web: firewall rules: %w", err)
	}
	f := &Firewall{waf: waf, log: cfg.Logger, limit: cfg.BodyLimit,
		count: prometheus.NewCounter(prometheus.CounterOpts{Name: "vaxhub_waf_blocked_requests_total",
			Help: "Requests the web application firewall (Coraza, OWASP CRS) refused."})}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(f.count); err != nil {
			return nil, fmt.Errorf("web: firewall metrics: %w", err)
		}
	}
	return f, nil
}

// Blocked is how many requests this firewall refused.
func (f *Firewall) Blocked() uint64 { return f.blocked.Load() }

// Wrap puts the firewall in front of next (the public JSON API): a blocked
// request gets an RFC 9457 problem document (403), is logged and counted.
func (f *Firewall) Wrap(next http.Handler) http.Handler {
	return f.wrap(next, func(w http.ResponseWriter, r *http.Request, rule, status int) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"type": "/problems/blocked", "title": "Request blocked", "status": status, "code": "waf-" + strconv.Itoa(rule),
			"detail": "The web application firewall refused this request. If you think this is wrong, contact the hotline and quote the code.",
		})
	})
}

type blockFunc func(w http.ResponseWriter, r *http.Request, rule, status int)

func (f *Firewall) wrap(next http.Handler, blocked blockFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tx := f.waf.NewTransaction()
		defer func() {
			tx.ProcessLogging()
			_ = tx.Close()
		}()
		it, err := f.inspect(tx, r)
		if err != nil {
			level := slog.LevelError
			if errors.Is(err, errClientBody) { // the client's doing (aborted, too slow): not the hub's error
				level = slog.LevelWarn
			}
			f.log.Log(r.Context(), level, "web: firewall could not inspect a request", "path", r.URL.Path, "err", err)
			http.Error(w, "request could not be inspected", http.StatusBadRequest)
			return
		}
		if it != nil {
			f.blocked.Add(1)
			f.count.Inc()
			var ids []string
			for _, m := range tx.MatchedRules() {
				if m.Rule().ID() >= 900000 || m.Message() == "" {
					continue
				}
				ids = append(ids, strconv.Itoa(m.Rule().ID()))
			}
			f.log.Warn("web: firewall blocked a request", "path", r.URL.Path, "method", r.Method, "rule", it.RuleID, "matched", strings.Join(ids, ","))
			status := it.Status
			if status == 0 || it.Action != "deny" {
				status = http.StatusForbidden
			}
			blocked(w, r, it.RuleID, status)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// errClientBody is a request body that could not be read: the client
// aborted it, sent less than announced or was too slow.
var errClientBody = errors.New("read body")

// clientReader remembers the error of reading from the client.
type clientReader struct {
	r   io.Reader
	err error
}

func (c *clientReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// addPathSegments hands the segments of the path to the firewall as path
// arguments (ARGS_PATH, part of ARGS), unescaped the way http.ServeMux
// unescapes a {wildcard}: the API's {id} and {reference} are parameters like
// a query's, and at paranoia level 1 the CRS inspects ARGS with every
// SQL-injection and XSS rule but REQUEST_FILENAME (the whole path) with only
// a few (libinjection on the path, 942101, is level 2). Without this,
// /api/v1/centres/riesa'%20UNION%20SELECT%201--/slots passed.
//
// The escaped path is split first, so an encoded slash (%2F) stays inside
// its segment as it does for the router; a segment that is not valid
// percent-encoding is inspected as sent. A segment of unreserved characters
// only (RFC 3986: letters, digits, - . _ ~), such as every real centre ID,
// reference, UUID and route word, is skipped: it cannot quote, comment,
// or open a tag, the whole path is still matched by the REQUEST_FILENAME
// rules (path traversal, restricted files), and the portal's pages and the
// API's calls keep their firewall cost (BenchmarkFirewall).
func addPathSegments(tx types.Transaction, escaped string) {
	n := 0
	for seg := range strings.SplitSeq(escaped, "/") {
		if seg == "" {
			continue
		}
		n++
		if strings.Trim(seg, unreserved) == "" {
			continue
		}
		if v, err := url.PathUnescape(seg); err == nil {
			seg = v
		}
		tx.AddPathRequestArgument("path_segment_"+strconv.Itoa(n), seg)
	}
}

const unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"

// inspect runs the request phases (headers and body); the response is not
// inspected (SecResponseBodyAccess Off: the hub's own pages are trusted).
func (f *Firewall) inspect(tx types.Transaction, r *http.Request) (*types.Interruption, error) {
	client, port := r.RemoteAddr, 0
	if i := strings.LastIndexByte(r.RemoteAddr, ':'); i != -1 {
		client = strings.Trim(r.RemoteAddr[:i], "[]")
		port, _ = strconv.Atoi(r.RemoteAddr[i+1:])
	}
	tx.ProcessConnection(client, port, "", 0)
	uri := r.RequestURI // as the client sent it: REQUEST_URI_RAW
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	tx.ProcessURI(uri, r.Method, r.Proto)
	addPathSegments(tx, r.URL.EscapedPath())
	for k, vs := range r.Header {
		for _, v := range vs {
			tx.AddRequestHeader(k, v)
		}
	}
	if r.Host != "" {
		tx.AddRequestHeader("Host", r.Host)
		tx.SetServerName(r.Host)
	}
	if it := tx.ProcessRequestHeaders(); it != nil {
		return it, nil
	}
	if tx.IsRequestBodyAccessible() && r.Body != nil && r.Body != http.NoBody {
		cr := &clientReader{r: io.LimitReader(r.Body, int64(f.limit)+1)}
		it, _, err := tx.ReadRequestBodyFrom(cr)
		if err != nil && cr.err != nil {
			return nil, fmt.Errorf("%w: %w", errClientBody, err)
		}
		if err != nil {
			return nil, fmt.Errorf("firewall body buffer: %w", err)
		}
		if it != nil {
			return it, nil
		}
		body, err := tx.RequestBodyReader()
		if err != nil {
			return nil, fmt.Errorf("body reader: %w", err)
		}
		r.Body = io.NopCloser(io.MultiReader(body, r.Body))
	}
	return tx.ProcessRequestBody()
}
