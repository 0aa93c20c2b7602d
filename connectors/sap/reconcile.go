package sap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"sort"

	"github.com/vaxhub/vaxhub/core/domain"
)

// ErrDifferences is returned by ReconcileMain when the hub and SAP differ
// (the command exits with status 1).
var ErrDifferences = errors.New("sap: hub and SAP differ")

// Difference is one disagreement between the hub and SAP.
type Difference struct {
	// Kind is "doses-given" (doses given in the hub, at the centre and by
	// its mobile teams, against 201 goods issues in SAP from any storage
	// location of its plant, per centre, product, batch and day) or "stock" (stock in the
	// hub against unrestricted stock in the centre's cold store, per centre,
	// product and batch; Day is empty).
	Kind     string           `json:"kind"`
	CentreID string           `json:"centre_id"`
	Product  domain.ProductID `json:"product"`
	Batch    string           `json:"batch"`
	Day      string           `json:"day,omitempty"`
	Hub      int64            `json:"hub"`
	SAP      int64            `json:"sap"`
}

func (d Difference) String() string {
	day := d.Day
	if day == "" {
		day = "-"
	}
	return fmt.Sprintf("%-11s %-18s %-10s %-10s %-10s hub %6d  sap %6d  diff %+d", d.Kind, d.CentreID, d.Product, d.Batch, day, d.Hub, d.SAP, d.Hub-d.SAP)
}

type diffKey struct {
	centre  string
	product domain.ProductID
	batch   string
	day     string
}

// Reconcile compares, per centre, product, batch and day in [from, to], the
// doses given in the hub with the 201 goods issues in SAP, and the hub's
// stock per batch with SAP's stock in the centres' cold stores. It returns
// every difference, sorted.
func (c *Connector) Reconcile(ctx context.Context, from, to domain.Date) ([]Difference, error) {
	given, err := c.app.DosesGivenByBatch(ctx, from, to)
	if err != nil {
		return nil, err
	}
	if c.mobile != nil {
		field, err := c.mobile.MobileDosesGivenByBatch(ctx, from, to)
		if err != nil {
			return nil, err
		}
		given = append(given, field...)
	}
	hubGiven := map[diffKey]int64{}
	for _, g := range given {
		hubGiven[diffKey{g.CentreID, g.Product, g.Batch, g.Day.String()}] += g.Doses
	}
	sapGiven, err := c.sapGoodsIssues(ctx, from, to)
	if err != nil {
		return nil, err
	}
	var out []Difference
	out = appendDiffs(out, "doses-given", hubGiven, sapGiven)

	stocks, err := c.app.BatchStocks(ctx, "", "")
	if err != nil {
		return nil, err
	}
	hubStock := map[diffKey]int64{}
	for _, b := range stocks {
		hubStock[diffKey{b.CentreID, b.Product, b.Batch, ""}] += b.Doses
	}
	sapStock, err := c.sapStock(ctx)
	if err != nil {
		return nil, err
	}
	out = appendDiffs(out, "stock", hubStock, sapStock)
	return out, nil
}

func appendDiffs(out []Difference, kind string, hub, sap map[diffKey]int64) []Difference {
	keys := map[diffKey]bool{}
	for k := range hub {
		keys[k] = true
	}
	for k := range sap {
		keys[k] = true
	}
	var diffs []Difference
	for k := range keys {
		if hub[k] != sap[k] {
			diffs = append(diffs, Difference{Kind: kind, CentreID: k.centre, Product: k.product, Batch: k.batch, Day: k.day, Hub: hub[k], SAP: sap[k]})
		}
	}
	sort.Slice(diffs, func(i, j int) bool {
		a, b := diffs[i], diffs[j]
		if a.CentreID != b.CentreID {
			return a.CentreID < b.CentreID
		}
		if a.Product != b.Product {
			return a.Product < b.Product
		}
		if a.Batch != b.Batch {
			return a.Batch < b.Batch
		}
		return a.Day < b.Day
	})
	return append(out, diffs...)
}

