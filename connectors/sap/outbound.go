package sap

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/httpclient"
	"github.com/vaxhub/vaxhub/core/domain"
)

// hubTextPrefix starts the header text of every goods issue the hub posts.
const hubTextPrefix = "VXH"

// HeaderText is the MaterialDocumentHeaderText that marks the goods issue of
// one hub event: "VXH" and 22 characters of the event ID's SHA-256
// (base64url), 25 characters, the most SAP takes. The hub looks a document
// up by it before it posts again, so one event never gives two documents.
func HeaderText(eventID string) string {
	h := sha256.Sum256([]byte(eventID))
	return hubTextPrefix + base64.RawURLEncoding.EncodeToString(h[:16])
}

func isHubHeaderText(s string) bool { return len(s) == 25 && strings.HasPrefix(s, hubTextPrefix) }

// doseAdministered is the part of appointment.dose-administered the goods
// issue needs. The resident's ID is not read: it never goes to SAP.
type doseAdministered struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data struct {
		Reference      string           `json:"reference"`
		CentreID       string           `json:"centre_id"`
		Product        domain.ProductID `json:"product"`
		Batch          string           `json:"batch"`
		DoseNumber     int              `json:"dose_number"`
		AdministeredAt time.Time        `json:"administered_at"`
	} `json:"data"`
}

// HandleDoseAdministered posts one 201 goods issue (one dose, the centre's
// plant and cost centre, the batch given; from the cold store, or from the
// team's storage location for a dose given in the field) per
// appointment.dose-administered event, exactly once:
//
//   - the dose is read from the core first (checkDoseInCore): for a dose the
//     core does not hold as given nothing is posted, and the event goes to
//     the dead-letter topic with reason not-in-core;
//   - sap_goods_issues gets the event with state "posting" before the first
//     POST; a later attempt that finds the row looks the document up by its
//     header text (HeaderText) before it posts again;
//   - a 4xx that retrying cannot fix (unknown batch, stock deficit) is
//     permanent: the event goes to the dead-letter topic with SAP's message;
//   - anything else (SAP down, breaker open, a timeout) is returned and the
//     consumer retries: the event waits in Kafka.
//
// It runs behind bus.ExactlyOnce (consumer Consumer): an event whose goods
// issue was recorded as posted is skipped before anything else, and the
// "posted" state commits with the inbox record.
func (c *Connector) HandleDoseAdministered(ctx context.Context, msg bus.Message) error {
	return bus.ExactlyOnce(c.inbox, Consumer)(c.handleDoseAdministered)(ctx, msg)
}

