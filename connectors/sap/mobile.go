package sap

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/httpclient"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

// Mobile teams (issue 7): the doses a campaign needs move by 311 from the
// cold store (KL01) of the campaign centre's plant to the team's storage
// location (MOB1/MOB2) in the same plant; the batches moved are recorded in
// the hub as issued to the team; a dose the team gives is issued (201) from
// the team's storage location.

const (
	// TransferGroup is the Kafka consumer group of the transfer poster.
	TransferGroup = "vaxhub-sap-mobile"
	// TransferConsumer names the transfer handler in the bus inbox, dead
	// letters and metrics.
	TransferConsumer = "sap-mobile-transfer"

	svcBatch = "API_BATCH_SRV"
)

// TransferHeaderText is the MaterialDocumentHeaderText of the 311 the hub
// posts for one version of a mobile campaign's transfer request: "VXH" and
// 22 characters of a SHA-256 of campaign and version (25 characters, like
// HeaderText). Every version has its own; the hub looks them up before it
// posts, so one version never gives two documents.
func TransferHeaderText(campaignID string, version int) string {
	h := sha256.Sum256([]byte("mobile-transfer/" + campaignID + "/" + strconv.Itoa(version)))
	return hubTextPrefix + base64.RawURLEncoding.EncodeToString(h[:16])
}

