package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vaxhub/vaxhub/core/domain"
)

// Withdrawal is doses that left a centre's stock other than by a dose given
// in the hub: a batch scrapped, a goods issue booked in the stock system, a
// transfer to a mobile team. ID comes from the source and makes recording
// idempotent.
type Withdrawal struct {
	ID       string
	CentreID string
	Product  domain.ProductID
	Batch    string
	Day      domain.Date
	Doses    int
	Reason   string // scrapped, issued, transfer
}

// BatchStock is the stock of one batch of a product at a centre: received
// (announced deliveries excluded) less withdrawn less doses given with that
// batch.
type BatchStock struct {
	CentreID string           `json:"centre_id"`
	Product  domain.ProductID `json:"product"`
	Batch    string           `json:"batch"`
	Expires  domain.Date      `json:"expires_on"`
	Doses    int64            `json:"doses"`
}

// DosesGiven counts doses given per centre, product, batch and day (in the
// campaign's time zone).
type DosesGiven struct {
	CentreID string           `json:"centre_id"`
	Product  domain.ProductID `json:"product"`
	Batch    string           `json:"batch"`
	Day      domain.Date      `json:"day"`
	Doses    int64            `json:"doses"`
}

// StockBatches is the optional part of the Stock port that knows batches.
// core/store implements it; App reaches it through Ports.Stock.
type StockBatches interface {
	// WithdrawStock records w and lowers the centre's stock of the batch by
	// up to w.Doses (never below what booked appointments hold), with the
	// events, in one transaction. Recording the same ID twice changes
	// nothing and returns fresh false.
	WithdrawStock(ctx context.Context, w Withdrawal, events func(applied int) []domain.Event) (applied int, fresh bool, err error)
	// BatchStocks returns the stock per batch at a centre (every centre when
	// empty) and product (every product when empty).
	BatchStocks(ctx context.Context, centreID string, product domain.ProductID) ([]BatchStock, error)
	// DosesGivenByBatch counts the doses given on days [from, to].
	DosesGivenByBatch(ctx context.Context, from, to domain.Date) ([]DosesGiven, error)
}

// ErrNoBatchStore is returned when the Stock port does not know batches.
var ErrNoBatchStore = errors.New("app: the stock store does not keep batches")

func (a *App) batches() (StockBatches, error) {
	sb, ok := a.p.Stock.(StockBatches)
	if !ok {
		return nil, ErrNoBatchStore
	}
	return sb, nil
}

// WithdrawStock records doses that left a centre's stock (see Withdrawal)
// and emits stock.changed (reason correction, negative delta) for what it
// took. It returns the doses taken from the hub's stock.
func (a *App) WithdrawStock(ctx context.Context, w Withdrawal) (applied int, fresh bool, err error) {
	sb, err := a.batches()
	if err != nil {
		return 0, false, err
	}
	if _, err := a.p.Campaign.Centre(ctx, w.CentreID); err != nil {
		return 0, false, err
	}
	switch {
	case w.ID == "":
		return 0, false, domain.Invalid("id", "is required")
	case !domain.KnownProduct(w.Product):
		return 0, false, domain.Invalid("product", "unknown product %q", w.Product)
	case w.Batch == "":
		return 0, false, domain.Invalid("batch", "is required")
	case w.Doses <= 0 || w.Doses > 1_000_000:
		return 0, false, domain.Invalid("doses", "must be between 1 and 1000000")
	case w.Day.IsZero():
		return 0, false, domain.Invalid("day", "is required")
	}
	corr := CorrelationID(ctx)
	now := a.Now()
	applied, fresh, err = sb.WithdrawStock(ctx, w, func(applied int) []domain.Event {
		if applied == 0 {
			return nil
		}
		return []domain.Event{domain.NewEvent("stock.changed", w.CentreID+"/"+string(w.Product), corr, now, domain.StockChanged{
			CentreID: w.CentreID, Product: w.Product, Day: w.Day.String(), Delta: -applied, Reason: "correction",
			Batch: w.Batch, DeliveryID: w.ID})}
	})
	if err != nil {
		return 0, false, fmt.Errorf("withdraw stock: %w", err)
	}
	return applied, fresh, nil
}

// SuggestBatch returns the batch of product at a centre that check-out
// should use on day: the one with doses left that expires first (first
// expired, first out) and has not expired by day. It returns
// domain.ErrNotFound when no batch has doses left.
func (a *App) SuggestBatch(ctx context.Context, centreID string, product domain.ProductID, day domain.Date) (*BatchStock, error) {
	sb, err := a.batches()
	if err != nil {
		return nil, err
	}
	all, err := sb.BatchStocks(ctx, centreID, product)
	if err != nil {
		return nil, err
	}
	var best *BatchStock
	for i := range all {
		b := &all[i]
		if b.Doses <= 0 || (!b.Expires.IsZero() && b.Expires.Before(day)) {
			continue
		}
		if best == nil || expiresBefore(b.Expires, best.Expires) {
			best = b
		}
	}
	if best == nil {
		return nil, fmt.Errorf("batch of %s at %s on %s: %w", product, centreID, day, domain.ErrNotFound)
	}
	return best, nil
}

// expiresBefore orders expiry days with "no expiry" last.
func expiresBefore(a, b domain.Date) bool {
	switch {
	case a.IsZero():
		return false
	case b.IsZero():
		return true
	}
	return a.Before(b)
}

// SuggestBatchNow is SuggestBatch for today in the campaign's time zone.
func (a *App) SuggestBatchNow(ctx context.Context, centreID string, product domain.ProductID) (*BatchStock, error) {
	return a.SuggestBatch(ctx, centreID, product, a.today())
}

// BatchStocks returns the stock per batch (see StockBatches.BatchStocks).
func (a *App) BatchStocks(ctx context.Context, centreID string, product domain.ProductID) ([]BatchStock, error) {
	sb, err := a.batches()
	if err != nil {
		return nil, err
	}
	return sb.BatchStocks(ctx, centreID, product)
}

// DosesGivenByBatch counts doses given per centre, product, batch and day on
// days [from, to].
func (a *App) DosesGivenByBatch(ctx context.Context, from, to domain.Date) ([]DosesGiven, error) {
	sb, err := a.batches()
	if err != nil {
		return nil, err
	}
	return sb.DosesGivenByBatch(ctx, from, to)
}

// DayOf returns the day of t in the campaign's time zone.
func (a *App) DayOf(t time.Time) domain.Date { return domain.DateOf(t.In(a.cfg.Location)) }
