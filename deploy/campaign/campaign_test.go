package campaign

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vaxhub/vaxhub/core/domain"
)

func TestSaxonyCampaignLoads(t *testing.T) {
	c, err := Load(Embedded(), "saxony-2021")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Centres) != 13 {
		t.Errorf("centres: got %d, want 13", len(c.Centres))
	}
	if len(c.Products) != 4 {
		t.Errorf("products: got %d, want 4", len(c.Products))
	}
	districts := map[string]bool{}
	for _, ce := range c.Centres {
		districts[ce.DistrictAGS] = true
		if !strings.HasPrefix(ce.MunicipalityKey, ce.DistrictAGS) {
			t.Errorf("%s: municipality key %s outside district %s", ce.ID, ce.MunicipalityKey, ce.DistrictAGS)
		}
		if slots := ce.SlotsOn(domain.Date{Year: 2021, Month: 4, Day: 13}, time.UTC); len(slots) != 48 {
			t.Errorf("%s: %d slots on a day, want 48 (8:00-20:00 in 15 minutes)", ce.ID, len(slots))
		}
	}
	if len(districts) != 13 {
		t.Errorf("the centres cover %d districts, want all 13", len(districts))
	}
	var prev time.Time
	for _, rs := range c.RuleSets {
		if !rs.EffectiveFrom.After(prev) {
			t.Errorf("rule set %s does not take effect after its predecessor", rs.Version)
		}
		prev = rs.EffectiveFrom
	}
	ds := c.Deliveries(domain.Date{Year: 2026, Month: 11, Day: 26}, time.UTC)
	if len(ds) != 16*13*4 {
		t.Errorf("supply: %d deliveries, want %d", len(ds), 16*13*4)
	}
	if ds[0].Arrives != (domain.Date{Year: 2026, Month: 11, Day: 23}) {
		t.Errorf("first delivery arrives %s, want the Monday 2026-11-23", ds[0].Arrives)
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	good, _ := Embedded().(interface{ ReadFile(string) ([]byte, error) }).ReadFile("saxony-2021/products.yaml")
	cases := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"unknown field", fstest.MapFS{"c/products.yaml": {Data: []byte("products:\n  - {id: x, colour: red}\n")}}, `c/products.yaml: json: unknown field "colour"`},
		{"bad centre", fstest.MapFS{"c/products.yaml": {Data: good}, "c/centres.yaml": {Data: []byte("centres:\n  - {id: a, district_ags: \"145\", booths: 1, minutes_per_vaccination: 5, opens: \"08:00\", closes: \"09:00\"}\n")}}, "c/centres.yaml: centres[0]: district_ags"},
		{"bad time", fstest.MapFS{"c/products.yaml": {Data: good}, "c/centres.yaml": {Data: []byte("centres:\n  - {id: a, opens: \"8 Uhr\"}\n")}}, "c/centres.yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.files, "c")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
