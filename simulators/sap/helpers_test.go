package sap_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/simulators/sap"
)

const (
	docSrv   = "/sap/opu/odata/sap/API_MATERIAL_DOCUMENT_SRV/"
	stockSrv = "/sap/opu/odata/sap/API_MATERIAL_STOCK_SRV/"
	batchSrv = "/sap/opu/odata/sap/API_BATCH_SRV/"
)

// start runs a simulator on a free port and returns a client that logs on
// as sim/sim and keeps cookies.
func start(t *testing.T, cfg sap.Config) *client {
	t.Helper()
	sim, err := sap.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return newClient(t, srv.URL)
}

type client struct {
	t    *testing.T
	base string
	hc   *http.Client
	user string
	pass string
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 5 * time.Second}, user: "sim", pass: "sim"}
}

// withoutCookies is the same user on a client that never sends cookies.
func (c *client) withoutCookies() *client {
	return &client{t: c.t, base: c.base, hc: &http.Client{Timeout: 5 * time.Second}, user: c.user, pass: c.pass}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer is not JSON (%d): %v\n%s", r.status, err, r.body)
	}
	return m
}

func (c *client) do(method, path string, header map[string]string, body []byte) response {
	c.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = c.base + path
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (c *client) get(path string) response { c.t.Helper(); return c.do(http.MethodGet, path, nil, nil) }

// getJSON GETs an OData path (query given unencoded after "?") and wants 200.
func (c *client) getJSON(path string, query ...string) map[string]any {
	c.t.Helper()
	if len(query) > 0 {
		v := url.Values{}
		for _, q := range query {
			k, val, _ := strings.Cut(q, "=")
			v.Set(k, val)
		}
		path += "?" + v.Encode()
	}
	r := c.get(path)
	if r.status != http.StatusOK {
		c.t.Fatalf("GET %s: %d\n%s", path, r.status, r.body)
	}
	return r.json(c.t)
}

// fetchToken does step 1 of the CSRF flow and returns the token.
func (c *client) fetchToken() string {
	c.t.Helper()
	r := c.do(http.MethodGet, docSrv+"?sap-client=100", map[string]string{"X-CSRF-Token": "Fetch"}, nil)
	tok := r.header.Get("x-csrf-token")
	if r.status != http.StatusOK || tok == "" || tok == "Required" {
		c.t.Fatalf("fetch token: %d, token %q\n%s", r.status, tok, r.body)
	}
	return tok
}

// post creates a material document with the given token ("" for none).
func (c *client) post(token string, doc any) response {
	c.t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		c.t.Fatal(err)
	}
	h := map[string]string{}
	if token != "" {
		h["X-CSRF-Token"] = token
	}
	return c.do(http.MethodPost, docSrv+"A_MaterialDocumentHeader?sap-client=100", h, b)
}

// mustPost fetches a token, posts and wants 201.
func (c *client) mustPost(doc any) map[string]any {
	c.t.Helper()
	r := c.post(c.fetchToken(), doc)
	if r.status != http.StatusCreated {
		c.t.Fatalf("POST: want 201, got %d\n%s", r.status, r.body)
	}
	return r.json(c.t)["d"].(map[string]any)
}

// stock returns the unrestricted stock of one batch in one storage location,
// as A_MatlStkInAcctMod reports it ("" if there is no row).
func (c *client) stock(material, plant, sloc, batch string) string {
	c.t.Helper()
	d := c.getJSON(stockSrv+"A_MatlStkInAcctMod",
		"$filter=Material eq '"+material+"' and Plant eq '"+plant+"' and StorageLocation eq '"+sloc+"' and Batch eq '"+batch+"'",
		"$format=json")
	rs := results(c.t, d)
	switch len(rs) {
	case 0:
		return ""
	case 1:
		return rs[0]["MatlWrhsStkQtyInMatlBaseUnit"].(string)
	}
	c.t.Fatalf("stock: %d rows for one key", len(rs))
	return ""
}

func results(t *testing.T, m map[string]any) []map[string]any {
	t.Helper()
	d, ok := m["d"].(map[string]any)
	if !ok {
		t.Fatalf("no d in %v", m)
	}
	raw, ok := d["results"].([]any)
	if !ok {
		t.Fatalf("no d.results in %v", m)
	}
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

func odataDate(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		panic(err)
	}
	return "/Date(" + jsonInt(t.UnixMilli()) + ")/"
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// receipt is a 101 goods receipt for a purchase order.
func receipt(plant, sloc, material, batch string, qty int, expires string) map[string]any {
	return map[string]any{
		"PostingDate":                odataDate("2021-04-13"),
		"DocumentDate":               odataDate("2021-04-13"),
		"GoodsMovementCode":          "01",
		"MaterialDocumentHeaderText": "GR test",
		"to_MaterialDocumentItem": []map[string]any{{
			"Material": material, "Plant": plant, "StorageLocation": sloc, "Batch": batch,
			"GoodsMovementType": "101", "GoodsMovementRefDocType": "B",
			"PurchaseOrder": "4500000001", "PurchaseOrderItem": "00010",
			"QuantityInEntryUnit": jsonInt(int64(qty)), "EntryUnit": "ST",
			"ShelfLifeExpirationDate": odataDate(expires),
		}},
	}
}

func issue(plant, sloc, material, batch string, qty int, text string) map[string]any {
	return map[string]any{
		"PostingDate":                odataDate("2021-04-14"),
		"GoodsMovementCode":          "03",
		"MaterialDocumentHeaderText": text,
		"to_MaterialDocumentItem": map[string]any{"results": []map[string]any{{
			"Material": material, "Plant": plant, "StorageLocation": sloc, "Batch": batch,
			"GoodsMovementType": "201", "CostCenter": "IMPFZ-" + plant,
			"QuantityInEntryUnit": jsonInt(int64(qty)), "EntryUnit": "ST",
		}}},
	}
}

// errorCode returns error.code and the codes of error.innererror.errordetails.
func errorCode(t *testing.T, r response) (string, string, []string) {
	t.Helper()
	m := r.json(t)
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no OData error body: %s", r.body)
	}
	msg := e["message"].(map[string]any)["value"].(string)
	inner := e["innererror"].(map[string]any)
	var codes []string
	for _, d := range inner["errordetails"].([]any) {
		codes = append(codes, d.(map[string]any)["code"].(string))
	}
	return e["code"].(string), msg, codes
}
