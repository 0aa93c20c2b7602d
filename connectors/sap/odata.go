package sap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/vaxhub/vaxhub/connectors/httpclient"
)

const (
	svcDocument = "API_MATERIAL_DOCUMENT_SRV"
	svcStock    = "API_MATERIAL_STOCK_SRV"
)

// ErrMalformed marks an OData answer that is not what OData v2 promises
// (not JSON, no d/results). It is permanent for the records concerned.
var ErrMalformed = errors.New("sap: malformed OData answer")

// odata speaks OData v2 to SAP through the resilient client: collections
// with server paging, CSRF tokens for writes.
type odata struct {
	cl        *httpclient.Client
	sapClient string

	mu    sync.Mutex
	token string
	gen   int
}

func (o *odata) query(q url.Values) url.Values {
	if q == nil {
		q = url.Values{}
	}
	q.Set("$format", "json")
	if o.sapClient != "" {
		q.Set("sap-client", o.sapClient)
	}
	return q
}

// malformedError is an unreadable OData answer with its body.
type malformedError struct {
	msg string
	raw []byte
}

func (e *malformedError) Error() string   { return e.msg }
func (e *malformedError) Unwrap() error   { return ErrMalformed }
func (e *malformedError) RawBody() []byte { return e.raw }

// page is one page of a collection: its raw records and the next link.
type page struct {
	Records []json.RawMessage
	Next    string
	Raw     []byte
}

// get reads one page: path with query, or an absolute __next link.
func (o *odata) get(ctx context.Context, path string, q url.Values) (*page, error) {
	req := httpclient.Request{Method: http.MethodGet, Path: path}
	if !strings.HasPrefix(path, "http://") && !strings.HasPrefix(path, "https://") {
		req.Query = o.query(q)
	}
	resp, err := o.cl.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	var env struct {
		D *struct {
			Results *[]json.RawMessage `json:"results"`
			Next    string             `json:"__next"`
		} `json:"d"`
	}
	if err := json.Unmarshal(resp.Body, &env); err != nil {
		return nil, &malformedError{msg: fmt.Sprintf("%v: GET %s: not JSON: %v", ErrMalformed, path, err), raw: resp.Body}
	}
	if env.D == nil || env.D.Results == nil {
		return nil, &malformedError{msg: fmt.Sprintf("%v: GET %s: no d.results in the answer", ErrMalformed, path), raw: resp.Body}
	}
	return &page{Records: *env.D.Results, Next: env.D.Next, Raw: resp.Body}, nil
}

// getAll reads every page of a collection, following __next, and calls fn
// per page.
func (o *odata) getAll(ctx context.Context, path string, q url.Values, fn func(*page) error) error {
	p, err := o.get(ctx, path, q)
	for {
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		if p.Next == "" {
			return nil
		}
		p, err = o.get(ctx, p.Next, nil)
	}
}

// fetchToken gets a CSRF token (bound to the session cookie the client's
// jar keeps) unless another caller renewed it since gen.
func (o *odata) fetchToken(ctx context.Context, gen int) (string, int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.token != "" && o.gen != gen {
		return o.token, o.gen, nil
	}
	resp, err := o.cl.Do(ctx, httpclient.Request{Method: http.MethodGet, Path: "/" + svcDocument + "/",
		Query: o.query(nil), Header: http.Header{"X-Csrf-Token": {"Fetch"}}})
	if err != nil {
		return "", 0, fmt.Errorf("sap: fetch CSRF token: %w", err)
	}
	tok := resp.Header.Get("X-Csrf-Token")
	if tok == "" || strings.EqualFold(tok, "Required") {
		return "", 0, fmt.Errorf("sap: fetch CSRF token: none in the answer")
	}
	o.token = tok
	o.gen++
	return o.token, o.gen, nil
}

func (o *odata) currentToken(ctx context.Context) (string, int, error) {
	o.mu.Lock()
	tok, gen := o.token, o.gen
	o.mu.Unlock()
	if tok != "" {
		return tok, gen, nil
	}
	return o.fetchToken(ctx, gen)
}

// csrfRejected reports a 403 answered with x-csrf-token: Required.
func csrfRejected(err error) bool {
	var se *httpclient.StatusError
	return errors.As(err, &se) && se.Status == http.StatusForbidden && strings.EqualFold(se.Header.Get("X-Csrf-Token"), "Required")
}

// post creates an entity (one attempt; a CSRF rejection, which SAP answers
// before it books anything, is repeated once with a fresh token).
func (o *odata) post(ctx context.Context, path string, body any) (*httpclient.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", httpclient.ErrPermanent, err)
	}
	for attempt := 0; ; attempt++ {
		tok, gen, err := o.currentToken(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := o.cl.Do(ctx, httpclient.Request{Method: http.MethodPost, Path: path, Query: o.query(nil),
			Header: http.Header{"X-Csrf-Token": {tok}, "Content-Type": {"application/json"}}, Body: b})
		if err != nil && csrfRejected(err) && attempt == 0 {
			if _, _, err := o.fetchToken(ctx, gen); err != nil {
				return nil, err
			}
			continue
		}
		return resp, err
	}
}

// odataErrorMessage extracts SAP's error message from a status error body.
func odataErrorMessage(err error) string {
	var se *httpclient.StatusError
	if !errors.As(err, &se) {
		return ""
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message struct {
				Value string `json:"value"`
			} `json:"message"`
			Inner struct {
				Details []struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"errordetails"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(se.Body, &e) != nil || e.Error.Code == "" {
		return ""
	}
	parts := []string{e.Error.Code + " " + e.Error.Message.Value}
	for _, d := range e.Error.Inner.Details {
		if d.Message != e.Error.Message.Value {
			parts = append(parts, d.Code+" "+d.Message)
		}
	}
	return strings.Join(parts, "; ")
}
