package sap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/mappings"
)

// Movement is one material document item as the core sees it, decoded from
// the output of the mapping sap/material-document-item.
type Movement struct {
	DocumentYear    int64            `json:"document_year"`
	Document        string           `json:"document"`
	DocumentItem    string           `json:"document_item"`
	Product         domain.ProductID `json:"product"`
	CentreID        string           `json:"centre_id"`
	StorageLocation string           `json:"storage_location"`
	MovementType    string           `json:"movement_type"`
	Direction       string           `json:"direction"` // in, out, transfer
	Doses           int              `json:"doses"`
	Batch           string           `json:"batch"`
	Day             string           `json:"day"`
	Expires         string           `json:"expires"`
	DebitCredit     string           `json:"debit_credit"` // S adds, H takes
	HeaderText      string           `json:"header_text"`
}

// ID is the movement's stable ID in the hub: the same SAP item always gives
// the same delivery or withdrawal, so reading it twice changes nothing.
func (m Movement) ID() string {
	return fmt.Sprintf("sap-%d-%s-%s", m.DocumentYear, m.Document, m.DocumentItem)
}

// cursor is the last material document whose items were all applied.
type cursor struct{ Year, Document string }

func (c cursor) filter() string {
	return fmt.Sprintf("MaterialDocumentYear gt '%s' or (MaterialDocumentYear eq '%s' and MaterialDocument gt '%s')", c.Year, c.Year, c.Document)
}

func (c *Connector) loadCursor(ctx context.Context) (cursor, error) {
	cur := cursor{Year: "0000", Document: "0"}
	err := c.pool.QueryRow(ctx, `SELECT document_year, document FROM sap_cursor WHERE name = $1`, c.cfg.CursorName).Scan(&cur.Year, &cur.Document)
	if errors.Is(err, pgx.ErrNoRows) {
		return cur, nil
	}
	return cur, err
}

func (c *Connector) saveCursor(ctx context.Context, cur cursor) error {
	_, err := c.pool.Exec(ctx, `INSERT INTO sap_cursor (name, document_year, document, updated_at) VALUES ($1,$2,$3,now())
		ON CONFLICT (name) DO UPDATE SET document_year = excluded.document_year, document = excluded.document, updated_at = now()`,
		c.cfg.CursorName, cur.Year, cur.Document)
	return err
}

// RunPoller polls SAP every PollInterval until ctx ends. A failed round is
// logged and the next one starts from the cursor.
func (c *Connector) RunPoller(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	var lastBad [32]byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := c.poll(ctx, &lastBad)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("reading material documents failed; the next round resumes from the cursor", "err", err, "applied", st.Applied)
		}
		t.Reset(c.cfg.PollInterval)
	}
}

// PollStats counts what one round did.
type PollStats struct {
	Items, Applied, Skipped, DeadLettered int
}

// PollOnce reads every material document after the cursor and applies it.
func (c *Connector) PollOnce(ctx context.Context) (PollStats, error) {
	var lastBad [32]byte
	return c.poll(ctx, &lastBad)
}

func (c *Connector) poll(ctx context.Context, lastBad *[32]byte) (PollStats, error) {
	var st PollStats
	cur, err := c.loadCursor(ctx)
	if err != nil {
		return st, fmt.Errorf("sap: load cursor: %w", err)
	}
	q := url.Values{}
	q.Set("$filter", cur.filter())
	q.Set("$expand", "to_MaterialDocumentHeader")
	q.Set("$orderby", "MaterialDocumentYear,MaterialDocument")
	path := "/" + svcDocument + "/A_MaterialDocumentItem"
	done := cur      // every item of this document and before is applied
	var open *cursor // the document being read
	err = c.odata.getAll(ctx, path, q, func(p *page) error {
		for _, raw := range p.Records {
			st.Items++
			key, m, err := c.decode(raw)
			if key != nil && (open == nil || *key != *open) {
				if open != nil {
					done = *open
				}
				open = key
			}
			if err != nil {
				if err := c.deadLetter(ctx, raw, path, err); err != nil {
					return err
				}
				st.DeadLettered++
				continue
			}
			applied, err := c.apply(ctx, m)
			switch {
			case err == nil && applied:
				st.Applied++
			case err == nil:
				st.Skipped++
			case isDataError(err):
				if err := c.deadLetter(ctx, raw, path, err); err != nil {
					return err
				}
				st.DeadLettered++
			default:
				return err
			}
		}
		if done != cur {
			if err := c.saveCursor(ctx, done); err != nil {
				return fmt.Errorf("sap: save cursor: %w", err)
			}
			cur = done
		}
		return nil
	})
	if errors.Is(err, ErrMalformed) {
		// The page cannot be read at all: dead-letter it once (not on every
		// round while SAP keeps answering the same), and keep polling.
		var raw []byte
		var pe interface{ RawBody() []byte }
		if errors.As(err, &pe) {
			raw = pe.RawBody()
		}
		h := sha256.Sum256(append([]byte(err.Error()), raw...))
		if h != *lastBad {
			if derr := c.deadLetter(ctx, raw, path, err); derr != nil {
				return st, errors.Join(err, derr)
			}
			*lastBad = h
			st.DeadLettered++
		}
		return st, err
	}
	if err != nil {
		return st, err
	}
	if open != nil && *open != cur {
		if err := c.saveCursor(ctx, *open); err != nil {
			return st, fmt.Errorf("sap: save cursor: %w", err)
		}
	}
	return st, nil
}

