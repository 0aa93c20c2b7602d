package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/vaxhub/vaxhub/connectors/httpclient"
	"github.com/vaxhub/vaxhub/connectors/jobs"
)

// SMSConfig configures the SMS gateway (Twilio's Messages API).
type SMSConfig struct {
	URL      string // base URL, e.g. https://api.twilio.com
	User     string // account SID
	Password string // auth token
	From     string
	HTTP     httpclient.Config
}

type smsClient struct {
	cfg  SMSConfig
	http *httpclient.Client
}

func newSMSClient(cfg SMSConfig) (*smsClient, error) {
	hc := cfg.HTTP
	hc.System, hc.BaseURL = "sms", strings.TrimSuffix(cfg.URL, "/")
	hc.BasicAuth = &httpclient.BasicAuth{Username: cfg.User, Password: cfg.Password}
	// No retry inside a call: the gateway takes no idempotency key, so a
	// create whose answer was lost must not be sent again blind. The job
	// retries instead, and its retry looks for the message first (send).
	hc.MaxRetries = -1
	if hc.Timeout == 0 {
		hc.Timeout = 5 * time.Second
	}
	c, err := httpclient.New(hc)
	if err != nil {
		return nil, fmt.Errorf("notify: sms client: %w", err)
	}
	return &smsClient{cfg: cfg, http: c}, nil
}

func (s *smsClient) messagesPath() string {
	return "/2010-04-01/Accounts/" + url.PathEscape(s.cfg.User) + "/Messages.json"
}

type twilioMessage struct {
	SID  string `json:"sid"`
	Body string `json:"body"`
	To   string `json:"to"`
}

// send creates the message and returns its SID. Twilio takes no
// idempotency key: on a retry (the answer to an earlier try may have been
// lost after the gateway made the message) it first looks for a message
// to the same number with the same text created today and adopts it.
func (s *smsClient) send(ctx context.Context, to, body string, retry bool) (string, error) {
	if retry {
		if sid, err := s.find(ctx, to, body); err != nil {
			return "", err
		} else if sid != "" {
			return sid, nil
		}
	}
	form := url.Values{"To": {to}, "From": {s.cfg.From}, "Body": {body}}
	resp, err := s.http.Do(ctx, httpclient.Request{Method: http.MethodPost, Path: s.messagesPath(), Body: form.Encode(),
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}})
	if err != nil {
		if errors.Is(err, httpclient.ErrPermanent) {
			return "", jobs.Permanent(fmt.Errorf("sms gateway refused the message: %w", err))
		}
		return "", fmt.Errorf("sms gateway: %w", err)
	}
	var m twilioMessage
	if err := resp.DecodeJSON(&m); err != nil || m.SID == "" {
		return "", fmt.Errorf("sms gateway: no message SID in the answer: %v", err)
	}
	return m.SID, nil
}

// find looks for a message to to with body made since yesterday. Twilio's
// DateSent> is inclusive ("DateSent>=2021-04-11" in its examples is this
// parameter and its value).
func (s *smsClient) find(ctx context.Context, to, body string) (string, error) {
	q := url.Values{"To": {to}, "DateSent>": {time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)}, "PageSize": {"100"}}
	resp, err := s.http.Do(ctx, httpclient.Request{Method: http.MethodGet, Path: s.messagesPath(), Query: q})
	if err != nil {
		return "", fmt.Errorf("sms gateway: look for an earlier try: %w", err)
	}
	var page struct {
		Messages []twilioMessage `json:"messages"`
	}
	if err := json.Unmarshal(resp.Body, &page); err != nil {
		return "", fmt.Errorf("sms gateway: list: %w", err)
	}
	for _, m := range page.Messages {
		if m.Body == body {
			return m.SID, nil
		}
	}
	return "", nil
}

// signature is Twilio's X-Twilio-Signature: base64 HMAC-SHA1, keyed with
// the auth token, of the URL followed by each POST parameter sorted by name
// as name+value.
func signature(token, fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vs := append([]string(nil), params[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// statusRank orders delivery statuses: a callback that arrives late (a
// retry after the next status's) never moves a message back.
var statusRank = map[string]int{"sent": 1, "queued": 1, "accepted": 1, "sending": 2, "delivered": 3, "undelivered": 3, "failed": 3}

// WebhookHandler receives the gateway's delivery statuses. A request whose
// X-Twilio-Signature does not match (keyed with sms_password, over the URL
// the gateway called) is refused with 403 and changes nothing. A failed or
// undelivered message is flagged for staff (contact_review), logged and
// counted.
func (c *Connector) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			problem(w, http.StatusMethodNotAllowed, "Method Not Allowed", "POST only")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err != nil {
			problem(w, http.StatusBadRequest, "Bad Request", "the body is not a form")
			return
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		full := scheme + "://" + r.Host + r.URL.RequestURI()
		want := signature(c.cfg.SMS.Password, full, r.PostForm)
		if c.cfg.SMS.Password == "" || !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Twilio-Signature"))) {
			c.metrics.status.WithLabelValues("bad-signature").Inc()
			c.log.WarnContext(r.Context(), "SMS status refused: bad signature")
			problem(w, http.StatusForbidden, "Forbidden", "X-Twilio-Signature does not match")
			return
		}
		sid, status, code := r.PostForm.Get("MessageSid"), r.PostForm.Get("MessageStatus"), r.PostForm.Get("ErrorCode")
		rank, known := statusRank[status]
		if sid == "" || !known {
			problem(w, http.StatusBadRequest, "Bad Request", "MessageSid and a known MessageStatus are required")
			return
		}
		bad := status == "failed" || status == "undelivered"
		tag, err := c.cfg.Pool.Exec(r.Context(), `UPDATE notify_messages SET status = $2, error_code = NULLIF($3, ''),
			contact_review = contact_review OR $4, updated_at = now()
			WHERE provider_id = $1 AND channel = 'sms' AND COALESCE((SELECT v FROM (VALUES ('sent', 1), ('queued', 1), ('accepted', 1), ('sending', 2),
				('delivered', 3), ('undelivered', 3), ('failed', 3)) AS r(s, v) WHERE r.s = status), 0) < $5`,
			sid, status, code, bad, rank)
		if err != nil {
			c.log.ErrorContext(r.Context(), "recording an SMS status failed", "err", err)
			problem(w, http.StatusServiceUnavailable, "Service Unavailable", "try again")
			return
		}
		c.metrics.status.WithLabelValues(status).Inc()
		if bad && tag.RowsAffected() > 0 {
			c.metrics.review.WithLabelValues("sms", status).Inc()
			c.log.WarnContext(r.Context(), "SMS not delivered; the resident's phone number needs a check", "provider_id", sid, "status", status, "error_code", code)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func problem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail})
}
