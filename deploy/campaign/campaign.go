// Package campaign loads a campaign's data (products, centres, the history
// of entitlement rule sets and the announced supply) from YAML files such as
// deploy/campaign/saxony-2021, and validates it. It only reads files; storing
// the data is the caller's business.
package campaign

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

//go:embed saxony-2021
var embedded embed.FS

// Embedded returns the campaigns shipped in the binary; the default one is "saxony-2021".
func Embedded() fs.FS { return embedded }

// Campaign is everything a campaign defines.
type Campaign struct {
	Name     string
	Products []domain.Product
	Centres  []domain.Centre
	RuleSets []domain.RuleSet
	Supply   Supply
}

// Supply is the announced weekly supply per centre for local runs.
type Supply struct {
	Weeks            int                      `json:"weeks"`
	ShelfLifeDays    int                      `json:"shelf_life_days"`
	PerCentrePerWeek map[domain.ProductID]int `json:"per_centre_per_week"`
}

// Load reads the campaign in dir of fsys. Every error names the file.
func Load(fsys fs.FS, dir string) (*Campaign, error) {
	c := &Campaign{Name: path.Base(dir)}
	var products struct {
		Products []domain.Product `json:"products"`
	}
	if err := decodeFile(fsys, path.Join(dir, "products.yaml"), &products); err != nil {
		return nil, err
	}
	c.Products = products.Products
	var centres struct {
		Centres []domain.Centre `json:"centres"`
	}
	if err := decodeFile(fsys, path.Join(dir, "centres.yaml"), &centres); err != nil {
		return nil, err
	}
	c.Centres = centres.Centres
	seen := map[string]bool{}
	for i := range c.Centres {
		if err := c.Centres[i].Validate(); err != nil {
			return nil, fmt.Errorf("%s: centres[%d]: %w", path.Join(dir, "centres.yaml"), i, err)
		}
		if seen[c.Centres[i].ID] {
			return nil, fmt.Errorf("%s: centre %q defined twice", path.Join(dir, "centres.yaml"), c.Centres[i].ID)
		}
		seen[c.Centres[i].ID] = true
	}
	if err := decodeFile(fsys, path.Join(dir, "supply.yaml"), &c.Supply); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	files, err := fs.Glob(fsys, path.Join(dir, "rulesets", "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		var rs domain.RuleSet
		if err := decodeFile(fsys, f, &rs); err != nil {
			return nil, err
		}
		if err := rs.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		c.RuleSets = append(c.RuleSets, rs)
	}
	if len(c.RuleSets) == 0 {
		return nil, fmt.Errorf("%s: no rule sets under rulesets/", dir)
	}
	return c, nil
}

// decodeFile reads a YAML file strictly into v (unknown fields are errors).
func decodeFile(fsys fs.FS, name string, v any) error {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// SupplyDelivery is one announced delivery generated from the supply plan.
type SupplyDelivery struct {
	ID       string
	CentreID string
	Product  domain.ProductID
	Doses    int
	Arrives  domain.Date
	Expires  domain.Date
}

// Deliveries expands the supply plan from the Monday of the week of from.
func (c *Campaign) Deliveries(from domain.Date, loc *time.Location) []SupplyDelivery {
	t := from.In(loc)
	monday := from.AddDays(-((int(t.Weekday()) + 6) % 7))
	products := make([]string, 0, len(c.Supply.PerCentrePerWeek))
	for p := range c.Supply.PerCentrePerWeek {
		products = append(products, string(p))
	}
	sort.Strings(products)
	var out []SupplyDelivery
	for w := 0; w < c.Supply.Weeks; w++ {
		day := monday.AddDays(7 * w)
		for _, centre := range c.Centres {
			for _, p := range products {
				n := c.Supply.PerCentrePerWeek[domain.ProductID(p)]
				if n <= 0 {
					continue
				}
				d := SupplyDelivery{ID: fmt.Sprintf("supply-%s-%s-%s", centre.ID, p, day), CentreID: centre.ID,
					Product: domain.ProductID(p), Doses: n, Arrives: day}
				if c.Supply.ShelfLifeDays > 0 {
					d.Expires = day.AddDays(c.Supply.ShelfLifeDays)
				}
				out = append(out, d)
			}
		}
	}
	return out
}

// Target stores campaign data (core/store.Store fits).
type Target interface {
	SaveCampaign(ctx context.Context, centres []domain.Centre, products []domain.Product) error
	EnsureRuleSet(ctx context.Context, rs *domain.RuleSet, events []domain.Event) (bool, error)
}

// Stats says what Apply added.
type Stats struct {
	RuleSets, Deliveries, Slots int
}

// Apply stores the campaign's centres, products and rule sets, records its
// announced supply from the week of today and creates the slots of the next
// slotDays days. Applying twice changes nothing.
func Apply(ctx context.Context, c *Campaign, t Target, a *app.App, today domain.Date, slotDays int) (Stats, error) {
	var st Stats
	if err := t.SaveCampaign(ctx, c.Centres, c.Products); err != nil {
		return st, err
	}
	for i := range c.RuleSets {
		rs := &c.RuleSets[i]
		ev := domain.NewEvent("ruleset.published", rs.Version, "campaign-load", a.Now(), domain.RuleSetPublished{
			Version: rs.Version, EffectiveFrom: domain.Time(rs.EffectiveFrom), OpenGroups: nonNilInts(rs.OpenGroups), Products: availableProducts(rs)})
		fresh, err := t.EnsureRuleSet(ctx, rs, []domain.Event{ev})
		if err != nil {
			return st, fmt.Errorf("rule set %s: %w", rs.Version, err)
		}
		if fresh {
			st.RuleSets++
		}
	}
	for _, d := range c.Deliveries(today, a.Location()) {
		fresh, err := a.RecordDelivery(ctx, app.Delivery{ID: d.ID, CentreID: d.CentreID, Product: d.Product, Doses: d.Doses,
			Arrives: d.Arrives, Expires: d.Expires, Announced: true})
		if err != nil {
			return st, fmt.Errorf("supply %s: %w", d.ID, err)
		}
		if fresh {
			st.Deliveries++
		}
	}
	n, err := a.EnsureSlots(ctx, today, slotDays)
	st.Slots = n
	return st, err
}

func nonNilInts(v []int) []int {
	if v == nil {
		return []int{}
	}
	return v
}

func availableProducts(rs *domain.RuleSet) []domain.ProductID {
	out := []domain.ProductID{}
	for _, v := range rs.Vaccines {
		if v.Available {
			out = append(out, v.Product)
		}
	}
	return out
}
