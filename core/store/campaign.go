package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/core/domain"
)

// SaveCampaign upserts centres and products (campaign data from deploy/).
func (s *Store) SaveCampaign(ctx context.Context, centres []domain.Centre, products []domain.Product) error {
	defer func() {
		s.centres.mu.Lock()
		s.centres.list = nil
		s.centres.mu.Unlock()
	}()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		for _, p := range products {
			if _, err := tx.Exec(ctx, `INSERT INTO products (id, name, eu_number, platform, doses_per_vial) VALUES ($1,$2,$3,$4,$5)
				ON CONFLICT (id) DO UPDATE SET name=EXCLUDED.name, eu_number=EXCLUDED.eu_number, platform=EXCLUDED.platform, doses_per_vial=EXCLUDED.doses_per_vial`,
				string(p.ID), p.Name, p.EUNumber, p.Platform, p.DosesPerVial); err != nil {
				return fmt.Errorf("product %s: %w", p.ID, err)
			}
		}
		for _, c := range centres {
			def, err := json.Marshal(c)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO centres (id, district_ags, definition) VALUES ($1,$2,$3)
				ON CONFLICT (id) DO UPDATE SET district_ags=EXCLUDED.district_ags, definition=EXCLUDED.definition`,
				c.ID, c.DistrictAGS, def); err != nil {
				return fmt.Errorf("centre %s: %w", c.ID, err)
			}
		}
		return nil
	})
}

// centreCacheTTL bounds how long centre definitions are reused: they change
// only when a campaign is loaded, and every booking reads its centre.
const centreCacheTTL = 5 * time.Second

type centreCache struct {
	mu   sync.Mutex
	at   time.Time
	list []domain.Centre
}

// Centres implements app.Campaign.
func (s *Store) Centres(ctx context.Context) ([]domain.Centre, error) {
	c := &s.centres
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.list != nil && time.Since(c.at) < centreCacheTTL {
		return slices.Clone(c.list), nil
	}
	list, err := s.loadCentres(ctx)
	if err != nil {
		return nil, err
	}
	c.list, c.at = list, time.Now()
	return slices.Clone(list), nil
}

func (s *Store) loadCentres(ctx context.Context) ([]domain.Centre, error) {
	rows, err := s.pool.Query(ctx, `SELECT definition FROM centres ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list centres: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Centre, error) {
		var c domain.Centre
		var def []byte
		if err := row.Scan(&def); err != nil {
			return c, err
		}
		return c, json.Unmarshal(def, &c)
	})
}

// Centre implements app.Campaign.
func (s *Store) Centre(ctx context.Context, id string) (*domain.Centre, error) {
	all, err := s.Centres(ctx)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].ID == id {
			return &all[i], nil
		}
	}
	return nil, notFound("centre", id)
}

// Products implements app.Campaign.
func (s *Store) Products(ctx context.Context) ([]domain.Product, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, eu_number, platform, doses_per_vial FROM products ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Product, error) {
		var p domain.Product
		var id string
		err := row.Scan(&id, &p.Name, &p.EUNumber, &p.Platform, &p.DosesPerVial)
		p.ID = domain.ProductID(id)
		return p, err
	})
}

// PublishRuleSet implements app.RuleSets. A version is published once.
func (s *Store) PublishRuleSet(ctx context.Context, rs *domain.RuleSet, events []domain.Event) error {
	def, err := json.Marshal(rs)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO rulesets (version, effective_from, definition) VALUES ($1,$2,$3)`, rs.Version, rs.EffectiveFrom, def)
		if isUniqueViolation(err, "") {
			return &domain.Refusal{Kind: domain.ErrConflict, Code: "version-exists", Message: "rule set version " + rs.Version + " is already published"}
		}
		if err != nil {
			return fmt.Errorf("insert rule set: %w", err)
		}
		return s.writeEvents(ctx, tx, events)
	})
}

// EnsureRuleSet publishes rs unless its version exists (campaign loading).
func (s *Store) EnsureRuleSet(ctx context.Context, rs *domain.RuleSet, events []domain.Event) (bool, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM rulesets WHERE version = $1)`, rs.Version).Scan(&exists); err != nil {
		return false, err
	}
	if exists {
		return false, nil
	}
	err := s.PublishRuleSet(ctx, rs, events)
	if errors.Is(err, domain.ErrConflict) {
		return false, nil
	}
	return err == nil, err
}

// RuleSetAt implements app.RuleSets.
func (s *Store) RuleSetAt(ctx context.Context, t time.Time) (*domain.RuleSet, error) {
	var def []byte
	err := s.pool.QueryRow(ctx, `SELECT definition FROM rulesets WHERE effective_from <= $1 ORDER BY effective_from DESC, published_at DESC LIMIT 1`, t).Scan(&def)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("no rule set in force at %s: %w", t.Format(time.RFC3339), domain.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load rule set: %w", err)
	}
	var rs domain.RuleSet
	if err := json.Unmarshal(def, &rs); err != nil {
		return nil, err
	}
	return &rs, nil
}

// RuleSets implements app.RuleSets.
func (s *Store) RuleSets(ctx context.Context) ([]domain.RuleSet, error) {
	rows, err := s.pool.Query(ctx, `SELECT definition FROM rulesets ORDER BY effective_from, published_at`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.RuleSet, error) {
		var rs domain.RuleSet
		var def []byte
		if err := row.Scan(&def); err != nil {
			return rs, err
		}
		return rs, json.Unmarshal(def, &rs)
	})
}