// decode maps one raw item. It returns the document key whenever it can be
// read, even when the mapping fails.
func (c *Connector) decode(raw json.RawMessage) (*cursor, Movement, error) {
	var rec map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&rec); err != nil {
		return nil, Movement{}, fmt.Errorf("%w: item is not a JSON object: %v", ErrMalformed, err)
	}
	var key *cursor
	if y, ok := rec["MaterialDocumentYear"].(string); ok {
		if d, ok := rec["MaterialDocument"].(string); ok {
			key = &cursor{Year: y, Document: d}
		}
	}
	out, err := c.mapping.Inbound(rec)
	if err != nil {
		return key, Movement{}, err
	}
	b, _ := json.Marshal(out)
	var m Movement
	if err := json.Unmarshal(b, &m); err != nil {
		return key, Movement{}, fmt.Errorf("%w: mapped item: %v", mappings.ErrMapping, err)
	}
	return key, m, nil
}

// isDataError: the record itself is wrong (dead-letter it); anything else is
// the hub's trouble (retry).
func isDataError(err error) bool {
	return errors.Is(err, mappings.ErrMapping) || errors.Is(err, ErrMalformed) ||
		errors.Is(err, domain.ErrInvalid) || errors.Is(err, domain.ErrNotFound)
}

// apply changes the hub's stock for one movement. It reports false for
// movements that do not touch a centre's bookable stock: the central store,
// the mobile teams' storage locations (a transfer there is recorded as
// issued to the team), and the hub's own goods issues.
func (c *Connector) apply(ctx context.Context, m Movement) (bool, error) {
	if m.CentreID == "" || m.CentreID == centralCentre {
		return false, nil
	}
	if m.MovementType == "311" {
		// Transfers, the hub's own included: the hub has not moved the
		// doses in its stock yet (see applyTransfer).
		return c.applyTransfer(ctx, m, nil)
	}
	if isHubHeaderText(m.HeaderText) {
		return false, nil
	}
	if m.StorageLocation != "" && m.StorageLocation != c.cfg.StorageLocation {
		return false, nil
	}
	return c.applyStock(ctx, m)
}

// applyStock changes a centre's bookable stock for one movement at its cold
// store.
func (c *Connector) applyStock(ctx context.Context, m Movement) (bool, error) {
	day, err := domain.ParseDate(m.Day)
	if err != nil {
		return false, err
	}
	in := m.Direction == "in" || (m.Direction == "transfer" && m.DebitCredit == "S")
	if in {
		d := app.Delivery{ID: m.ID(), CentreID: m.CentreID, Product: m.Product, Doses: m.Doses, Arrives: day, Batch: m.Batch}
		if m.Expires != "" {
			if d.Expires, err = domain.ParseDate(m.Expires); err != nil {
				return false, err
			}
		}
		_, err := c.app.RecordDelivery(ctx, d)
		return err == nil, err
	}
	if m.Batch == "" {
		return false, domain.Invalid("Batch", "an issue of %s at %s has no batch", m.Product, m.CentreID)
	}
	reason := "issued"
	switch m.MovementType {
	case "551":
		reason = "scrapped"
	case "311":
		reason = "transfer"
	case "102", "502", "202", "262", "552":
		reason = "reversal"
	}
	_, _, err = c.app.WithdrawStock(ctx, app.Withdrawal{ID: m.ID(), CentreID: m.CentreID, Product: m.Product, Batch: m.Batch,
		Day: day, Doses: m.Doses, Reason: reason})
	return err == nil, err
}

// centralCentre is what the mapping calls the central cold store (SN00).
const centralCentre = "central"

// deadLetter publishes a record the poller cannot apply to vaxhub.dlq with
// the reason; polling goes on.
func (c *Connector) deadLetter(ctx context.Context, raw []byte, source string, reason error) error {
	if c.pub == nil {
		c.log.Error("record cannot be applied and there is no dead-letter publisher", "reason", reason)
		return nil
	}
	key := "sap"
	var k struct{ MaterialDocumentYear, MaterialDocument, MaterialDocumentItem string }
	if json.Unmarshal(raw, &k) == nil && k.MaterialDocument != "" {
		key = "sap/" + k.MaterialDocumentYear + "/" + k.MaterialDocument + "/" + k.MaterialDocumentItem
	}
	if len(raw) == 0 {
		raw = []byte("null")
	}
	msg := bus.Message{Topic: bus.DLQTopic, Key: key, Value: raw, Headers: map[string]string{
		bus.HeaderDLQReason:  reason.Error(),
		bus.HeaderDLQHandler: InboundHandler,
		bus.HeaderDLQTime:    time.Now().UTC().Format(time.RFC3339Nano),
		HeaderDLQSource:      "sap:" + source,
	}}
	if err := c.pub.Publish(ctx, msg); err != nil {
		return fmt.Errorf("sap: dead-letter %s: %w", key, err)
	}
	c.log.Warn("SAP record dead-lettered", "key", key, "reason", reason)
	return nil
}