// teamLocation is the SAP storage location of a team's stock in the plant
// of its campaign's centre: Config.TeamLocations, else MOB1 for an odd team
// number (MT01, MT03, ...) and MOB2 for an even one.
func (c *Connector) teamLocation(team string) string {
	if l := c.cfg.TeamLocations[team]; l != "" {
		return l
	}
	n, err := strconv.Atoi(strings.TrimLeft(team, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
	if err == nil && n%2 == 0 {
		return "MOB2"
	}
	return "MOB1"
}

// isMobileLocation reports whether a storage location holds a team's stock.
func (c *Connector) isMobileLocation(sloc string) bool {
	if sloc == "" || sloc == c.cfg.StorageLocation {
		return false
	}
	if sloc == "MOB1" || sloc == "MOB2" {
		return true
	}
	for _, l := range c.cfg.TeamLocations {
		if l == sloc {
			return true
		}
	}
	return false
}

// transferRequested is mobile.transfer-requested.
type transferRequested struct {
	ID   string                         `json:"id"`
	Type string                         `json:"type"`
	Data domain.MobileTransferRequested `json:"data"`
}

// transferMismatch returns why camp, the campaign as the core holds it,
// does not back the transfer request d ("" when it does).
func transferMismatch(camp *domain.MobileCampaign, d domain.MobileTransferRequested, day domain.Date) string {
	if camp.Version < d.Version {
		return "unknown-version"
	}
	if camp.Team != d.Team || camp.CentreID != d.CentreID || camp.Day != day || len(d.Doses) != len(camp.Doses) {
		return refusedDiffers
	}
	for _, pd := range d.Doses {
		if n, ok := camp.Doses[pd.Product]; !ok || n != pd.Doses {
			return refusedDiffers
		}
	}
	return ""
}

// HandleTransferRequested makes SAP's stock at the team's storage location
// match the totals of one version of a campaign's transfer request, exactly
// once per (campaign, version):
//
//   - a request older than the campaign's current version is skipped (the
//     newer one carries the totals);
//   - the hub's documents of versions 1..v are looked up by their header
//     texts (TransferHeaderText); if version v's is there, it was posted by
//     an earlier attempt and only its effects in the hub are (re)applied;
//   - else what the earlier versions moved to the team is subtracted from
//     the totals, and one 311 posts the difference: more doses from KL01 to
//     the team's location in the FEFO order of SAP's batches (none that
//     expires before the visit), fewer back from the team to KL01 (the
//     batch that expires last first);
//   - the 311's lines are then applied in the hub: the cold store's stock
//     is lowered (or raised) and the batches are recorded as issued to the
//     team (or returned), so that field doses with them are accepted.
//
// It runs behind bus.ExactlyOnce (consumer TransferConsumer): a handled
// event is skipped before anything else, and recorded once handled.
func (c *Connector) HandleTransferRequested(ctx context.Context, msg bus.Message) error {
	return bus.ExactlyOnce(c.inbox, TransferConsumer)(c.handleTransferRequested)(ctx, msg)
}

func (c *Connector) handleTransferRequested(ctx context.Context, msg bus.Message) error {
	var ev transferRequested
	if err := json.Unmarshal(msg.Value, &ev); err != nil {
		return bus.Permanent(fmt.Errorf("sap: not an event envelope: %w", err))
	}
	if ev.Type != "mobile.transfer-requested" {
		bus.Skip(ctx)
		return nil // other mobile events share the topic
	}
	d := ev.Data
	if ev.ID == "" || d.CampaignID == "" || d.Version < 1 || d.Team == "" || d.CentreID == "" || d.Day == "" {
		return bus.Permanent(errors.New("sap: transfer-requested without id, campaign, version, team, centre or day"))
	}
	day, err := domain.ParseDate(d.Day)
	if err != nil {
		return bus.Permanent(fmt.Errorf("sap: transfer-requested day: %w", err))
	}
	log := c.log.With("event_id", ev.ID, "campaign_id", d.CampaignID, "version", d.Version, "team", d.Team)
	camp, err := c.mobile.MobileCampaign(ctx, d.CampaignID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return bus.Permanent(fmt.Errorf("sap: transfer for unknown campaign %s", d.CampaignID))
	case err != nil:
		return fmt.Errorf("sap: read campaign: %w", err)
	case camp.Version > d.Version:
		log.Info("transfer request superseded by a newer version; skipped", "current_version", camp.Version)
		return nil // bus.ExactlyOnce records the event
	}
	// The event is a claim; the core is the record: a version the core does
	// not have, or totals, team, centre or day other than the core's for
	// this version, move nothing.
	if reason := transferMismatch(camp, d, day); reason != "" {
		c.refused.WithLabelValues(reason).Inc()
		log.Warn("transfer refused: the core does not hold this request", "reason", reason)
		return bus.Permanent(fmt.Errorf("sap: no transfer: %w: %s", ErrNotInCore, reason))
	}
	plant, err := c.plantOf(d.CentreID)
	if err != nil {
		return bus.Permanent(err)
	}
	teamLoc := c.teamLocation(d.Team)
	text := TransferHeaderText(d.CampaignID, d.Version)
	key := d.CampaignID + "/" + strconv.Itoa(d.Version)
	who := &teamDay{team: d.Team, day: day}

	// A POST of an earlier attempt may still be in flight: give it time to
	// land before looking it up.
	if last, ok := c.lastTransferPost(key); ok {
		if wait := c.cfg.Timeout - time.Since(last); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	earlier, err := c.transferItems(ctx, d.CampaignID, d.Version)
	if err != nil {
		return err
	}
	if mine := earlier[text]; len(mine) > 0 {
		log.Info("transfer was already posted by an earlier attempt", "document", mine[0].Document)
		if err := c.applyTransferLines(ctx, mine, who); err != nil {
			return err
		}
		return nil // bus.ExactlyOnce records the event
	}

	// What the earlier versions moved to the team, per product and batch.
	moved := map[domain.ProductID]map[string]int{}
	for _, items := range earlier {
		for _, m := range items {
			if !c.isMobileLocation(m.StorageLocation) {
				continue
			}
			if moved[m.Product] == nil {
				moved[m.Product] = map[string]int{}
			}
			if m.DebitCredit == "S" {
				moved[m.Product][m.Batch] += m.Doses
			} else {
				moved[m.Product][m.Batch] -= m.Doses
			}
		}
	}
	want := map[domain.ProductID]int{}
	for _, pd := range d.Doses {
		want[pd.Product] += pd.Doses
	}
	products := map[domain.ProductID]bool{}
	for p := range want {
		products[p] = true
	}
	for p := range moved {
		products[p] = true
	}
	var items []any
	for _, p := range slices.Sorted(func(yield func(domain.ProductID) bool) {
		for p := range products {
			if !yield(p) {
				return
			}
		}
	}) {
		have := 0
		for _, n := range moved[p] {
			have += n
		}
		diff := want[p] - have
		switch {
		case diff > 0:
			lines, err := c.fefoLines(ctx, plant, d.CentreID, p, diff, day, c.cfg.StorageLocation, teamLoc)
			if err != nil {
				return err
			}
			items = append(items, lines...)
		case diff < 0:
			lines, err := c.returnLines(ctx, plant, d.CentreID, p, -diff, moved[p], teamLoc)
			if err != nil {
				return err
			}
			items = append(items, lines...)
		}
	}
	if len(items) == 0 {
		log.Debug("transfer request changes nothing in SAP")
		return nil // bus.ExactlyOnce records the event
	}
	posting := fmt.Sprintf("/Date(%d)/", c.app.DayOf(c.app.Now()).In(time.UTC).UnixMilli())
	body := map[string]any{
		"PostingDate":                posting,
		"DocumentDate":               posting,
		"GoodsMovementCode":          "04",
		"MaterialDocumentHeaderText": text,
		"to_MaterialDocumentItem":    items,
	}
	c.noteTransferPost(key)
	resp, err := c.odata.post(ctx, "/"+svcDocument+"/A_MaterialDocumentHeader", body)
	if err != nil {
		if errors.Is(err, httpclient.ErrPermanent) {
			if m := odataErrorMessage(err); m != "" {
				err = fmt.Errorf("sap: transfer refused: %s: %w", m, err)
			}
			return bus.Permanent(err)
		}
		return fmt.Errorf("sap: post transfer: %w", err)
	}
	var created struct {
		D struct{ MaterialDocumentYear, MaterialDocument string } `json:"d"`
	}
	if err := resp.DecodeJSON(&created); err != nil || created.D.MaterialDocument == "" {
		return fmt.Errorf("sap: transfer answer without a document number: %v", err)
	}
	log.Info("transfer to mobile team posted", "document", created.D.MaterialDocument, "plant", plant, "storage_location", teamLoc)
	lines, err := c.documentItems(ctx, created.D.MaterialDocumentYear, created.D.MaterialDocument)
	if err != nil {
		return err // the retry finds the document by its header text
	}
	if err := c.applyTransferLines(ctx, lines, who); err != nil {
		return err
	}
	c.forgetTransferPost(key)
	return nil // bus.ExactlyOnce records the event
}

func (c *Connector) lastTransferPost(key string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.transferPosts[key]
	return t, ok
}

func (c *Connector) noteTransferPost(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.transferPosts == nil {
		c.transferPosts = map[string]time.Time{}
	}
	c.transferPosts[key] = time.Now()
}

func (c *Connector) forgetTransferPost(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.transferPosts, key)
}

// plantOf returns the SAP plant of a centre (the mapping's plant_centre).
func (c *Connector) plantOf(centreID string) (string, error) {
	item, err := c.mapping.Outbound(map[string]any{"product": string(domain.Comirnaty), "centre_id": centreID,
		"movement_type": "311", "doses": int64(1)})
	if err != nil {
		return "", fmt.Errorf("sap: plant of centre %s: %w", centreID, err)
	}
	plant, _ := item["Plant"].(string)
	if plant == "" {
		return "", fmt.Errorf("sap: centre %s has no plant", centreID)
	}
	return plant, nil
}

func (c *Connector) material(p domain.ProductID) (string, error) {
	item, err := c.mapping.Outbound(map[string]any{"product": string(p), "centre_id": "dresden", "movement_type": "311", "doses": int64(1)})
	if err != nil {
		return "", fmt.Errorf("sap: material of %s: %w", p, err)
	}
	m, _ := item["Material"].(string)
	return m, nil
}

// transferItems reads the items of the hub's transfer documents for
// versions 1..version of a campaign, by header text.
func (c *Connector) transferItems(ctx context.Context, campaignID string, version int) (map[string][]Movement, error) {
	out := map[string][]Movement{}
	for from := 1; from <= version; from += 20 {
		var or []string
		for v := from; v <= version && v < from+20; v++ {
			or = append(or, fmt.Sprintf("to_MaterialDocumentHeader/MaterialDocumentHeaderText eq '%s'", TransferHeaderText(campaignID, v)))
		}
		q := url.Values{}
		q.Set("$filter", strings.Join(or, " or "))
		q.Set("$expand", "to_MaterialDocumentHeader")
		if err := c.readItems(ctx, q, func(m Movement) { out[m.HeaderText] = append(out[m.HeaderText], m) }); err != nil {
			return nil, fmt.Errorf("sap: look up transfers of campaign %s: %w", campaignID, err)
		}
	}
	return out, nil
}

// documentItems reads the items of one material document.
func (c *Connector) documentItems(ctx context.Context, year, doc string) ([]Movement, error) {
	q := url.Values{}
	q.Set("$filter", fmt.Sprintf("MaterialDocumentYear eq '%s' and MaterialDocument eq '%s'", year, doc))
	q.Set("$expand", "to_MaterialDocumentHeader")
	var out []Movement
	if err := c.readItems(ctx, q, func(m Movement) { out = append(out, m) }); err != nil {
		return nil, fmt.Errorf("sap: read document %s/%s: %w", year, doc, err)
	}
	return out, nil
}

func (c *Connector) readItems(ctx context.Context, q url.Values, fn func(Movement)) error {
	return c.odata.getAll(ctx, "/"+svcDocument+"/A_MaterialDocumentItem", q, func(p *page) error {
		for _, raw := range p.Records {
			_, m, err := c.decode(raw)
			if err != nil {
				return err
			}
			fn(m)
		}
		return nil
	})
}

// sapBatch is one batch's unrestricted stock at a storage location.
type sapBatch struct {
	Batch   string
	Doses   int
	Expires time.Time
}

// sapBatches returns the batches of a product with stock at plant/sloc,
// with their expiry from the batch master.
func (c *Connector) sapBatches(ctx context.Context, plant, sloc string, p domain.ProductID) ([]sapBatch, error) {
	mat, err := c.material(p)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("$filter", fmt.Sprintf("Material eq '%s' and Plant eq '%s' and StorageLocation eq '%s'", mat, plant, sloc))
	var out []sapBatch
	err = c.odata.getAll(ctx, "/"+svcStock+"/A_MatlStkInAcctMod", q, func(pg *page) error {
		for _, raw := range pg.Records {
			var r struct {
				Batch string
				Qty   json.Number `json:"MatlWrhsStkQtyInMatlBaseUnit"`
			}
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("%w: stock row: %v", ErrMalformed, err)
			}
			f, err := strconv.ParseFloat(r.Qty.String(), 64)
			if err != nil {
				return fmt.Errorf("%w: stock quantity %q", ErrMalformed, r.Qty)
			}
			if n := int(f); n > 0 && r.Batch != "" {
				out = append(out, sapBatch{Batch: r.Batch, Doses: n})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sap: stock of %s at %s %s: %w", mat, plant, sloc, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	q = url.Values{}
	q.Set("$filter", fmt.Sprintf("Material eq '%s'", mat))
	q.Set("$select", "Batch,ShelfLifeExpirationDate")
	expires := map[string]time.Time{}
	err = c.odata.getAll(ctx, "/"+svcBatch+"/Batch", q, func(pg *page) error {
		for _, raw := range pg.Records {
			var b struct{ Batch, ShelfLifeExpirationDate string }
			if err := json.Unmarshal(raw, &b); err != nil {
				return fmt.Errorf("%w: batch: %v", ErrMalformed, err)
			}
			if t, ok := parseODataDate(b.ShelfLifeExpirationDate); ok {
				expires[b.Batch] = t
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sap: batches of %s: %w", mat, err)
	}
	for i := range out {
		out[i].Expires = expires[out[i].Batch]
	}
	return out, nil
}

// parseODataDate reads "/Date(ms)/".
func parseODataDate(s string) (time.Time, bool) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "/Date("), ")/")
	if i := strings.IndexAny(s, "+-"); i > 0 {
		s = s[:i]
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

// transferLine is one item of a 311.
func (c *Connector) transferLine(centreID string, p domain.ProductID, batch string, doses int, from, to string) (map[string]any, error) {
	item, err := c.mapping.Outbound(map[string]any{"product": string(p), "centre_id": centreID, "storage_location": from,
		"movement_type": "311", "doses": int64(doses), "batch": batch})
	if err != nil {
		return nil, fmt.Errorf("sap: transfer line: %w", err)
	}
	item["IssuingOrReceivingStorageLoc"] = to
	return item, nil
}

// fefoLines moves n doses of p from the cold store to the team, the batch
// that expires first first, skipping batches that expire before the visit.
func (c *Connector) fefoLines(ctx context.Context, plant, centreID string, p domain.ProductID, n int, day domain.Date, from, to string) ([]any, error) {
	batches, err := c.sapBatches(ctx, plant, from, p)
	if err != nil {
		return nil, err
	}
	visit := day.In(time.UTC)
	batches = slices.DeleteFunc(batches, func(b sapBatch) bool { return !b.Expires.IsZero() && b.Expires.Before(visit) })
	sort.SliceStable(batches, func(i, j int) bool {
		a, b := batches[i], batches[j]
		switch {
		case a.Expires.IsZero() != b.Expires.IsZero():
			return !a.Expires.IsZero()
		case !a.Expires.Equal(b.Expires):
			return a.Expires.Before(b.Expires)
		}
		return a.Batch < b.Batch
	})
	var lines []any
	left := n
	for _, b := range batches {
		if left == 0 {
			break
		}
		take := min(left, b.Doses)
		l, err := c.transferLine(centreID, p, b.Batch, take, from, to)
		if err != nil {
			return nil, bus.Permanent(err)
		}
		lines = append(lines, l)
		left -= take
	}
	if left > 0 {
		return nil, bus.Permanent(fmt.Errorf("sap: %d doses of %s needed for the team, only %d usable on %s at %s %s", n, p, n-left, day, plant, from))
	}
	return lines, nil
}

// returnLines moves n doses of p back from the team to the cold store, from
// the batches this campaign moved to the team, the one that expires last
// first, within SAP's stock at the team's location.
func (c *Connector) returnLines(ctx context.Context, plant, centreID string, p domain.ProductID, n int, moved map[string]int, teamLoc string) ([]any, error) {
	batches, err := c.sapBatches(ctx, plant, teamLoc, p)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(batches, func(i, j int) bool {
		a, b := batches[i], batches[j]
		if !a.Expires.Equal(b.Expires) {
			return a.Expires.After(b.Expires)
		}
		return a.Batch > b.Batch
	})
	var lines []any
	left := n
	for _, b := range batches {
		if left == 0 {
			break
		}
		take := min(left, b.Doses, moved[b.Batch])
		if take <= 0 {
			continue
		}
		l, err := c.transferLine(centreID, p, b.Batch, take, teamLoc, c.cfg.StorageLocation)
		if err != nil {
			return nil, bus.Permanent(err)
		}
		lines = append(lines, l)
		left -= take
	}
	if left > 0 {
		return nil, bus.Permanent(fmt.Errorf("sap: %d doses of %s to return from %s %s, only %d there from this campaign", n, p, plant, teamLoc, n-left))
	}
	return lines, nil
}

// teamDay says which team a hub transfer was for and the visit's day.
type teamDay struct {
	team string
	day  domain.Date
}

// applyTransferLines applies the lines of one hub transfer document.
func (c *Connector) applyTransferLines(ctx context.Context, lines []Movement, who *teamDay) error {
	for _, m := range lines {
		if _, err := c.applyTransfer(ctx, m, who); err != nil {
			return fmt.Errorf("sap: apply transfer line %s: %w", m.ID(), err)
		}
	}
	return nil
}

// headerTeam finds a team code (MT01..) in a document's header text: an
// operator who moves doses to a team in SAP by hand names the team there.
var headerTeam = regexp.MustCompile(`\bMT\d{2}\b`)

// applyTransfer applies one line of a 311 at a centre's plant. The cold
// store's line changes the hub's stock (issued: withdrawn as "transfer";
// received back: a delivery). A line at a team's location records the batch
// as issued to (S) or returned by (H) the team, with the movement's ID, so
// recording it twice changes nothing. The team is who (a hub transfer, from
// its request) or, for a transfer posted in SAP by hand, the team named in
// the header text whose storage location it is; a hub transfer read by the
// poller is left to the transfer handler, which knows the campaign.
func (c *Connector) applyTransfer(ctx context.Context, m Movement, who *teamDay) (bool, error) {
	if m.StorageLocation == "" || m.StorageLocation == c.cfg.StorageLocation {
		return c.applyStock(ctx, m)
	}
	if !c.isMobileLocation(m.StorageLocation) || c.mobile == nil || m.Batch == "" {
		return false, nil
	}
	if who == nil {
		if isHubHeaderText(m.HeaderText) {
			return false, nil
		}
		team := headerTeam.FindString(m.HeaderText)
		if team == "" || c.teamLocation(team) != m.StorageLocation {
			c.log.Warn("transfer to a mobile storage location names no team of it in the header text; not recorded as issued to a team",
				"movement", m.ID(), "storage_location", m.StorageLocation, "header_text", m.HeaderText)
			return false, nil
		}
		day, err := domain.ParseDate(m.Day)
		if err != nil {
			return false, err
		}
		who = &teamDay{team: team, day: day}
	}
	if m.DebitCredit == "H" {
		return c.mobile.RecordTeamReturn(ctx, app.TeamReturn{ID: m.ID(), Team: who.team, Day: who.day, Product: m.Product,
			Batch: m.Batch, Returned: m.Doses})
	}
	return c.mobile.RecordTeamIssue(ctx, app.TeamIssue{ID: m.ID(), Team: who.team, Day: who.day, Product: m.Product,
		Batch: m.Batch, Doses: m.Doses})
}

// goodsIssueLocation is the storage location a dose is issued from: the
// team's for a dose given in the field, else the centre's cold store.
func (c *Connector) goodsIssueLocation(ctx context.Context, reference string) (string, error) {
	if c.mobile == nil || reference == "" {
		return c.cfg.StorageLocation, nil
	}
	fd, err := c.mobile.FieldDoseByReference(ctx, reference)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return c.cfg.StorageLocation, nil
	case err != nil:
		return "", fmt.Errorf("sap: is %s a field dose: %w", reference, err)
	}
	return c.teamLocation(fd.Team), nil
}
