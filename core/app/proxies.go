package app

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/vaxhub/vaxhub/core/domain"
)

// ProxyResidents is the optional read a Residents port offers for proxies
// (core/store implements it).
type ProxyResidents interface {
	// ResidentsOfProxy returns the hash of the proxy's token and the
	// residents the proxy manages (domain.ErrNotFound for an unknown proxy).
	ResidentsOfProxy(ctx context.Context, proxyID string) (tokenHash []byte, residents []domain.Resident, err error)
}

// ManagedResident is one resident a proxy manages, with the reference of
// their open appointment series ("" when none).
type ManagedResident struct {
	Resident  domain.Resident `json:"resident"`
	Reference string          `json:"reference,omitempty"`
}

// ResidentsOfProxy lists the residents the proxy manages after checking the
// proxy's token in constant time (domain.ErrForbidden when it does not match).
func (a *App) ResidentsOfProxy(ctx context.Context, proxyID, token string) ([]ManagedResident, error) {
	pr, ok := a.p.Residents.(ProxyResidents)
	if !ok {
		return nil, errors.New("app: the residents store cannot list a proxy's residents")
	}
	hash, rs, err := pr.ResidentsOfProxy(ctx, proxyID)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", proxyID, err)
	}
	if subtle.ConstantTimeCompare(hash, HashToken(token)) != 1 {
		return nil, fmt.Errorf("proxy token does not match: %w", domain.ErrForbidden)
	}
	out := make([]ManagedResident, 0, len(rs))
	for _, r := range rs {
		m := ManagedResident{Resident: r}
		ap, err := a.p.Bookings.OpenAppointmentOf(ctx, r.ID)
		switch {
		case err == nil && ap != nil:
			m.Reference = ap.Reference
		case err != nil && !errors.Is(err, domain.ErrNotFound):
			return nil, fmt.Errorf("open appointment of %s: %w", r.ID, err)
		}
		out = append(out, m)
	}
	return out, nil
}