// sapGoodsIssues sums 201 goods issues at the centres by centre, product,
// batch and posting day.
func (c *Connector) sapGoodsIssues(ctx context.Context, from, to domain.Date) (map[diffKey]int64, error) {
	q := url.Values{}
	q.Set("$filter", fmt.Sprintf("GoodsMovementType eq '201' and to_MaterialDocumentHeader/PostingDate ge datetime'%sT00:00:00' and to_MaterialDocumentHeader/PostingDate le datetime'%sT00:00:00'", from, to))
	q.Set("$expand", "to_MaterialDocumentHeader")
	sums := map[diffKey]int64{}
	err := c.odata.getAll(ctx, "/"+svcDocument+"/A_MaterialDocumentItem", q, func(p *page) error {
		for _, raw := range p.Records {
			_, m, err := c.decode(raw)
			if err != nil {
				return fmt.Errorf("sap: goods issue: %w", err)
			}
			if m.CentreID == centralCentre {
				continue
			}
			sums[diffKey{m.CentreID, m.Product, m.Batch, m.Day}] += int64(m.Doses)
		}
		return nil
	})
	return sums, err
}

// sapStock sums unrestricted stock in the centres' cold stores by centre,
// product and batch.
func (c *Connector) sapStock(ctx context.Context) (map[diffKey]int64, error) {
	q := url.Values{}
	q.Set("$filter", fmt.Sprintf("StorageLocation eq '%s'", c.cfg.StorageLocation))
	sums := map[diffKey]int64{}
	err := c.odata.getAll(ctx, "/"+svcStock+"/A_MatlStkInAcctMod", q, func(p *page) error {
		for _, raw := range p.Records {
			var rec map[string]any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&rec); err != nil {
				return fmt.Errorf("%w: stock row: %v", ErrMalformed, err)
			}
			out, err := c.stockMapping.Inbound(rec)
			if err != nil {
				return fmt.Errorf("sap: stock row: %w", err)
			}
			centre, _ := out["centre_id"].(string)
			if centre == centralCentre {
				continue
			}
			product, _ := out["product"].(string)
			batch, _ := out["batch"].(string)
			doses, _ := out["doses"].(int64)
			if doses == 0 {
				continue // a used-up batch keeps its row
			}
			sums[diffKey{centre, domain.ProductID(product), batch, ""}] += doses
		}
		return nil
	})
	return sums, err
}

// Reconcile builds a connector from deps (nothing is started) and runs
// Connector.Reconcile.
func Reconcile(ctx context.Context, deps Deps, from, to domain.Date) ([]Difference, error) {
	c, err := New(deps)
	if err != nil {
		return nil, err
	}
	if c.ownsCl {
		defer c.odata.cl.Close()
	}
	return c.Reconcile(ctx, from, to)
}

// ReconcileMain is `vaxhub reconcile stock [--from DAY] [--to DAY] [--json]`:
// it prints every difference and returns ErrDifferences when there is one
// (exit status 1). Days default to the last 30 days up to today.
func ReconcileMain(ctx context.Context, deps Deps, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("reconcile stock", flag.ContinueOnError)
	fs.SetOutput(stdout)
	if deps.App == nil {
		return errors.New("reconcile stock: no app")
	}
	today := deps.App.DayOf(deps.App.Now())
	fromS := fs.String("from", today.AddDays(-30).String(), "first day of doses given to compare (YYYY-MM-DD)")
	toS := fs.String("to", today.String(), "last day of doses given to compare (YYYY-MM-DD)")
	asJSON := fs.Bool("json", false, "print the differences as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	from, err := domain.ParseDate(*fromS)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	to, err := domain.ParseDate(*toS)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	diffs, err := Reconcile(ctx, deps, from, to)
	if err != nil {
		return err
	}
	if *asJSON {
		if diffs == nil {
			diffs = []Difference{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(diffs); err != nil {
			return err
		}
	} else {
		for _, d := range diffs {
			fmt.Fprintln(stdout, d)
		}
		fmt.Fprintf(stdout, "%d differences between the hub and SAP (doses given %s..%s, stock now)\n", len(diffs), from, to)
	}
	if len(diffs) > 0 {
		return ErrDifferences
	}
	return nil
}
