package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/core/domain"
)

// EventChecker validates an event envelope before it is written to the
// outbox (schemas.Registry.ValidateMessage fits). An event that fails is a
// bug: the use case fails and nothing is written.
type EventChecker interface {
	ValidateMessage(envelope []byte) error
}

// Store implements the ports of core/app on PostgreSQL.
type Store struct {
	pool    *pgxpool.Pool
	aead    cipher.AEAD
	loc     *time.Location
	events  EventChecker
	batch   batcher
	centres centreCache
}

// Options configure a Store.
type Options struct {
	// DataKey is the 32-byte AES-256 key that seals health data.
	DataKey []byte
	// Location is the campaign's time zone (days of slots and reports).
	Location *time.Location
	// Events, when set, validates every event before it enters the outbox.
	Events EventChecker
	// BookingLanes is how many booking transactions one hub runs at once,
	// each for its own set of centres (default 1: on 2 cores one lane books
	// most, 2089/s against 1651/s with a lane per centre). Concurrent
	// bookings in a lane share one transaction and one commit.
	BookingLanes int
}

// New returns a Store on pool.
func New(pool *pgxpool.Pool, opt Options) (*Store, error) {
	if len(opt.DataKey) != 32 {
		return nil, fmt.Errorf("store: data key must be 32 bytes, got %d", len(opt.DataKey))
	}
	block, err := aes.NewCipher(opt.DataKey)
	if err != nil {
		return nil, fmt.Errorf("store: data key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: data key: %w", err)
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.BookingLanes <= 0 {
		opt.BookingLanes = 1
	}
	st := &Store{pool: pool, aead: aead, loc: opt.Location, events: opt.Events}
	st.batch.lanes = opt.BookingLanes
	return st, nil
}

// Pool returns the underlying pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// inTx runs fn in a transaction. A transaction chosen as a deadlock victim
// or failing serialisation is run again (a move can meet another hub's
// booking batch); fn must only depend on what it reads inside.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = pgx.BeginFunc(ctx, s.pool, fn)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != "40P01" && pe.Code != "40001") {
			return err
		}
	}
	return err
}

// seal encrypts v as JSON; the resident ID is authenticated data, so a sealed
// value copied to another row does not open.
func (s *Store) seal(v any, id string) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(id)), nil
}

func (s *Store) open(sealed []byte, id string, v any) error {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return errors.New("sealed value too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return fmt.Errorf("open sealed health data (wrong data key?): %w", err)
	}
	return json.Unmarshal(plain, v)
}

// writeEvents validates events and inserts them into the outbox within tx.
func (s *Store) writeEvents(ctx context.Context, tx pgx.Tx, events []domain.Event) error {
	if len(events) == 0 {
		return nil
	}
	rows := make([]OutboxInsert, 0, len(events))
	for _, e := range events {
		b := e.JSON()
		if s.events != nil {
			if err := s.events.ValidateMessage(b); err != nil {
				return fmt.Errorf("event %s does not match its schema: %w", e.Type, err)
			}
		}
		rows = append(rows, OutboxInsert{EventID: e.ID, Topic: e.Topic(), Key: e.Subject, Type: e.Type, Payload: b,
			Headers: map[string]string{"correlation_id": e.CorrelationID, "event_type": e.Type}})
	}
	return InsertOutbox(ctx, tx, rows...)
}

func isUniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && (constraint == "" || pe.ConstraintName == constraint)
}

func notFound(what, id string) error {
	return fmt.Errorf("%s %q: %w", what, id, domain.ErrNotFound)
}
