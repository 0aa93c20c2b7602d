package servicenow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/httpclient"
	"github.com/vaxhub/vaxhub/core/domain"
)

// OrderKey is the hub key of a campaign's work order. It is written into the
// order's description, so that the order can be found again before a create
// is repeated.
func OrderKey(campaignID string) string { return "vaxhub-mc-" + campaignID }

// TaskKey is the hub key of a campaign's visit task (one team visit).
func TaskKey(campaignID string) string { return OrderKey(campaignID) + "-visit-1" }

// plannedEvent is the part of mobile.campaign-planned the writer needs.
type plannedEvent struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data struct {
		CampaignID string `json:"campaign_id"`
		Version    int    `json:"version"`
	} `json:"data"`
}

// HandleCampaignPlanned brings the planner up to date with the campaign of a
// mobile.campaign-planned event: a work order (wm_order) and a visit task
// (wm_task) with the campaign's current state, exactly once:
//
//   - the sys_ids are kept in servicenow_records by hub key; a record not
//     yet known there is first looked up in the planner by the key in its
//     description, and only created when it is not found; a duplicate that a
//     retried POST may still have left is deleted (the oldest stays);
//   - a later version is written with PATCH (planned fields only: state and
//     assignment belong to the planner);
//   - the event is recorded in the bus inbox once the planner is synced.
//
// The campaign is read from the core, so an older event that arrives late
// writes nothing older than what the core holds.
//
// It runs behind bus.ExactlyOnce (consumer Consumer): a handled event is
// skipped before anything else, and recorded once the planner is synced.
func (c *Connector) HandleCampaignPlanned(ctx context.Context, msg bus.Message) error {
	return bus.ExactlyOnce(c.inbox, Consumer)(c.handleCampaignPlanned)(ctx, msg)
}

func (c *Connector) handleCampaignPlanned(ctx context.Context, msg bus.Message) error {
	var ev plannedEvent
	if err := json.Unmarshal(msg.Value, &ev); err != nil {
		return bus.Permanent(fmt.Errorf("servicenow: not an event envelope: %w", err))
	}
	if ev.Type != "mobile.campaign-planned" {
		bus.Skip(ctx)
		return nil // mobile.transfer-requested shares the topic: for SAP
	}
	camp, err := c.mobile.MobileCampaign(ctx, ev.Data.CampaignID)
	if errors.Is(err, domain.ErrNotFound) {
		return bus.Permanent(fmt.Errorf("servicenow: campaign %s: %w", ev.Data.CampaignID, err))
	}
	if err != nil {
		return err
	}
	if err := c.SyncCampaign(ctx, camp); err != nil {
		if errors.Is(err, httpclient.ErrPermanent) || errors.Is(err, errRefused) {
			return bus.Permanent(err)
		}
		return err
	}
	return nil // bus.ExactlyOnce records the event
}

var errRefused = errors.New("servicenow: refused")

// SyncCampaign writes the campaign's work order and visit task.
func (c *Connector) SyncCampaign(ctx context.Context, camp *domain.MobileCampaign) error {
	teamID, ok, err := c.groupID(ctx, camp.Team)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: the planner has no team %q", errRefused, camp.Team)
	}
	staff := 0
	for _, r := range camp.Roster {
		if r.Staff {
			staff++
		}
	}
	orderBody, err := c.order.Outbound(map[string]any{"care_home": camp.CareHome, "day": camp.Day.String(), "team_id": teamID,
		"doses": int64(camp.DosesTotal()), "residents": int64(len(camp.Roster) - staff), "staff": int64(staff)})
	if err != nil {
		return fmt.Errorf("%w: work order of %s: %w", errRefused, camp.ID, err)
	}
	orderBody["description"] = describe(OrderKey(camp.ID), camp)
	orderID, err := c.upsert(ctx, "wm_order", OrderKey(camp.ID), camp, orderBody)
	if err != nil {
		return err
	}
	taskBody, err := c.visit.Outbound(map[string]any{"care_home": camp.CareHome, "planned_start": domain.Time(camp.PlannedStart),
		"doses": int64(camp.DosesTotal()), "team_id": teamID})
	if err != nil {
		return fmt.Errorf("%w: visit task of %s: %w", errRefused, camp.ID, err)
	}
	taskBody["description"] = describe(TaskKey(camp.ID), camp)
	taskBody["parent"] = orderID
	_, err = c.upsert(ctx, "wm_task", TaskKey(camp.ID), camp, taskBody)
	return err
}

