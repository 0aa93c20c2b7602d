package sap_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/simulators/sap"
)

func TestWritesNeedBasicAuthAndACSRFTokenBoundToTheSessionCookie(t *testing.T) {
	c := start(t, sap.Config{})
	doc := receipt("SN05", "KL01", "VAC-COMIRNATY", "FK1234", 60, "2021-07-31")

	anon := newClient(t, c.base)
	anon.user = ""
	if r := anon.get(docSrv + "A_MaterialDocumentHeader"); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("read without Basic auth: want 401 with WWW-Authenticate, got %d", r.status)
	}
	wrong := newClient(t, c.base)
	wrong.pass = "nope"
	if r := wrong.get(docSrv); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: want 401, got %d", r.status)
	}
	if r := c.get(docSrv + "?sap-client=999"); r.status != http.StatusUnauthorized {
		t.Fatalf("unknown sap-client: want 401, got %d", r.status)
	}

	requireCSRF := func(name string, r response) {
		t.Helper()
		if r.status != http.StatusForbidden || r.header.Get("x-csrf-token") != "Required" || !strings.Contains(string(r.body), "CSRF token validation failed") {
			t.Fatalf("%s: want 403, x-csrf-token: Required, CSRF token validation failed; got %d %q %s", name, r.status, r.header.Get("x-csrf-token"), r.body)
		}
	}
	requireCSRF("POST without token", c.post("", doc))
	tok := c.fetchToken()
	requireCSRF("POST with token but without the session cookie", c.withoutCookies().post(tok, doc))
	requireCSRF("POST with a made-up token", c.post("not-the-token", doc))
	other := newClient(t, c.base)
	requireCSRF("POST with another session's cookie", other.post(tok, doc))
	if again := c.fetchToken(); again != tok {
		t.Errorf("a second fetch in the same session gave a new token")
	}
	if r := c.post(tok, doc); r.status != http.StatusCreated {
		t.Fatalf("POST with token and cookie: want 201, got %d\n%s", r.status, r.body)
	}
	if got := c.stock("VAC-COMIRNATY", "SN05", "KL01", "FK1234"); got != "60.000" {
		t.Fatalf("the refused posts changed stock: %q", got)
	}
}

func TestCSRFTokenExpiryFault(t *testing.T) {
	c := start(t, sap.Config{})
	doc := receipt("SN05", "KL01", "VAC-COMIRNATY", "FK1234", 60, "2021-07-31")
	tok := c.fetchToken()

	if r := c.do(http.MethodPost, "/_sim/faults", nil, []byte(`{"flags":{"csrf_expired":true}}`)); r.status != http.StatusOK {
		t.Fatalf("switch on csrf_expired: %d %s", r.status, r.body)
	}
	r := c.post(tok, doc)
	if r.status != http.StatusForbidden || r.header.Get("x-csrf-token") != "Required" || r.header.Get("X-Sim-Fault") != "csrf_expired" {
		t.Fatalf("after expiry: want 403 Required marked csrf_expired, got %d %v", r.status, r.header)
	}
	if r := c.post(tok, doc); r.status != http.StatusForbidden {
		t.Fatalf("the expired token still works: %d", r.status)
	}
	fresh := c.fetchToken()
	if fresh == tok {
		t.Fatalf("fetch after expiry gave the expired token again")
	}
	if r := c.post(fresh, doc); r.status != http.StatusCreated {
		t.Fatalf("with a fresh token: want 201, got %d %s", r.status, r.body)
	}
	var view struct {
		Custom []struct {
			Name string `json:"name"`
			On   bool   `json:"on"`
		} `json:"custom"`
	}
	_ = json.Unmarshal(c.get("/_sim/faults").body, &view)
	if len(view.Custom) != 1 || view.Custom[0].Name != "csrf_expired" || view.Custom[0].On {
		t.Fatalf("csrf_expired should be listed and off again after one use: %+v", view.Custom)
	}
}

