package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/core/domain"
)

type healthData struct {
	Indications  []domain.Indication  `json:"i"`
	Intolerances []domain.Intolerance `json:"t"`
}

// CreateResident implements app.Residents.
func (s *Store) CreateResident(ctx context.Context, r *domain.Resident, tokenHash []byte, proxy *domain.Proxy, proxyTokenHash []byte, events []domain.Event) error {
	sealed, err := s.seal(healthData{r.Indications, r.Intolerances}, r.ID)
	if err != nil {
		return fmt.Errorf("seal health data: %w", err)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if proxy != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO proxies (id, name, phone, email, token_hash) VALUES ($1,$2,$3,$4,$5)`,
				proxy.ID, proxy.Name, nullable(proxy.Phone), nullable(proxy.Email), proxyTokenHash); err != nil {
				return fmt.Errorf("insert proxy: %w", err)
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO residents (id, given_names, family_name, birth_date, sex, street, postal_code, city,
			municipality_key, phone, email, health_sealed, proxy_id, channel, registered_at, token_hash, contact_channel, contact_consent_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)`,
			r.ID, r.GivenNames, r.FamilyName, dayArg(r.BirthDate), string(r.Sex), r.Address.Street, r.Address.PostalCode,
			r.Address.City, r.Address.MunicipalityKey, nullable(r.Phone), nullable(r.Email), sealed, nullable(r.ProxyID),
			r.Channel, r.RegisteredAt, tokenHash, contactChannel(r.Contact.Channel), r.Contact.ConsentAt)
		if err != nil {
			return fmt.Errorf("insert resident: %w", err)
		}
		return s.writeEvents(ctx, tx, events)
	})
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

const residentColumns = `r.id::text, r.given_names, r.family_name, r.birth_date, r.sex, r.street, r.postal_code, r.city, r.municipality_key,
	coalesce(r.phone,''), coalesce(r.email,''), r.health_sealed, coalesce(r.proxy_id::text,''), r.channel, r.registered_at,
	r.contact_channel, r.contact_consent_at`

func (s *Store) scanResident(row pgx.Row, extra ...any) (*domain.Resident, error) {
	var r domain.Resident
	var sealed []byte
	var sex string
	var birth pgDate
	dest := append([]any{&r.ID, &r.GivenNames, &r.FamilyName, &birth, &sex, &r.Address.Street, &r.Address.PostalCode,
		&r.Address.City, &r.Address.MunicipalityKey, &r.Phone, &r.Email, &sealed, &r.ProxyID, &r.Channel, &r.RegisteredAt,
		&r.Contact.Channel, &r.Contact.ConsentAt}, extra...)
	err := row.Scan(dest...)
	if err != nil {
		return nil, err
	}
	r.BirthDate = domain.Date(birth)
	r.Sex = domain.Sex(sex)
	var h healthData
	if err := s.open(sealed, r.ID, &h); err != nil {
		return nil, err
	}
	r.Indications, r.Intolerances = h.Indications, h.Intolerances
	r.Normalize()
	return &r, nil
}

func contactChannel(c domain.ContactChannel) string {
	if c == "" {
		return string(domain.ContactPost)
	}
	return string(c)
}

// SetContact implements app.Residents.
func (s *Store) SetContact(ctx context.Context, r *domain.Resident) error {
	if !isUUID(r.ID) {
		return notFound("resident", r.ID)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE residents SET phone = $2, email = $3, contact_channel = $4, contact_consent_at = $5 WHERE id = $1`,
		r.ID, nullable(r.Phone), nullable(r.Email), contactChannel(r.Contact.Channel), r.Contact.ConsentAt)
	if err != nil {
		return fmt.Errorf("set contact: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("resident", r.ID)
	}
	return nil
}

// Resident implements app.Residents.
func (s *Store) Resident(ctx context.Context, id string) (*domain.Resident, error) {
	if !isUUID(id) {
		return nil, notFound("resident", id)
	}
	r, err := s.scanResident(s.pool.QueryRow(ctx, `SELECT `+residentColumns+` FROM residents r WHERE r.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("resident", id)
	}
	if err != nil {
		return nil, fmt.Errorf("load resident: %w", err)
	}
	return r, nil
}

// ResidentWithTokens implements app.Residents.
func (s *Store) ResidentWithTokens(ctx context.Context, id string) (*domain.Resident, []byte, []byte, error) {
	if !isUUID(id) {
		return nil, nil, nil, notFound("resident", id)
	}
	var own, proxy []byte
	r, err := s.scanResident(s.pool.QueryRow(ctx, `SELECT `+residentColumns+`, r.token_hash, p.token_hash
		FROM residents r LEFT JOIN proxies p ON p.id = r.proxy_id WHERE r.id = $1`, id), &own, &proxy)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, nil, notFound("resident", id)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("load resident: %w", err)
	}
	return r, own, proxy, nil
}

// TokenHashes implements app.Residents.
func (s *Store) TokenHashes(ctx context.Context, residentID string) (own, proxy []byte, err error) {
	if !isUUID(residentID) {
		return nil, nil, notFound("resident", residentID)
	}
	err = s.pool.QueryRow(ctx, `SELECT r.token_hash, p.token_hash FROM residents r LEFT JOIN proxies p ON p.id = r.proxy_id WHERE r.id = $1`,
		residentID).Scan(&own, &proxy)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, notFound("resident", residentID)
	}
	return own, proxy, err
}

// ProxyTokenHash implements app.Residents.
func (s *Store) ProxyTokenHash(ctx context.Context, proxyID string) ([]byte, error) {
	if !isUUID(proxyID) {
		return nil, notFound("proxy", proxyID)
	}
	var h []byte
	err := s.pool.QueryRow(ctx, `SELECT token_hash FROM proxies WHERE id = $1`, proxyID).Scan(&h)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("proxy", proxyID)
	}
	return h, err
}

// EachResident implements app.Residents.
func (s *Store) EachResident(ctx context.Context, fn func(*domain.Resident) error) error {
	rows, err := s.pool.Query(ctx, `SELECT `+residentColumns+` FROM residents r ORDER BY r.id`)
	if err != nil {
		return fmt.Errorf("list residents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := s.scanResident(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// ImportResidents stores many residents at once (a care home's list, a
// benchmark's population) with COPY, each with its access-token hash and its
// resident.registered event. Residents must be validated and have IDs.
func (s *Store) ImportResidents(ctx context.Context, rs []domain.Resident, tokenHashes [][]byte, events []domain.Event) error {
	if len(rs) != len(tokenHashes) {
		return fmt.Errorf("import residents: %d residents but %d token hashes", len(rs), len(tokenHashes))
	}
	rows := make([][]any, len(rs))
	for i := range rs {
		r := &rs[i]
		sealed, err := s.seal(healthData{r.Indications, r.Intolerances}, r.ID)
		if err != nil {
			return err
		}
		rows[i] = []any{r.ID, r.GivenNames, r.FamilyName, dayArg(r.BirthDate), string(r.Sex), r.Address.Street, r.Address.PostalCode,
			r.Address.City, r.Address.MunicipalityKey, nullable(r.Phone), nullable(r.Email), sealed, r.Channel, r.RegisteredAt, tokenHashes[i]}
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"residents"}, []string{"id", "given_names", "family_name", "birth_date", "sex", "street",
			"postal_code", "city", "municipality_key", "phone", "email", "health_sealed", "channel", "registered_at", "token_hash"},
			pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("import residents: %w", err)
		}
		return s.writeEvents(ctx, tx, events)
	})
}
