package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

// Bookings are coalesced into lanes: each centre belongs to one lane (a hash
// of its ID), and each lane runs one booking transaction at a time. While it
// runs, further bookings for the lane queue up, and the next transaction
// books all of them (each in its own subtransaction, so one refusal undoes
// only itself) and commits once. Everything a booking reserves belongs to its
// centre, so transactions of different lanes never wait for each other's
// rows and cannot deadlock; within a lane there is one transaction at a time.

const maxBatch = 64

type bookJob struct {
	req    app.BookRequest
	events func(*domain.Appointment) []domain.Event
	appt   *domain.Appointment
	err    error
	done   chan struct{}
}

type laneQueue struct {
	jobs    []*bookJob
	running bool
}

type batcher struct {
	mu     sync.Mutex
	queues map[int]*laneQueue
	lanes  int
}

func (b *batcher) lane(centre string) int {
	if b.lanes <= 1 {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(centre); i++ {
		h = (h ^ uint32(centre[i])) * 16777619
	}
	return int(h % uint32(b.lanes))
}

// Book implements app.Bookings: both doses or nothing, with the events.
func (s *Store) Book(ctx context.Context, req app.BookRequest, events func(*domain.Appointment) []domain.Event) (*domain.Appointment, error) {
	job := &bookJob{req: req, events: events, done: make(chan struct{})}
	b := &s.batch
	b.mu.Lock()
	if b.queues == nil {
		b.queues = map[int]*laneQueue{}
	}
	lane := b.lane(req.CentreID)
	q := b.queues[lane]
	if q == nil {
		q = &laneQueue{}
		b.queues[lane] = q
	}
	q.jobs = append(q.jobs, job)
	lead := !q.running
	q.running = true
	b.mu.Unlock()
	if lead {
		// This caller books for everyone queued in the lane until the queue is empty.
		s.drain(context.WithoutCancel(ctx), q)
	}
	select {
	case <-job.done:
		return job.appt, job.err
	case <-ctx.Done():
		// The booking may still commit; its events say so. The caller is gone.
		<-job.done
		return job.appt, job.err
	}
}

func (s *Store) drain(ctx context.Context, q *laneQueue) {
	b := &s.batch
	for {
		b.mu.Lock()
		n := min(len(q.jobs), maxBatch)
		if n == 0 {
			q.running = false
			b.mu.Unlock()
			return
		}
		jobs := slices.Clone(q.jobs[:n])
		q.jobs = q.jobs[n:]
		b.mu.Unlock()
		// The same order in every batch (centre, then time) makes two hubs'
		// batches less likely to lock each other's rows crosswise.
		slices.SortStableFunc(jobs, func(a, b *bookJob) int {
			if c := strings.Compare(a.req.CentreID, b.req.CentreID); c != 0 {
				return c
			}
			return a.req.SlotStart.Compare(b.req.SlotStart)
		})
		retry := s.runBatch(ctx, jobs)
		if len(retry) > 0 {
			b.mu.Lock()
			q.jobs = append(retry, q.jobs...)
			b.mu.Unlock()
		}
	}
}

// runBatch books jobs in one transaction and returns those to try again
// (a deadlock with a move or cancellation chose them as victims).
func (s *Store) runBatch(ctx context.Context, jobs []*bookJob) (retry []*bookJob) {
	reqs := make([]map[string]any, len(jobs))
	for i, j := range jobs {
		reqs[i] = s.bookArgs(j.req, false)
	}
	var results []bookResult
	var ok []*bookJob
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		results, ok, retry = nil, nil, nil
		var err error
		if results, err = callBookMany(ctx, tx, reqs); err != nil {
			return err
		}
		var events []domain.Event
		for i, j := range jobs {
			r := results[i]
			switch {
			case r.State == "":
				j.appt = r.appointment(j.req)
				j.err = nil
				events = append(events, j.events(j.appt)...)
				ok = append(ok, j)
			case r.State == "40P01" || r.State == "40001":
				retry = append(retry, j)
			default:
				j.appt, j.err = nil, r.refusal()
			}
		}
		return s.writeEvents(ctx, tx, events)
	})
	if err != nil {
		for _, j := range jobs {
			j.appt, j.err = nil, fmt.Errorf("book: %w", err)
			close(j.done)
		}
		return nil
	}
	for _, j := range jobs {
		if !slices.Contains(retry, j) {
			close(j.done)
		}
	}
	return retry
}