func TestGoodsReceiptDeepInsertThenStock(t *testing.T) {
	c := start(t, sap.Config{})
	// The item array in the OData v2 form {"results":[...]} is accepted too.
	doc := receipt("SN12", "KL01", "VAC-COMIRNATY", "FK1234", 1170, "2021-07-31")
	doc["to_MaterialDocumentItem"] = map[string]any{"results": doc["to_MaterialDocumentItem"]}
	tok := c.fetchToken()
	r := c.post(tok, doc)
	if r.status != http.StatusCreated {
		t.Fatalf("want 201, got %d\n%s", r.status, r.body)
	}
	d := r.json(t)["d"].(map[string]any)
	if d["MaterialDocument"] != "4900000001" || d["MaterialDocumentYear"] != "2021" || d["InventoryTransactionType"] != "WE" ||
		d["GoodsMovementCode"] != "01" || d["CreatedByUser"] != "SIM" || d["PostingDate"] != odataDate("2021-04-13") {
		t.Fatalf("header echo: %v", d)
	}
	if items := d["to_MaterialDocumentItem"].(map[string]any)["results"].([]any); len(items) != 0 {
		t.Fatalf("the create response must echo an empty item list, as the real one does: %v", items)
	}
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "A_MaterialDocumentHeader(MaterialDocumentYear='2021',MaterialDocument='4900000001')") {
		t.Fatalf("Location %q", loc)
	}
	md := d["__metadata"].(map[string]any)
	if md["type"] != "API_MATERIAL_DOCUMENT_SRV.A_MaterialDocumentHeaderType" {
		t.Fatalf("__metadata %v", md)
	}

	// Stock is derived from the document.
	rows := results(t, c.getJSON(stockSrv+"A_MatlStkInAcctMod", "$filter=Plant eq 'SN12' and Material eq 'VAC-COMIRNATY'", "$format=json"))
	if len(rows) != 1 {
		t.Fatalf("want one stock row, got %v", rows)
	}
	want := map[string]any{"Material": "VAC-COMIRNATY", "Plant": "SN12", "StorageLocation": "KL01", "Batch": "FK1234",
		"InventoryStockType": "01", "MaterialBaseUnit": "ST", "MatlWrhsStkQtyInMatlBaseUnit": "1170.000", "WBSElementInternalID": "00000000"}
	for k, v := range want {
		if rows[0][k] != v {
			t.Errorf("stock %s = %v, want %v", k, rows[0][k], v)
		}
	}

	// Reading the items back with their header, the way the mapping does.
	items := results(t, c.getJSON(docSrv+"A_MaterialDocumentItem", "$expand=to_MaterialDocumentHeader", "$filter=MaterialDocument eq '4900000001'"))
	if len(items) != 1 {
		t.Fatalf("items: %v", items)
	}
	it := items[0]
	if it["QuantityInEntryUnit"] != "1170.000" || it["ShelfLifeExpirationDate"] != odataDate("2021-07-31") || it["MaterialDocumentItem"] != "1" || it["DebitCreditCode"] != "S" {
		t.Fatalf("item: %v", it)
	}
	if _, has := it["PostingDate"]; has {
		t.Fatalf("an item has no PostingDate")
	}
	if h := it["to_MaterialDocumentHeader"].(map[string]any); h["PostingDate"] != odataDate("2021-04-13") {
		t.Fatalf("expanded header: %v", h)
	}

	// The batch master carries the shelf life.
	b := c.getJSON(batchSrv + "Batch(Material='VAC-COMIRNATY',BatchIdentifyingPlant='',Batch='FK1234')")["d"].(map[string]any)
	if b["ShelfLifeExpirationDate"] != odataDate("2021-07-31") || b["BatchIsMarkedForDeletion"] != false {
		t.Fatalf("batch: %v", b)
	}
	// And the document by key, with its items by navigation.
	nav := results(t, c.getJSON(docSrv+"A_MaterialDocumentHeader(MaterialDocumentYear='2021',MaterialDocument='4900000001')/to_MaterialDocumentItem"))
	if len(nav) != 1 || nav[0]["Batch"] != "FK1234" {
		t.Fatalf("navigation: %v", nav)
	}
}