func describe(key string, camp *domain.MobileCampaign) string {
	return fmt.Sprintf("%s\nMobile vaccination, planned by vaxhub (version %d). Do not change the first line.", key, camp.Version)
}

// upsert makes sure the record of key exists in table with body, at the
// campaign's version, and returns its sys_id.
func (c *Connector) upsert(ctx context.Context, table, key string, camp *domain.MobileCampaign, body map[string]any) (string, error) {
	var sysID string
	var synced int
	err := c.pool.QueryRow(ctx, `SELECT sys_id, synced_version FROM servicenow_records WHERE tbl = $1 AND hub_key = $2`, table, key).
		Scan(&sysID, &synced)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		sysID, err = c.findOrCreate(ctx, table, key, body)
		if err != nil {
			return "", err
		}
		if err := c.saveRecord(ctx, table, key, sysID, camp.ID, camp.Version); err != nil {
			return "", err
		}
		return sysID, nil
	case err != nil:
		return "", fmt.Errorf("servicenow: read record mapping: %w", err)
	case synced >= camp.Version:
		return sysID, nil
	}
	// A later version: the planned fields only. The team stays as the
	// planner's dispatcher may have set it.
	delete(body, "assignment_group")
	if _, err := c.api.patch(ctx, table, sysID, body); err != nil {
		var se *httpclient.StatusError
		if errors.As(err, &se) && se.Status == 404 {
			// Deleted in the planner: forget it and create it again next time.
			_, _ = c.pool.Exec(ctx, `DELETE FROM servicenow_records WHERE tbl = $1 AND hub_key = $2`, table, key)
			return "", fmt.Errorf("servicenow: %s %s was deleted in the planner; it is created again: %w", table, sysID, err)
		}
		return "", fmt.Errorf("servicenow: update %s %s: %w", table, sysID, err)
	}
	return sysID, c.saveRecord(ctx, table, key, sysID, camp.ID, camp.Version)
}

func (c *Connector) saveRecord(ctx context.Context, table, key, sysID, campaignID string, version int) error {
	_, err := c.pool.Exec(ctx, `INSERT INTO servicenow_records (tbl, hub_key, sys_id, campaign_id, synced_version, updated_at)
		VALUES ($1,$2,$3,$4,$5,now()) ON CONFLICT (tbl, hub_key) DO UPDATE SET sys_id = excluded.sys_id,
		synced_version = greatest(servicenow_records.synced_version, excluded.synced_version), updated_at = now()`,
		table, key, sysID, campaignID, version)
	if err != nil {
		return fmt.Errorf("servicenow: save record mapping: %w", err)
	}
	return nil
}

// findOrCreate looks the record of key up in the planner and creates it
// when it is not there. When a retried POST has left more than one, the
// oldest (lowest number) is kept and the others are deleted.
func (c *Connector) findOrCreate(ctx context.Context, table, key string, body map[string]any) (string, error) {
	found, err := c.findByKey(ctx, table, key)
	if err != nil {
		return "", err
	}
	if len(found) == 0 {
		rec, err := c.api.create(ctx, table, body)
		if err != nil {
			return "", fmt.Errorf("servicenow: create %s %s: %w", table, key, err)
		}
		if found, err = c.findByKey(ctx, table, key); err != nil {
			return "", err
		}
		if len(found) == 0 {
			return str(rec, "sys_id"), nil
		}
	}
	keep := found[0]
	for _, dup := range found[1:] {
		c.log.Warn("deleting a duplicate planner record left by a retried create", "table", table, "key", key, "sys_id", str(dup, "sys_id"))
		if err := c.api.remove(ctx, table, str(dup, "sys_id")); err != nil {
			return "", fmt.Errorf("servicenow: delete duplicate %s: %w", table, err)
		}
	}
	return str(keep, "sys_id"), nil
}

// findByKey returns the records whose description starts with key, oldest first.
func (c *Connector) findByKey(ctx context.Context, table, key string) ([]record, error) {
	recs, err := c.api.find(ctx, table, "descriptionSTARTSWITH"+key+"^ORDERBYnumber")
	if err != nil {
		return nil, fmt.Errorf("servicenow: look up %s %s: %w", table, key, err)
	}
	out := recs[:0]
	for _, r := range recs {
		// STARTSWITH ignores case and TaskKey extends OrderKey: compare the
		// first line exactly.
		first, _, _ := strings.Cut(str(r, "description"), "\n")
		if first == key {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return str(out[i], "number") < str(out[j], "number") })
	return out, nil
}
