package servicenow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/mappings"
)

// PollStats counts what one round did.
type PollStats struct {
	Read, Applied, Skipped, Held, DeadLettered int
}

// visit is a wm_task as the core sees it (mapping servicenow/mobile-visit).
type visit struct {
	VisitID string `json:"visit_id"`
	Status  string `json:"status"`
	TeamID  string `json:"team_id"`
}

// vaccination is a u_vaccination as the core sees it (mapping
// servicenow/field-vaccination).
type vaccination struct {
	RecordID       string    `json:"record_id"`
	ResidentID     string    `json:"resident_id"`
	Product        string    `json:"product"`
	Batch          string    `json:"batch"`
	DoseNumber     int       `json:"dose_number"`
	AdministeredAt time.Time `json:"administered_at"`
	Vaccinator     string    `json:"vaccinator"`
	TaskID         string    `json:"task_id"`
	TeamID         string    `json:"team_id"`
	LocalID        string    `json:"local_id"`
	Revision       int       `json:"revision"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// RunPoller polls the planner every PollInterval until ctx ends. A failed
// round is logged; the next one starts again from the cursor.
func (c *Connector) RunPoller(ctx context.Context) {
	if err := c.CheckStates(ctx); err != nil && ctx.Err() == nil {
		c.log.Warn("the planner's task states do not match the mapping; such tasks are dead-lettered", "err", err)
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := c.PollOnce(ctx)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("polling the planner failed; the next round resumes from the cursor", "err", err, "applied", st.Applied)
		}
		t.Reset(c.cfg.PollInterval)
	}
}

// PollOnce reads the visit tasks and field vaccinations changed since the
// cursors and applies them: tasks first (a visit cancelled centrally is
// known before its doses), then vaccinations in the order they were given
// (u_administered_at), not the order they arrived.
func (c *Connector) PollOnce(ctx context.Context) (PollStats, error) {
	var st PollStats
	if err := c.pollTable(ctx, "wm_task", &st, c.applyTasks); err != nil {
		return st, err
	}
	err := c.pollTable(ctx, "u_vaccination", &st, c.applyVaccinations)
	return st, err
}

// pollTable reads every record of table changed since its cursor (less the
// overlap), skips versions already applied, hands the rest to apply and
// moves the cursor only when all were applied.
func (c *Connector) pollTable(ctx context.Context, table string, st *PollStats, apply func(context.Context, []record, *PollStats) error) error {
	name := c.cfg.CursorName + "/" + table
	var cursor time.Time
	err := c.pool.QueryRow(ctx, `SELECT updated_on FROM servicenow_cursor WHERE name = $1`, name).Scan(&cursor)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("servicenow: load cursor: %w", err)
	}
	from := cursor.Add(-c.cfg.Overlap)
	if cursor.IsZero() {
		from = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	query := "sys_updated_on>=" + from.UTC().Format(snTime) + "^ORDERBYsys_updated_on^ORDERBYsys_id"
	var fresh []record
	newest := cursor
	err = c.api.list(ctx, table, query, c.cfg.PageSize, "", func(rs []record) error {
		for _, r := range rs {
			st.Read++
			if t, err := parseSNTime(str(r, "sys_updated_on")); err == nil && t.After(newest) {
				newest = t
			}
			seen, err := c.seen(ctx, table, r)
			if err != nil {
				return err
			}
			if seen {
				st.Skipped++
				continue
			}
			fresh = append(fresh, r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := apply(ctx, fresh, st); err != nil {
		return err
	}
	if newest.After(cursor) {
		if _, err := c.pool.Exec(ctx, `INSERT INTO servicenow_cursor (name, updated_on, updated_at) VALUES ($1,$2,now())
			ON CONFLICT (name) DO UPDATE SET updated_on = greatest(servicenow_cursor.updated_on, excluded.updated_on), updated_at = now()`,
			name, newest); err != nil {
			return fmt.Errorf("servicenow: save cursor: %w", err)
		}
	}
	return nil
}

func modCount(r record) int {
	n, _ := strconv.Atoi(str(r, "sys_mod_count"))
	return n
}

func (c *Connector) seen(ctx context.Context, table string, r record) (bool, error) {
	var ok bool
	err := c.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM servicenow_seen WHERE tbl = $1 AND sys_id = $2 AND mod_count = $3)`,
		table, str(r, "sys_id"), modCount(r)).Scan(&ok)
	return ok, err
}