func TestGoodsIssueBeyondUnrestrictedStockIsRefused(t *testing.T) {
	c := start(t, sap.Config{})
	c.mustPost(receipt("SN11", "KL01", "VAC-VAXZEVRIA", "ABV5811", 100, "2021-07-31"))

	r := c.post(c.fetchToken(), issue("SN11", "KL01", "VAC-VAXZEVRIA", "ABV5811", 130, "evt-1"))
	if r.status != http.StatusBadRequest {
		t.Fatalf("want 400, got %d\n%s", r.status, r.body)
	}
	code, msg, details := errorCode(t, r)
	if code != "M7/021" || !strings.Contains(msg, "Deficit of BA Unrestricted-use 30 ST") || !strings.Contains(strings.Join(details, " "), "MM_IM_ODATA_API_MDOC/014") {
		t.Fatalf("error: %s %q %v", code, msg, details)
	}
	var body struct {
		Error struct {
			Inner struct {
				App struct {
					ServiceID string `json:"service_id"`
				} `json:"application"`
				TransactionID string `json:"transactionid"`
			} `json:"innererror"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &body)
	if body.Error.Inner.App.ServiceID != "API_MATERIAL_DOCUMENT_SRV" || body.Error.Inner.TransactionID == "" {
		t.Fatalf("innererror: %s", r.body)
	}
	if got := c.stock("VAC-VAXZEVRIA", "SN11", "KL01", "ABV5811"); got != "100.000" {
		t.Fatalf("a refused issue changed stock: %s", got)
	}

	// Two items of one document that together exceed the stock: neither is booked.
	twice := issue("SN11", "KL01", "VAC-VAXZEVRIA", "ABV5811", 60, "evt-2")
	items := twice["to_MaterialDocumentItem"].(map[string]any)["results"].([]map[string]any)
	twice["to_MaterialDocumentItem"] = []map[string]any{items[0], items[0]}
	if r := c.post(c.fetchToken(), twice); r.status != http.StatusBadRequest {
		t.Fatalf("two items over stock: want 400, got %d", r.status)
	}

	c.mustPost(issue("SN11", "KL01", "VAC-VAXZEVRIA", "ABV5811", 30, "evt-3"))
	if got := c.stock("VAC-VAXZEVRIA", "SN11", "KL01", "ABV5811"); got != "70.000" {
		t.Fatalf("after issuing 30 of 100: %s", got)
	}
}

func TestTransferPostingMovesStockBetweenStorageLocations(t *testing.T) {
	c := start(t, sap.Config{})
	c.mustPost(receipt("SN00", "KL01", "VAC-JANSSEN", "XD955", 500, "2021-07-31"))
	d := c.mustPost(map[string]any{
		"PostingDate": odataDate("2021-04-14"), "GoodsMovementCode": "04",
		"to_MaterialDocumentItem": []map[string]any{{
			"Material": "VAC-JANSSEN", "Plant": "SN00", "StorageLocation": "KL01", "Batch": "XD955",
			"GoodsMovementType": "311", "IssuingOrReceivingStorageLoc": "MOB1", "QuantityInEntryUnit": "60", "EntryUnit": "ST",
		}},
	})
	if got := c.stock("VAC-JANSSEN", "SN00", "KL01", "XD955"); got != "440.000" {
		t.Fatalf("KL01 after moving 60: %s", got)
	}
	if got := c.stock("VAC-JANSSEN", "SN00", "MOB1", "XD955"); got != "60.000" {
		t.Fatalf("MOB1 after moving 60: %s", got)
	}
	items := results(t, c.getJSON(docSrv+"A_MaterialDocumentItem", "$filter=MaterialDocument eq '"+d["MaterialDocument"].(string)+"'", "$orderby=MaterialDocumentItem"))
	if len(items) != 2 || items[0]["DebitCreditCode"] != "H" || items[0]["StorageLocation"] != "KL01" ||
		items[1]["DebitCreditCode"] != "S" || items[1]["StorageLocation"] != "MOB1" || items[1]["IsAutomaticallyCreated"] != "X" {
		t.Fatalf("a 311 is two lines, issuing and receiving: %v", items)
	}
	// More than is there cannot move.
	over := map[string]any{"GoodsMovementCode": "04", "to_MaterialDocumentItem": []map[string]any{{
		"Material": "VAC-JANSSEN", "Plant": "SN00", "StorageLocation": "MOB1", "Batch": "XD955",
		"GoodsMovementType": "311", "IssuingOrReceivingStorageLoc": "MOB2", "QuantityInEntryUnit": "61",
	}}}
	if r := c.post(c.fetchToken(), over); r.status != http.StatusBadRequest {
		t.Fatalf("moving 61 of 60: want 400, got %d", r.status)
	}
}

func TestScrappingRemovesAnExpiredBatch(t *testing.T) {
	c := start(t, sap.Config{Start: time.Date(2021, 7, 20, 8, 0, 0, 0, time.UTC)})
	c.mustPost(receipt("SN05", "KL01", "VAC-SPIKEVAX", "3004004", 40, "2021-07-31"))
	if r := c.do(http.MethodPost, "/_sim/clock/advance", nil, []byte(`{"by":"14d"}`)); r.status != http.StatusOK {
		t.Fatalf("advance: %d %s", r.status, r.body)
	}
	d := c.mustPost(map[string]any{"GoodsMovementCode": "03", "to_MaterialDocumentItem": []map[string]any{{
		"Material": "VAC-SPIKEVAX", "Plant": "SN05", "StorageLocation": "KL01", "Batch": "3004004",
		"GoodsMovementType": "551", "QuantityInEntryUnit": "40", "GoodsMovementReasonCode": "0001",
	}}})
	if d["PostingDate"] != odataDate("2021-08-03") {
		t.Fatalf("posting date defaults to the simulated day: %v", d["PostingDate"])
	}
	if got := c.stock("VAC-SPIKEVAX", "SN05", "KL01", "3004004"); got != "0.000" {
		t.Fatalf("after scrapping all: %q (the row stays with 0)", got)
	}
	// Expiry is visible on the batch, and on receipts: an expired batch is not received.
	r := c.post(c.fetchToken(), receipt("SN05", "KL01", "VAC-SPIKEVAX", "3004005", 40, "2021-04-01"))
	if r.status != http.StatusBadRequest {
		t.Fatalf("receipt of an already expired batch: want 400, got %d", r.status)
	}
}

func TestPurchaseOrderFieldsWithoutRefDocTypeAreRejected(t *testing.T) {
	c := start(t, sap.Config{})
	doc := receipt("SN05", "KL01", "VAC-COMIRNATY", "FK1234", 2, "2021-07-31")
	delete(doc["to_MaterialDocumentItem"].([]map[string]any)[0], "GoodsMovementRefDocType")
	r := c.post(c.fetchToken(), doc)
	if r.status != http.StatusBadRequest {
		t.Fatalf("want 400, got %d\n%s", r.status, r.body)
	}
	code, msg, details := errorCode(t, r)
	if code != "MM_IM_ODATA_API_MDOC/011" || msg != "Property PURCHASEORDER is not supported for GoodsMovementType 101" ||
		len(details) != 2 || details[1] != "MM_IM_ODATA_API_MDOC/014" {
		t.Fatalf("error: %s %q %v", code, msg, details)
	}
	if got := c.stock("VAC-COMIRNATY", "SN05", "KL01", "FK1234"); got != "" {
		t.Fatalf("the rejected receipt booked stock: %s", got)
	}
}

func TestPayloadChecks(t *testing.T) {
	c := start(t, sap.Config{})
	base := func() map[string]any { return receipt("SN05", "KL01", "VAC-COMIRNATY", "FK1234", 6, "2021-07-31") }
	item := func(m map[string]any) map[string]any { return m["to_MaterialDocumentItem"].([]map[string]any)[0] }
	cases := []struct {
		name   string
		change func(m map[string]any)
		code   string
	}{
		{"unknown property", func(m map[string]any) { m["Colour"] = "red" }, "/IWBEP/CM_MGW_RT/020"},
		{"header text longer than 25", func(m map[string]any) { m["MaterialDocumentHeaderText"] = strings.Repeat("x", 26) }, "/IWBEP/CM_MGW_RT/020"},
		{"fractional doses", func(m map[string]any) { item(m)["QuantityInEntryUnit"] = "2.5" }, "/IWBEP/CM_MGW_RT/020"},
		{"unknown plant", func(m map[string]any) { item(m)["Plant"] = "SN99" }, "M7/001"},
		{"unknown material", func(m map[string]any) { item(m)["Material"] = "VAC-0001" }, "M7/001"},
		{"no batch", func(m map[string]any) { delete(item(m), "Batch") }, "M7/040"},
		{"new batch without expiry", func(m map[string]any) { delete(item(m), "ShelfLifeExpirationDate") }, "M7/664"},
		{"movement type against the code", func(m map[string]any) { m["GoodsMovementCode"] = "03" }, "M7/093"},
		{"goods issue without cost centre", func(m map[string]any) {
			m["GoodsMovementCode"] = "03"
			it := item(m)
			it["GoodsMovementType"] = "201"
			delete(it, "GoodsMovementRefDocType")
			delete(it, "PurchaseOrder")
			delete(it, "PurchaseOrderItem")
		}, "M7/131"},
	}
	tok := c.fetchToken()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.change(m)
			r := c.post(tok, m)
			if r.status != http.StatusBadRequest {
				t.Fatalf("want 400, got %d\n%s", r.status, r.body)
			}
			if code, msg, _ := errorCode(t, r); code != tc.code {
				t.Fatalf("want %s, got %s %q", tc.code, code, msg)
			}
		})
	}
	// ISO dates are accepted as well as /Date(ms)/.
	m := base()
	m["PostingDate"] = "2021-04-13T00:00:00"
	if d := c.mustPost(m); d["PostingDate"] != odataDate("2021-04-13") {
		t.Fatalf("ISO posting date: %v", d["PostingDate"])
	}
	// Stock is read-only.
	r := c.do(http.MethodPost, stockSrv+"A_MatlStkInAcctMod", map[string]string{"X-CSRF-Token": tok}, []byte(`{}`))
	if r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST to stock: want 405, got %d", r.status)
	}
}

// plan makes n deliveries of 10 doses each, one an hour from start+1h, to
// SN01..SN13 in turn, each with the header text "Lieferung N".
func plan(n int, at time.Time) *sap.DeliveryPlan {
	p := &sap.DeliveryPlan{Start: at}
	for i := range n {
		p.Deliveries = append(p.Deliveries, sap.Delivery{
			At: at.Add(time.Duration(i+1) * time.Hour), Plant: fmt.Sprintf("SN%02d", i%13+1),
			Text: fmt.Sprintf("Lieferung %d", i+1),
			Items: []sap.DeliveryItem{{Material: "VAC-COMIRNATY", Batch: fmt.Sprintf("EJ%04d", i), Quantity: 10,
				Expires: at.Add(time.Duration(i+1) * 24 * time.Hour * 30)}},
		})
	}
	return p
}

func TestQueryOptions(t *testing.T) {
	t0 := time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)
	c := start(t, sap.Config{PageSize: 2, DeliveryPlan: plan(7, t0)})
	c.do(http.MethodPost, "/_sim/clock/advance", nil, []byte(`{"by":"7h"}`))
	hdr := docSrv + "A_MaterialDocumentHeader"

	t.Run("server paging with __next and inlinecount", func(t *testing.T) {
		var all []map[string]any
		next := hdr + "?$inlinecount=allpages&$format=json"
		pages := 0
		for next != "" {
			m := c.getJSON(next)
			d := m["d"].(map[string]any)
			if d["__count"] != "7" {
				t.Fatalf("__count %v, want \"7\"", d["__count"])
			}
			all = append(all, results(t, m)...)
			next, _ = d["__next"].(string)
			pages++
		}
		if len(all) != 7 || pages != 4 {
			t.Fatalf("want 7 documents in 4 pages, got %d in %d", len(all), pages)
		}
		for i, d := range all {
			if d["MaterialDocument"] != fmt.Sprint(4900000001+i) {
				t.Fatalf("document %d is %v", i, d["MaterialDocument"])
			}
		}
	})
	t.Run("top and skip choose a window that is paged too", func(t *testing.T) {
		m := c.getJSON(hdr, "$skip=2", "$top=3", "$inlinecount=allpages")
		rs := results(t, m)
		if len(rs) != 2 || rs[0]["MaterialDocument"] != "4900000003" {
			t.Fatalf("first page of the window: %v", rs)
		}
		next := m["d"].(map[string]any)["__next"].(string)
		rs = results(t, c.getJSON(next))
		if len(rs) != 1 || rs[0]["MaterialDocument"] != "4900000005" {
			t.Fatalf("second page: %v", rs)
		}
	})
	t.Run("filter eq and, ge le on dates, header text", func(t *testing.T) {
		rs := results(t, c.getJSON(hdr, "$filter=MaterialDocumentHeaderText eq 'Lieferung 3'"))
		if len(rs) != 1 || rs[0]["MaterialDocument"] != "4900000003" {
			t.Fatalf("by header text: %v", rs)
		}
		rs = results(t, c.getJSON(docSrv+"A_MaterialDocumentItem",
			"$filter=Plant eq 'SN02' and GoodsMovementType eq '101' and ShelfLifeExpirationDate ge datetime'2021-04-30T00:00:00' and ShelfLifeExpirationDate le datetime'2021-05-01T00:00:00'"))
		if len(rs) != 1 || rs[0]["Batch"] != "EJ0001" {
			t.Fatalf("by plant and date range: %v", rs)
		}
		rs = results(t, c.getJSON(docSrv+"A_MaterialDocumentItem", "$filter=to_MaterialDocumentHeader/MaterialDocumentHeaderText eq 'Lieferung 7' or Batch eq 'EJ0000'", "$top=10"))
		if len(rs) != 2 {
			t.Fatalf("through the header, with or: %v", rs)
		}
	})
	t.Run("select and expand", func(t *testing.T) {
		rs := results(t, c.getJSON(hdr, "$select=MaterialDocument,PostingDate,to_MaterialDocumentItem/Batch", "$expand=to_MaterialDocumentItem", "$top=1"))
		h := rs[0]
		if len(h) != 4 || h["MaterialDocument"] != "4900000001" || h["PostingDate"] != odataDate("2021-03-01") {
			t.Fatalf("selected header: %v", h)
		}
		items := h["to_MaterialDocumentItem"].(map[string]any)["results"].([]any)
		it := items[0].(map[string]any)
		if len(items) != 1 || len(it) != 2 || it["Batch"] != "EJ0000" {
			t.Fatalf("expanded, selected items: %v", items)
		}
		full := results(t, c.getJSON(hdr, "$top=1"))[0]
		if _, ok := full["to_MaterialDocumentItem"].(map[string]any)["__deferred"]; !ok {
			t.Fatalf("an unexpanded navigation is deferred: %v", full["to_MaterialDocumentItem"])
		}
	})
	t.Run("count", func(t *testing.T) {
		v := escaped(hdr + "/$count?$filter=Plant eq 'x'")
		if r := c.get(v); r.status != http.StatusBadRequest {
			t.Fatalf("$count with a bad filter: want 400, got %d %s", r.status, r.body)
		}
		if r := c.get(docSrv + "A_MaterialDocumentItem/$count"); string(r.body) != "7" {
			t.Fatalf("$count: %d %q", r.status, r.body)
		}
	})
	t.Run("bad options are refused with an OData error", func(t *testing.T) {
		for _, q := range []string{
			"$filter=" + urlq("Colour eq 'red'"),
			"$filter=" + urlq("PostingDate ge '2021'"),
			"$filter=" + urlq("MaterialDocument eq"),
			"$select=Colour",
			"$expand=to_Nothing",
			"$top=-1",
			"$search=x",
		} {
			r := c.get(hdr + "?" + q)
			if r.status != http.StatusBadRequest {
				t.Errorf("%s: want 400, got %d", q, r.status)
				continue
			}
			if code, _, _ := errorCode(t, r); !strings.HasPrefix(code, "/IWBEP/") {
				t.Errorf("%s: code %s", q, code)
			}
		}
		if r := c.get("/sap/opu/odata/sap/API_NOTHING_SRV/"); r.status != http.StatusNotFound {
			t.Errorf("unknown service: %d", r.status)
		}
	})
}

func escaped(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, " ", "%20"), "'", "%27")
}
func urlq(s string) string { return escaped(s) }

func TestMetadataListsTheEntitySets(t *testing.T) {
	c := start(t, sap.Config{})
	for svc, sets := range map[string][]string{
		docSrv:   {"A_MaterialDocumentHeader", "A_MaterialDocumentItem"},
		stockSrv: {"A_MaterialStock", "A_MatlStkInAcctMod"},
		batchSrv: {"Batch"},
	} {
		r := c.get(svc + "$metadata")
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/xml") {
			t.Fatalf("%s$metadata: %d %s", svc, r.status, r.header.Get("Content-Type"))
		}
		var edmx struct {
			Schemas []struct {
				Namespace   string `xml:"Namespace,attr"`
				EntityTypes []struct {
					Name  string `xml:"Name,attr"`
					Props []struct {
						Name string `xml:"Name,attr"`
						Type string `xml:"Type,attr"`
					} `xml:"Property"`
				} `xml:"EntityType"`
				Container struct {
					Sets []struct {
						Name string `xml:"Name,attr"`
					} `xml:"EntitySet"`
				} `xml:"EntityContainer"`
			} `xml:"DataServices>Schema"`
		}
		if err := xml.Unmarshal(r.body, &edmx); err != nil || len(edmx.Schemas) != 1 {
			t.Fatalf("%s$metadata is not EDMX: %v", svc, err)
		}
		var got []string
		for _, s := range edmx.Schemas[0].Container.Sets {
			got = append(got, s.Name)
		}
		if strings.Join(got, ",") != strings.Join(sets, ",") {
			t.Fatalf("%s entity sets %v, want %v", svc, got, sets)
		}
		sd := c.getJSON(svc)["d"].(map[string]any)["EntitySets"].([]any)
		if len(sd) != len(sets) {
			t.Fatalf("%s service document: %v", svc, sd)
		}
	}
	body := string(c.get(docSrv + "$metadata").body)
	for _, want := range []string{`Name="MaterialDocumentHeaderText" Type="Edm.String" MaxLength="25"`, `Name="QuantityInEntryUnit" Type="Edm.Decimal"`, `Name="to_MaterialDocumentHeader"`} {
		if !strings.Contains(body, want) {
			t.Errorf("$metadata lacks %s", want)
		}
	}
}

func TestDeliveryPlanPostsGoodsReceiptsAsTheClockAdvances(t *testing.T) {
	t0 := time.Date(2021, 1, 4, 6, 0, 0, 0, time.UTC)
	p := plan(3, t0)
	p.Deliveries[2].At = t0.Add(50 * time.Hour)
	c := start(t, sap.Config{DeliveryPlan: p})
	count := func() string {
		return string(c.get(docSrv + "A_MaterialDocumentHeader/$count").body)
	}
	if n := count(); n != "0" {
		t.Fatalf("before the first delivery: %s documents", n)
	}
	r := c.do(http.MethodPost, "/_sim/clock/advance", nil, []byte(`{"by":"90m"}`))
	var view struct {
		Now        time.Time `json:"now"`
		Deliveries struct {
			Total, Posted int
			Next          time.Time
		} `json:"deliveries"`
	}
	_ = json.Unmarshal(r.body, &view)
	if !view.Now.Equal(t0.Add(90*time.Minute)) || view.Deliveries.Posted != 1 || view.Deliveries.Total != 3 || !view.Deliveries.Next.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("clock after 90m: %s", r.body)
	}
	if n := count(); n != "1" {
		t.Fatalf("after 90 minutes: %s documents", n)
	}
	if got := c.stock("VAC-COMIRNATY", "SN01", "KL01", "EJ0000"); got != "10.000" {
		t.Fatalf("the first delivery's stock: %q", got)
	}
	d := results(t, c.getJSON(docSrv+"A_MaterialDocumentItem", "$expand=to_MaterialDocumentHeader"))[0]
	h := d["to_MaterialDocumentHeader"].(map[string]any)
	if d["GoodsMovementType"] != "101" || d["GoodsMovementRefDocType"] != "B" || d["PurchaseOrder"] == "" ||
		h["CreatedByUser"] != "SIM_PLAN" || h["CreationTime"] != "PT07H00M00S" || h["InventoryTransactionType"] != "WE" {
		t.Fatalf("planned receipt: %v", d)
	}
	c.do(http.MethodPost, "/_sim/clock/advance", nil, []byte(`{"to":"2021-01-06T08:00:00Z"}`))
	if n := count(); n != "3" {
		t.Fatalf("after all deliveries: %s documents", n)
	}
	if r := c.do(http.MethodPost, "/_sim/clock/advance", nil, []byte(`{"to":"2021-01-01T00:00:00Z"}`)); r.status != http.StatusBadRequest {
		t.Fatalf("the clock went back: %d", r.status)
	}
}

func TestTimeScaleRunsTheClock(t *testing.T) {
	var realNow atomic.Int64
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	realNow.Store(t0.UnixNano())
	start0 := time.Date(2021, 1, 4, 6, 0, 0, 0, time.UTC)
	c := start(t, sap.Config{DeliveryPlan: plan(2, start0), TimeScale: 3600,
		Now: func() time.Time { return time.Unix(0, realNow.Load()) }})
	realNow.Add(int64(90 * time.Second)) // 90 simulated hours
	if n := string(c.get(docSrv + "A_MaterialDocumentHeader/$count").body); n != "2" {
		t.Fatalf("after 90 s at 3600x: %s documents", n)
	}
	var view struct {
		Now time.Time `json:"now"`
	}
	_ = json.Unmarshal(c.get("/_sim/clock").body, &view)
	if !view.Now.Equal(start0.Add(90 * time.Hour)) {
		t.Fatalf("simulated now %s", view.Now)
	}
}

func TestFaultsApplyToODataButNotToSim(t *testing.T) {
	c := start(t, sap.Config{})
	set := func(body string) {
		t.Helper()
		if r := c.do(http.MethodPut, "/_sim/faults", nil, []byte(body)); r.status != http.StatusOK {
			t.Fatalf("PUT /_sim/faults %s: %d %s", body, r.status, r.body)
		}
	}
	set(`{"rate_limit":{"every":1,"retry_after":2}}`)
	r := c.get(stockSrv + "A_MatlStkInAcctMod")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "2" {
		t.Fatalf("rate limit: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if r := c.get("/_sim/clock"); r.status != http.StatusOK {
		t.Fatalf("/_sim/clock under rate limit: %d", r.status)
	}

	set(`{"outage":{"duration":"1m","mode":"503"}}`)
	if r := c.get(docSrv); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("outage 503: %d", r.status)
	}
	if r := c.get("/_sim/health"); r.status != http.StatusOK {
		t.Fatalf("/_sim/health during outage: %d", r.status)
	}

	set(`{"outage":{"duration":"1m"}}`)
	req, _ := http.NewRequest(http.MethodGet, c.base+docSrv, nil)
	req.SetBasicAuth("sim", "sim")
	if resp, err := c.hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("outage reset: want a network error, got %d", resp.StatusCode)
	}

	if r := c.do(http.MethodDelete, "/_sim/faults", nil, nil); r.status != http.StatusOK {
		t.Fatalf("clear: %d", r.status)
	}
	if r := c.get(docSrv); r.status != http.StatusOK {
		t.Fatalf("after clearing faults: %d", r.status)
	}
}

func TestEmbeddedPlanIsTheCampaignPlan(t *testing.T) {
	deployed, err := os.ReadFile("../../deploy/campaign/saxony-2021/sap-delivery-plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := os.ReadFile("sap-delivery-plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(deployed, embedded) {
		t.Fatalf("simulators/sap/sap-delivery-plan.yaml differs from deploy/campaign/saxony-2021/sap-delivery-plan.yaml: copy it over")
	}
	p, err := sap.DefaultDeliveryPlan()
	if err != nil {
		t.Fatal(err)
	}
	c := start(t, sap.Config{DeliveryPlan: p})
	c.do(http.MethodPost, "/_sim/clock/advance", nil, []byte(`{"by":"120d"}`))
	if n := string(c.get(docSrv + "A_MaterialDocumentHeader/$count").body); n != fmt.Sprint(len(p.Deliveries)) {
		t.Fatalf("after 120 days: %s of %d deliveries posted", n, len(p.Deliveries))
	}
	var view struct {
		Deliveries struct {
			Errors []string `json:"errors"`
		} `json:"deliveries"`
	}
	_ = json.Unmarshal(c.get("/_sim/clock").body, &view)
	if len(view.Deliveries.Errors) > 0 {
		t.Fatalf("plan errors: %v", view.Deliveries.Errors)
	}
}

func TestDeliveryPlanFileErrors(t *testing.T) {
	_, err := sap.ParseDeliveryPlan([]byte(`
start: "2021-01-04T06:00:00Z"
deliveries:
  - at: "2021-01-04T07:00:00Z"
    plant: SN99
    items:
      - {material: VAC-0001, batch: "B1", quantity: 0, expires: "2020-01-01"}
`))
	if err == nil {
		t.Fatal("a bad plan was accepted")
	}
	for _, want := range []string{"plant \"SN99\"", "material \"VAC-0001\"", "quantity 0", "expires 2020-01-01"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if _, err := sap.ParseDeliveryPlan([]byte("deliveries:\n  - at: \"2021-01-04\"\n    plnt: SN01\n")); err == nil {
		t.Error("an unknown field was accepted")
	}
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestMainServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- sap.Main(ctx, []string{"--addr", "127.0.0.1:0", "--time-scale", "0", "--password", "secret", "--fault-flag", "csrf_expired"}, out)
	}()
	addr := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(5 * time.Second)
	for !addr.MatchString(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no address printed: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(out.String(), "secret") {
		t.Fatalf("the password is printed: %s", out.String())
	}
	c := newClient(t, "http://"+addr.FindStringSubmatch(out.String())[1])
	c.pass = "secret"
	if r := c.get(stockSrv + "A_MatlStkInAcctMod"); r.status != http.StatusOK {
		t.Fatalf("GET: %d", r.status)
	}
	// The embedded plan posted what was due at its start; the clock stands still.
	if r := c.post(c.fetchToken(), issue("SN05", "KL01", "VAC-COMIRNATY", "EJ6701", 1, "x")); r.status != http.StatusForbidden {
		t.Fatalf("--fault-flag csrf_expired: want 403, got %d", r.status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Main: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Main did not return after cancel")
	}
}

func TestConcurrentGoodsIssuesNeverOverdrawStock(t *testing.T) {
	c := start(t, sap.Config{})
	c.mustPost(receipt("SN08", "KL01", "VAC-COMIRNATY", "EJ7000", 100, "2021-07-31"))
	var ok atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := newClient(t, c.base)
			tok := cl.fetchToken()
			for i := range 5 {
				r := cl.post(tok, issue("SN08", "KL01", "VAC-COMIRNATY", "EJ7000", 3, fmt.Sprintf("g%d-%d", g, i)))
				switch r.status {
				case http.StatusCreated:
					ok.Add(1)
				case http.StatusBadRequest:
				default:
					t.Errorf("status %d", r.status)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 33 {
		t.Fatalf("100 doses in issues of 3: want 33 accepted, got %d", ok.Load())
	}
	if got := c.stock("VAC-COMIRNATY", "SN08", "KL01", "EJ7000"); got != "1.000" {
		t.Fatalf("stock after the run: %s", got)
	}
}
