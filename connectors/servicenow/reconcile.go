package servicenow

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/vaxhub/vaxhub/core/domain"
)

// ReconcileMobileMain is `vaxhub reconcile mobile`: per team, day and product
// it compares the doses requested for the visits, transferred (issued) to
// the team, administered (counted), held for review, returned and wasted
// (open vials), and prints the differences. Only deps.Mobile is used.
//
//	vaxhub reconcile mobile [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json] [--all]
//
// Without --from/--to the last 7 days up to today (the campaign's time
// zone). Without --all only rows with a difference are listed, then a
// summary.
func ReconcileMobileMain(ctx context.Context, deps Deps, args []string, stdout io.Writer) error {
	if deps.Mobile == nil {
		return errors.New("reconcile mobile: Deps.Mobile is required")
	}
	fs := flag.NewFlagSet("reconcile mobile", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fromS := fs.String("from", "", "first day (YYYY-MM-DD); default 6 days before --to")
	toS := fs.String("to", "", "last day (YYYY-MM-DD); default today")
	asJSON := fs.Bool("json", false, "print the rows as JSON")
	all := fs.Bool("all", false, "list every row, not only those with a difference")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a := deps.Mobile.App()
	to := domain.DateOf(a.Now().In(a.Location()))
	if *toS != "" {
		d, err := domain.ParseDate(*toS)
		if err != nil {
			return fmt.Errorf("reconcile mobile: --to: %w", err)
		}
		to = d
	}
	from := to.AddDays(-6)
	if *fromS != "" {
		d, err := domain.ParseDate(*fromS)
		if err != nil {
			return fmt.Errorf("reconcile mobile: --from: %w", err)
		}
		from = d
	}
	rows, err := deps.Mobile.MobileReconciliation(ctx, from, to)
	if err != nil {
		return fmt.Errorf("reconcile mobile: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "team\tday\tproduct\trequested\ttransferred\tadministered\theld\treturned\twasted\topen-vial rest\tdifference\t")
	diffs := 0
	for _, r := range rows {
		if r.Difference != 0 {
			diffs++
		}
		if r.Difference == 0 && !*all {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%+d\t\n", r.Team, r.Day, r.Product, r.Requested, r.Transferred,
			r.Administered, r.Held, r.Returned, r.Wasted, r.OpenVialRest, r.Difference)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s..%s: %d team-days and products, %d with a difference (transferred - administered - held - returned - wasted)\n",
		from, to, len(rows), diffs)
	return nil
}