func (c *Connector) markSeen(ctx context.Context, table string, r record) error {
	_, err := c.pool.Exec(ctx, `INSERT INTO servicenow_seen (tbl, sys_id, mod_count) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING`,
		table, str(r, "sys_id"), modCount(r))
	return err
}

// campaignOfTask returns the hub campaign a visit task belongs to, "" when
// the task was not planned by the hub.
func (c *Connector) campaignOfTask(ctx context.Context, taskID string) (string, error) {
	if taskID == "" {
		return "", nil
	}
	var id string
	err := c.pool.QueryRow(ctx, `SELECT coalesce(campaign_id::text, '') FROM servicenow_records WHERE tbl = 'wm_task' AND sys_id = $1`, taskID).Scan(&id)
	if !errors.Is(err, pgx.ErrNoRows) {
		return id, err
	}
	// Not mapped (yet): the writer may have created the task and not saved
	// its sys_id when the first dose comes in. The hub key in the task's
	// description says whose it is.
	recs, err := c.api.find(ctx, "wm_task", "sys_id="+taskID)
	if err != nil {
		return "", err
	}
	for _, r := range recs {
		first, _, _ := strings.Cut(str(r, "description"), "\n")
		if rest, ok := strings.CutPrefix(first, OrderKey("")); ok && strings.HasSuffix(rest, "-visit-1") {
			return strings.TrimSuffix(rest, "-visit-1"), nil
		}
	}
	return "", nil
}

func (c *Connector) applyTasks(ctx context.Context, recs []record, st *PollStats) error {
	for _, r := range recs {
		out, err := c.visit.Inbound(r)
		if err != nil {
			if err := c.deadLetter(ctx, "wm_task", r, err, st); err != nil {
				return err
			}
			continue
		}
		var v visit
		if err := remarshal(out, &v); err != nil {
			return err
		}
		campaignID, err := c.campaignOfTask(ctx, v.VisitID)
		if err != nil {
			return err
		}
		if campaignID != "" {
			team, _, err := c.groupCode(ctx, v.TeamID)
			if err != nil {
				return err
			}
			if err := c.mobile.RecordVisitProgress(ctx, campaignID, v.Status, team); err != nil && !errors.Is(err, domain.ErrNotFound) {
				return err
			}
			st.Applied++
		} else {
			st.Skipped++
		}
		if err := c.markSeen(ctx, "wm_task", r); err != nil {
			return err
		}
	}
	return nil
}

type mappedVaccination struct {
	raw record
	v   vaccination
}

func (c *Connector) applyVaccinations(ctx context.Context, recs []record, st *PollStats) error {
	var ok []mappedVaccination
	for _, r := range recs {
		out, err := c.vaccine.Inbound(r)
		if err == nil {
			var v vaccination
			if err = remarshal(out, &v); err == nil {
				ok = append(ok, mappedVaccination{raw: r, v: v})
				continue
			}
		}
		if err := c.deadLetter(ctx, "u_vaccination", r, err, st); err != nil {
			return err
		}
	}
	// An offline burst arrives stamped with the sync time; the doses count
	// in the order they were given.
	sort.SliceStable(ok, func(i, j int) bool {
		if !ok[i].v.AdministeredAt.Equal(ok[j].v.AdministeredAt) {
			return ok[i].v.AdministeredAt.Before(ok[j].v.AdministeredAt)
		}
		return ok[i].v.RecordID < ok[j].v.RecordID
	})
	for _, m := range ok {
		if err := c.applyVaccination(ctx, m.v, st); err != nil {
			return err
		}
		if err := c.markSeen(ctx, "u_vaccination", m.raw); err != nil {
			return err
		}
	}
	return nil
}

