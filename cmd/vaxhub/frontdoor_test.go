package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/core/store/storetest"
)

// TestFrontDoorFirewallInspectsThePath sends the path of issue 12 to what
// vaxhub run serves on its HTTP address (frontDoor): SQL injection in a path
// segment is refused by the firewall, on the API with a problem document and
// on the portal with its block page, while the real path is answered.
func TestFrontDoorFirewallInspectsThePath(t *testing.T) {
	t.Setenv("VAXHUB_CONFIG", "")
	cfg, err := loadConfig([]string{"-database-url", storetest.NewDatabase(t), "-data-dir", t.TempDir()}, modeRun)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SlotDays = 2
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	parts, err := openCore(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer parts.pool.Close()
	if _, err := loadCampaign(ctx, cfg, parts, log); err != nil {
		t.Fatal(err)
	}
	front, err := frontDoor(ctx, cfg, parts, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(front)
	defer srv.Close()

	for _, tc := range []struct {
		path, want string
		status     int
	}{
		{"/api/v1/centres/riesa'%20UNION%20SELECT%201--/slots", `"code":"waf-`, http.StatusForbidden},
		{"/zentren/riesa'%20UNION%20SELECT%201--", `data-reason="waf"`, http.StatusForbidden},
		{"/api/v1/centres/riesa/slots", `"slots"`, http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		req.URL.Opaque = tc.path // the request target as written, not re-encoded
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
			t.Errorf("GET %s: %d, want %d with %s\n%.300s", tc.path, resp.StatusCode, tc.status, tc.want, b)
		}
	}
}