func (c *Connector) handleDoseAdministered(ctx context.Context, msg bus.Message) error {
	var ev doseAdministered
	if err := json.Unmarshal(msg.Value, &ev); err != nil {
		return bus.Permanent(fmt.Errorf("sap: not an event envelope: %w", err))
	}
	if ev.Type != "appointment.dose-administered" {
		bus.Skip(ctx)
		return nil // other appointment events share the topic
	}
	if ev.ID == "" || ev.Data.CentreID == "" || ev.Data.Product == "" || ev.Data.Batch == "" || ev.Data.AdministeredAt.IsZero() {
		return bus.Permanent(errors.New("sap: dose-administered without id, centre, product, batch or time"))
	}
	// The event is a claim; the core is the record. Nothing goes to SAP for
	// a dose the core does not hold as given (a forged or altered event).
	if err := c.checkDoseInCore(ctx, ev); err != nil {
		return err
	}
	text := HeaderText(ev.ID)
	day := c.app.DayOf(ev.Data.AdministeredAt)
	log := c.log.With("event_id", ev.ID, "reference", ev.Data.Reference, "header_text", text)

	var state string
	var lastPost *time.Time
	err := c.pool.QueryRow(ctx, `SELECT state, last_post_at FROM sap_goods_issues WHERE event_id = $1`, ev.ID).Scan(&state, &lastPost)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := c.pool.Exec(ctx, `INSERT INTO sap_goods_issues (event_id, header_text, reference, centre_id, product, batch, day, state)
			VALUES ($1,$2,$3,$4,$5,$6,$7,'posting') ON CONFLICT (event_id) DO NOTHING`,
			ev.ID, text, ev.Data.Reference, ev.Data.CentreID, string(ev.Data.Product), ev.Data.Batch, day.In(time.UTC)); err != nil {
			return fmt.Errorf("sap: record goods issue: %w", err)
		}
	case err != nil:
		return fmt.Errorf("sap: read goods issue: %w", err)
	case state == "posted":
		return nil
	default:
		// An earlier attempt may have reached SAP. Give a POST that is still
		// in flight time to land, then look it up.
		if lastPost != nil {
			if wait := c.cfg.Timeout - time.Since(*lastPost); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		year, doc, found, err := c.findByHeaderText(ctx, text)
		if err != nil {
			return err
		}
		if found {
			log.Info("goods issue was already booked by an earlier attempt", "document", doc, "year", year)
			return c.markPosted(ctx, ev.ID, year, doc)
		}
	}

	sloc, err := c.goodsIssueLocation(ctx, ev.Data.Reference)
	if err != nil {
		return err
	}
	body, err := c.goodsIssue(ev, text, day, sloc)
	if err != nil {
		return bus.Permanent(err)
	}
	if _, err := c.pool.Exec(ctx, `UPDATE sap_goods_issues SET attempts = attempts + 1, last_post_at = now() WHERE event_id = $1`, ev.ID); err != nil {
		return fmt.Errorf("sap: record attempt: %w", err)
	}
	resp, err := c.odata.post(ctx, "/"+svcDocument+"/A_MaterialDocumentHeader", body)
	if err != nil {
		if errors.Is(err, httpclient.ErrPermanent) {
			if m := odataErrorMessage(err); m != "" {
				err = fmt.Errorf("sap: goods issue refused: %s: %w", m, err)
			}
			return bus.Permanent(err)
		}
		return fmt.Errorf("sap: post goods issue: %w", err)
	}
	var created struct {
		D struct {
			MaterialDocumentYear string
			MaterialDocument     string
		} `json:"d"`
	}
	if err := resp.DecodeJSON(&created); err != nil || created.D.MaterialDocument == "" {
		// Booked, but the answer is unreadable: the next attempt finds it.
		return fmt.Errorf("sap: goods issue answer without a document number: %v", err)
	}
	log.Debug("goods issue posted", "document", created.D.MaterialDocument)
	return c.markPosted(ctx, ev.ID, created.D.MaterialDocumentYear, created.D.MaterialDocument)
}

// markPosted records the document in the inbox's transaction: it commits
// with the record of the event when the handler returns.
func (c *Connector) markPosted(ctx context.Context, eventID, year, doc string) error {
	tx, err := bus.InboxTx(ctx)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE sap_goods_issues SET state = 'posted', document_year = $2, document = $3, posted_at = now()
		WHERE event_id = $1`, eventID, year, doc)
	return err
}

// findByHeaderText looks up a material document by its header text.
func (c *Connector) findByHeaderText(ctx context.Context, text string) (year, doc string, found bool, err error) {
	q := url.Values{}
	q.Set("$filter", fmt.Sprintf("MaterialDocumentHeaderText eq '%s'", strings.ReplaceAll(text, "'", "''")))
	q.Set("$select", "MaterialDocumentYear,MaterialDocument")
	p, err := c.odata.get(ctx, "/"+svcDocument+"/A_MaterialDocumentHeader", q)
	if err != nil {
		return "", "", false, fmt.Errorf("sap: look up goods issue %s: %w", text, err)
	}
	if len(p.Records) == 0 {
		return "", "", false, nil
	}
	var h struct{ MaterialDocumentYear, MaterialDocument string }
	if err := json.Unmarshal(p.Records[0], &h); err != nil {
		return "", "", false, fmt.Errorf("%w: look up goods issue: %v", ErrMalformed, err)
	}
	return h.MaterialDocumentYear, h.MaterialDocument, true, nil
}

// goodsIssue builds the deep insert of one 201 goods issue from storage
// location sloc, the item through the mapping's outbound direction.
func (c *Connector) goodsIssue(ev doseAdministered, text string, day domain.Date, sloc string) (map[string]any, error) {
	item, err := c.mapping.Outbound(map[string]any{
		"product": string(ev.Data.Product), "centre_id": ev.Data.CentreID, "storage_location": sloc,
		"movement_type": "201", "doses": int64(1), "batch": ev.Data.Batch,
	})
	if err != nil {
		return nil, fmt.Errorf("sap: goods issue for %s: %w", ev.ID, err)
	}
	plant, _ := item["Plant"].(string)
	item["CostCenter"] = c.cfg.CostCenter(plant)
	posting := fmt.Sprintf("/Date(%d)/", day.In(time.UTC).UnixMilli())
	return map[string]any{
		"PostingDate":                posting,
		"DocumentDate":               posting,
		"GoodsMovementCode":          "03",
		"MaterialDocumentHeaderText": text,
		"to_MaterialDocumentItem":    []any{item},
	}, nil
}