func (c *Connector) applyVaccination(ctx context.Context, v vaccination, st *PollStats) error {
	campaignID, err := c.campaignOfTask(ctx, v.TaskID)
	if err != nil {
		return err
	}
	team, _, err := c.groupCode(ctx, v.TeamID)
	if err != nil {
		return err
	}
	if team == "" && campaignID != "" {
		if camp, err := c.mobile.MobileCampaign(ctx, campaignID); err == nil {
			team = camp.Team
		}
	}
	d := domain.FieldDose{RecordID: v.RecordID, CampaignID: campaignID, Team: team, ResidentID: v.ResidentID,
		Product: domain.ProductID(v.Product), Batch: v.Batch, DoseNumber: v.DoseNumber,
		VaccinatorID: VaccinatorID(team, v.Vaccinator), AdministeredAt: v.AdministeredAt}
	res, err := c.mobile.RecordFieldDose(ctx, d)
	if err != nil {
		if errors.Is(err, domain.ErrInvalid) {
			return c.deadLetter(ctx, "u_vaccination", map[string]any{"sys_id": v.RecordID}, err, st)
		}
		return err
	}
	switch {
	case !res.Fresh && v.Revision > 0:
		// Changed after the hub recorded it (an offline edit that crossed
		// the sync, a correction): held for staff, never applied by itself.
		fresh, err := c.mobile.RecordFieldDoseEdit(ctx, v.Revision, d)
		if err != nil {
			return err
		}
		if fresh {
			st.Held++
			c.log.Info("field record changed after it was recorded: held for review", "record_id", v.RecordID, "revision", v.Revision)
		}
	case !res.Fresh:
		st.Skipped++
	case res.Status == "held":
		st.Held++
		c.log.Info("field dose held for review", "record_id", v.RecordID, "reason", res.Reason)
	default:
		st.Applied++
	}
	return nil
}

// VaccinatorID is the opaque staff ID of a vaccinator recorded by name on a
// team's device: the name never leaves the connector.
func VaccinatorID(team, name string) string {
	name = strings.ToLower(strings.Join(strings.Fields(name), " "))
	if name == "" {
		name = "unknown"
	}
	h := sha256.Sum256([]byte(team + "|" + name))
	if team == "" {
		team = "mobile"
	}
	return strings.ToLower(team) + "-" + hex.EncodeToString(h[:8])
}

func remarshal(in map[string]any, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// deadLetter sends a record that cannot be mapped to vaxhub.dlq with the
// reason and marks it seen: it does not stall the poller.
func (c *Connector) deadLetter(ctx context.Context, table string, r record, reason error, st *PollStats) error {
	if !errors.Is(reason, mappings.ErrMapping) && !errors.Is(reason, domain.ErrInvalid) {
		c.log.Warn("dead-lettering a planner record", "table", table, "err", reason)
	}
	if c.pub != nil {
		b, _ := json.Marshal(r)
		if err := c.pub.Publish(ctx, bus.Message{Topic: bus.DLQTopic, Key: str(r, "sys_id"), Value: b, Headers: map[string]string{
			"dlq-reason": reason.Error(), "dlq-handler": InboundHandler, HeaderDLQSource: table + "/" + str(r, "sys_id")}}); err != nil {
			return fmt.Errorf("servicenow: dead-letter: %w", err)
		}
	}
	st.DeadLettered++
	if _, ok := r["sys_mod_count"]; ok {
		return c.markSeen(ctx, table, r)
	}
	return nil
}

// CheckStates reads the planner's choice list of task states (sys_choice
// name=wm_task^element=state) and reports every value that the mapping
// servicenow/mobile-visit cannot translate: the numbers are the instance's
// own (external-apis.md 2.2), so they are read, not assumed.
func (c *Connector) CheckStates(ctx context.Context) error {
	var missing []string
	err := c.api.list(ctx, "sys_choice", "name=wm_task^element=state^ORDERBYsequence", 100, "value,label", func(rs []record) error {
		for _, r := range rs {
			probe := record{"sys_id": "0", "number": "0", "state": str(r, "value"), "u_care_home": "x",
				"u_planned_start": "2021-01-01 00:00:00", "u_doses": "0", "active": "true"}
			if _, err := c.visit.Inbound(probe); err != nil {
				missing = append(missing, fmt.Sprintf("%s (%s)", str(r, "value"), str(r, "label")))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("servicenow: task states without a core status in %s: %s", visitMapping, strings.Join(missing, ", "))
	}
	return nil
}
