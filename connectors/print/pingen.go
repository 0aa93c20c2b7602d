package print

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vaxhub/vaxhub/connectors/httpclient"
)

// PingenConfig says where and as whom letters are sent.
type PingenConfig struct {
	// BaseURL of the API, e.g. https://api.v2.pingen.com or the simulator's
	// http://127.0.0.1:8104.
	BaseURL string
	// IdentityURL is the token endpoint's base (https://identity.pingen.com).
	// Default BaseURL.
	IdentityURL  string
	ClientID     string
	ClientSecret string
	Organisation string
	// WebhookSecret, if set, must have signed every webhook (header
	// Signature: hex HMAC-SHA256 of the body).
	WebhookSecret string
	// HTTP tunes the resilient client (timeouts, retries, breaker, metrics);
	// System and BaseURL are set here.
	HTTP httpclient.Config
}

// pingen is the client of the hybrid-mail API. Every call goes through the
// one resilient client.
type pingen struct {
	cfg  PingenConfig
	http *httpclient.Client

	mu      sync.Mutex
	token   string
	expires time.Time
}

func newPingen(cfg PingenConfig) (*pingen, error) {
	if cfg.BaseURL == "" || cfg.Organisation == "" || cfg.ClientID == "" {
		return nil, errors.New("print: Pingen BaseURL, Organisation and ClientID are required")
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	if cfg.IdentityURL == "" {
		cfg.IdentityURL = cfg.BaseURL
	}
	cfg.IdentityURL = strings.TrimSuffix(cfg.IdentityURL, "/")
	hc := cfg.HTTP
	hc.System, hc.BaseURL = "print", cfg.BaseURL
	c, err := httpclient.New(hc)
	if err != nil {
		return nil, err
	}
	return &pingen{cfg: cfg, http: c}, nil
}

// bearer returns a valid access token, fetching one with the client
// credentials when needed.
func (p *pingen) bearer(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.token != "" && time.Now().Before(p.expires) {
		return p.token, nil
	}
	resp, err := p.http.Do(ctx, httpclient.Request{Method: http.MethodPost, Path: p.cfg.IdentityURL + "/auth/access-tokens",
		Body: map[string]string{"grant_type": "client_credentials", "client_id": p.cfg.ClientID, "client_secret": p.cfg.ClientSecret}})
	if err != nil {
		return "", fmt.Errorf("access token: %w", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := resp.DecodeJSON(&tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("access token: no token in %q: %w", resp.Body, httpclient.ErrPermanent)
	}
	p.token = tok.AccessToken
	p.expires = time.Now().Add(time.Duration(max(tok.ExpiresIn-60, 30)) * time.Second)
	return p.token, nil
}

func (p *pingen) forget() {
	p.mu.Lock()
	p.token = ""
	p.mu.Unlock()
}

// call makes an authenticated API call; a 401 fetches a new token once.
func (p *pingen) call(ctx context.Context, req httpclient.Request) (*httpclient.Response, error) {
	for try := 0; ; try++ {
		tok, err := p.bearer(ctx)
		if err != nil {
			return nil, err
		}
		r := req
		r.Header = req.Header.Clone()
		if r.Header == nil {
			r.Header = http.Header{}
		}
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Accept", "application/vnd.api+json")
		resp, err := p.http.Do(ctx, r)
		var se *httpclient.StatusError
		if try == 0 && errors.As(err, &se) && se.Status == http.StatusUnauthorized {
			p.forget()
			continue
		}
		return resp, err
	}
}

// remoteLetter is what the service tells about a letter.
type remoteLetter struct {
	ID     string
	Status string
	Pages  int
	Issues []string
}

type letterDoc struct {
	Data struct {
		ID         string `json:"id"`
		Attributes struct {
			Status    string `json:"status"`
			FilePages int    `json:"file_pages"`
		} `json:"attributes"`
		Meta struct {
			Issues []string `json:"issues"`
		} `json:"meta"`
	} `json:"data"`
}

func (d letterDoc) remote() remoteLetter {
	return remoteLetter{ID: d.Data.ID, Status: d.Data.Attributes.Status, Pages: d.Data.Attributes.FilePages, Issues: d.Data.Meta.Issues}
}

// submit uploads pdf and creates a letter from it under key: the service
// answers a repeated key with the letter it already made, so a retry after a
// lost answer never prints twice.
func (p *pingen) submit(ctx context.Context, key, fileName string, pdf []byte) (remoteLetter, error) {
	resp, err := p.call(ctx, httpclient.Request{Method: http.MethodGet, Path: "/file-upload"})
	if err != nil {
		return remoteLetter{}, fmt.Errorf("file upload URL: %w", err)
	}
	var up struct {
		Data struct {
			Attributes struct {
				URL          string `json:"url"`
				URLSignature string `json:"url_signature"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := resp.DecodeJSON(&up); err != nil || up.Data.Attributes.URL == "" {
		return remoteLetter{}, fmt.Errorf("file upload URL: unexpected answer %q: %w", resp.Body, httpclient.ErrPermanent)
	}
	// The presigned URL takes the raw PDF and no Authorization header.
	if _, err := p.http.Do(ctx, httpclient.Request{Method: http.MethodPut, Path: up.Data.Attributes.URL, Body: pdf,
		Header: http.Header{"Content-Type": {"application/pdf"}}}); err != nil {
		return remoteLetter{}, fmt.Errorf("upload PDF: %w", err)
	}
	body := map[string]any{"data": map[string]any{"type": "letters", "attributes": map[string]any{
		"file_original_name": fileName, "file_url": up.Data.Attributes.URL, "file_url_signature": up.Data.Attributes.URLSignature,
		"address_position": "left", "auto_send": true, "delivery_product": "cheap", "print_mode": "simplex", "print_spectrum": "grayscale"}}}
	b, _ := json.Marshal(body)
	resp, err = p.call(ctx, httpclient.Request{Method: http.MethodPost, Path: "/organisations/" + p.cfg.Organisation + "/letters",
		Body: b, IdempotencyKey: key, Header: http.Header{"Content-Type": {"application/vnd.api+json"}}})
	if err != nil {
		return remoteLetter{}, fmt.Errorf("create letter: %w", err)
	}
	var doc letterDoc
	if err := resp.DecodeJSON(&doc); err != nil || doc.Data.ID == "" {
		return remoteLetter{}, fmt.Errorf("create letter: unexpected answer %q: %w", resp.Body, httpclient.ErrPermanent)
	}
	return doc.remote(), nil
}

// letter reads a letter's status.
func (p *pingen) letter(ctx context.Context, id string) (remoteLetter, error) {
	resp, err := p.call(ctx, httpclient.Request{Method: http.MethodGet, Path: "/organisations/" + p.cfg.Organisation + "/letters/" + id})
	if err != nil {
		return remoteLetter{}, err
	}
	var doc letterDoc
	if err := resp.DecodeJSON(&doc); err != nil {
		return remoteLetter{}, err
	}
	return doc.remote(), nil
}