// bookOne books (or, with move, re-books) one series inside tx.
func (s *Store) bookOne(ctx context.Context, tx pgx.Tx, req app.BookRequest, move bool) error {
	results, err := callBookMany(ctx, tx, []map[string]any{s.bookArgs(req, move)})
	if err != nil {
		return err
	}
	if results[0].State != "" {
		return results[0].refusal()
	}
	return nil
}

func (s *Store) bookArgs(req app.BookRequest, move bool) map[string]any {
	m := map[string]any{"reference": req.Reference, "resident_id": req.ResidentID, "centre_id": req.CentreID,
		"product": string(req.Product), "priority_group": req.PriorityGroup, "booked_at": req.BookedAt, "tz": s.loc.String(),
		"next_product": string(req.NextProduct), "next_min_days": req.NextMinDays, "next_max_days": req.NextMaxDays,
		"waitlist_entry_id": req.WaitlistEntryID, "move": move}
	if !req.SlotStart.IsZero() {
		m["slot_start"] = req.SlotStart
	} else {
		latest := req.Latest
		if latest.IsZero() {
			latest = req.Earliest.AddDate(1, 0, 0)
		}
		m["earliest"], m["latest"] = req.Earliest, latest
	}
	return m
}

type bookResult struct {
	State      string `json:"state"`
	Error      string `json:"error"`
	Constraint string `json:"constraint"`
	Doses      []struct {
		DoseNumber int       `json:"dose_number"`
		Product    string    `json:"product"`
		SlotID     int64     `json:"slot_id"`
		SlotStart  time.Time `json:"slot_start"`
		SlotEnd    time.Time `json:"slot_end"`
	} `json:"doses"`
}

func callBookMany(ctx context.Context, tx pgx.Tx, reqs []map[string]any) ([]bookResult, error) {
	in, err := json.Marshal(reqs)
	if err != nil {
		return nil, err
	}
	var out []byte
	if err := tx.QueryRow(ctx, `SELECT vaxhub_book_many($1::jsonb)`, in).Scan(&out); err != nil {
		return nil, fmt.Errorf("book: %w", err)
	}
	var results []bookResult
	if err := json.Unmarshal(out, &results); err != nil {
		return nil, fmt.Errorf("book: results: %w", err)
	}
	if len(results) != len(reqs) {
		return nil, fmt.Errorf("book: %d results for %d requests", len(results), len(reqs))
	}
	return results, nil
}

func (r bookResult) appointment(req app.BookRequest) *domain.Appointment {
	a := &domain.Appointment{Reference: req.Reference, ResidentID: req.ResidentID, CentreID: req.CentreID, Product: req.Product,
		PriorityGroup: req.PriorityGroup, Status: domain.SeriesBooked, BookedAt: req.BookedAt}
	for _, d := range r.Doses {
		a.Doses = append(a.Doses, domain.Dose{Number: d.DoseNumber, Product: domain.ProductID(d.Product), SlotID: d.SlotID,
			Start: d.SlotStart, End: d.SlotEnd, Status: domain.DoseBooked})
	}
	return a
}

var errBookingFailed = errors.New("booking failed in the database")

func (r bookResult) refusal() error {
	switch r.State {
	case "VX001":
		return refuseFull
	case "VX002":
		return refuseNone
	case "VX003":
		return refuseStock
	case "VX004":
		return refuseDose2
	case "VX005":
		return domain.Invalid("slot_start", "the centre has no slot starting then")
	case "VX006":
		return &domain.Refusal{Kind: domain.ErrConflict, Code: "waitlist-entry-gone", Message: "waitlist entry is no longer waiting"}
	case "23505":
		if r.Constraint == "appointments_one_open" {
			return refuseTwice
		}
	}
	return fmt.Errorf("%w: %s (SQLSTATE %s)", errBookingFailed, r.Error, r.State)
}
