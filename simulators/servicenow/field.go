package servicenow

import (
	"container/heap"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// dispatcherUser is sys_updated_by of the dispatcher's central writes.
const dispatcherUser = "fsm.dispatcher"

// TransitionView is one task transition the dispatcher made.
type TransitionView struct {
	Task   string    `json:"task"`
	Number string    `json:"number"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Queued bool      `json:"queued_on_device,omitempty"` // made on an offline device, visible after sync
}

type transition struct {
	task      *record
	from, to  string
	due       time.Time
	fieldSide bool // made on the team's device
}

func parseStored(v string) (time.Time, bool) {
	t, err := time.Parse(timeLayout, v)
	return t, err == nil
}

// deviceOf is the device of a task's team, nil if it has none yet.
func (s *Simulator) deviceOf(task *record) *device {
	return s.devices[task.v["assignment_group"]]
}

// next is the transition that the dispatcher or the team's device makes
// next on a task, if any. Central steps read the stored state; steps on the
// device read what the device knows (its local state while offline).
func (s *Simulator) next(task *record) (transition, bool) {
	created, _ := parseStored(task.v["sys_created_on"])
	start, hasStart := parseStored(task.v["u_planned_start"])
	switch st := task.v["state"]; st {
	case stateDraft:
		return transition{task: task, from: st, to: statePendingDispatch, due: created}, true
	case statePendingDispatch:
		if hasStart {
			return transition{task: task, from: st, to: stateScheduled, due: created}, true
		}
		return transition{}, false
	case stateScheduled:
		if hasStart {
			return transition{task: task, from: st, to: stateAssigned, due: start.Add(-s.cfg.AssignLead)}, true
		}
		return transition{}, false
	}
	if !hasStart || task.v["assignment_group"] == "" {
		return transition{}, false
	}
	st := task.v["state"]
	if d := s.deviceOf(task); d != nil && d.offline {
		if l, ok := d.local[task.id()]; ok {
			st = l
		} else if snap := d.snapshot[task.id()]; snap != nil {
			st = snap.v["state"] // the device has not heard of later central changes
		}
	}
	end := start.Add(s.cfg.VisitDuration)
	if e, ok := parseStored(task.v["u_planned_end"]); ok && e.After(start) {
		end = e
	}
	switch st {
	case stateAssigned:
		return transition{task: task, from: st, to: stateAccepted, due: start.Add(-s.cfg.AcceptLead), fieldSide: true}, true
	case stateAccepted:
		return transition{task: task, from: st, to: stateWorkInProgress, due: start, fieldSide: true}, true
	case stateWorkInProgress:
		return transition{task: task, from: st, to: stateClosedComplete, due: end, fieldSide: true}, true
	}
	return transition{}, false
}

// dispatch makes every transition due by now, earliest first. With
// stampDue each write is stamped with the time it fell due (never before
// the last write, so sys_updated_on stays monotonic); otherwise with now.
// The caller holds s.mu.
func (s *Simulator) dispatch(now time.Time, stampDue bool) []TransitionView {
	var done []TransitionView
	var due transitionHeap
	for _, r := range s.tables[tTask].records {
		if tr, ok := s.next(r); ok && !tr.due.After(now) {
			due = append(due, tr)
		}
	}
	heap.Init(&due)
	for guard := 0; due.Len() > 0 && guard < 1_000_000; guard++ {
		best := heap.Pop(&due).(transition)
		stamp := now
		if stampDue {
			stamp = best.due
			if stamp.Before(s.lastSeen) {
				stamp = s.lastSeen
			}
		}
		if stamp.After(s.lastSeen) {
			s.lastSeen = stamp
		}
		done = append(done, s.apply(best, stamp))
		if tr, ok := s.next(best.task); ok && !tr.due.After(now) {
			heap.Push(&due, tr)
		}
	}
	return done
}

// transitionHeap orders due transitions by due time, then task number, so
// that a pass is the same on every run.
type transitionHeap []transition

func (h transitionHeap) Len() int { return len(h) }
func (h transitionHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].task.v["number"] < h[j].task.v["number"]
}
func (h transitionHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *transitionHeap) Push(x any)   { *h = append(*h, x.(transition)) }
func (h *transitionHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (s *Simulator) apply(tr transition, at time.Time) TransitionView {
	task := tr.task
	tasks := s.tables[tTask]
	view := TransitionView{Task: task.id(), Number: task.v["number"], From: tr.from, To: tr.to, At: at, By: dispatcherUser}
	vals := map[string]string{"state": tr.to}
	switch tr.to {
	case stateWorkInProgress:
		vals["work_start"] = at.Format(timeLayout)
	case stateClosedComplete:
		vals["work_end"] = at.Format(timeLayout)
	case stateAssigned:
		if task.v["assignment_group"] == "" {
			vals["assignment_group"] = s.pickTeam(task)
		}
	}
	if !tr.fieldSide {
		s.modify(tasks, task, vals, at, dispatcherUser)
		s.rollUpOrder(task.v["parent"], at)
		return view
	}
	d := s.device(task.v["assignment_group"])
	view.By = d.user
	if d.offline {
		d.local[task.id()] = tr.to
		d.enqueue(&op{table: tTask, id: task.id(), fields: vals, at: at})
		view.Queued = true
		return view
	}
	s.modify(tasks, task, vals, at, d.user)
	s.rollUpOrder(task.v["parent"], at)
	return view
}

// pickTeam chooses the team for a task: one of the teams of the care
// home's district with the fewest open tasks on that day (all teams if the
// district has none).
func (s *Simulator) pickTeam(task *record) string {
	district, _ := s.get(s.tables[tTask], task, "location.u_district_ags")
	day := strings.SplitN(task.v["u_planned_start"], " ", 2)[0]
	var candidates []*record
	for _, g := range s.tables[tGroup].records {
		if g.v["type"] == "mobile_team" && g.v["active"] == "true" && (district == "" || g.v["u_district_ags"] == district) {
			candidates = append(candidates, g)
		}
	}
	if len(candidates) == 0 {
		for _, g := range s.tables[tGroup].records {
			if g.v["type"] == "mobile_team" && g.v["active"] == "true" {
				candidates = append(candidates, g)
			}
		}
	}
	if len(candidates) == 0 {
		return ""
	}
	load := map[string]int{}
	for _, t := range s.tables[tTask].records {
		if t.v["active"] == "true" && strings.HasPrefix(t.v["u_planned_start"], day) {
			load[t.v["assignment_group"]]++
		}
	}
	sort.SliceStable(candidates, func(i, j int) bool { return load[candidates[i].id()] < load[candidates[j].id()] })
	return candidates[0].id()
}

// rollUpOrder sets a work order's state from its tasks: assigned when a
// task is, in progress when one is, closed when all are. A cancelled order
// is left alone.
func (s *Simulator) rollUpOrder(orderID string, at time.Time) {
	orders := s.tables[tOrder]
	o := orders.byID[orderID]
	if o == nil || o.v["state"] == stateCancelled {
		return
	}
	var n, closed, cancelled, complete, wip, assigned int
	for _, t := range s.tables[tTask].records {
		if t.v["parent"] != orderID {
			continue
		}
		n++
		switch st := t.v["state"]; {
		case closedStates[st]:
			closed++
			if st == stateCancelled {
				cancelled++
			}
			if st == stateClosedComplete {
				complete++
			}
		case st == stateWorkInProgress:
			wip++
		case st == stateAssigned || st == stateAccepted:
			assigned++
		}
	}
	want := o.v["state"]
	switch {
	case n == 0:
		return
	case closed == n && cancelled == n:
		want = stateCancelled
	case closed == n && complete > 0:
		want = stateClosedComplete
	case closed == n:
		want = stateClosedIncomplet
	case wip > 0:
		want = stateWorkInProgress
	case assigned > 0 || closed > 0:
		want = stateAssigned
	}
	if want != o.v["state"] {
		s.modify(orders, o, map[string]string{"state": want}, at, dispatcherUser)
	}
}

// device is a team's tablet with the mobile agent app. Online, what it
// records is written at once; offline, it keeps a queue that reaches the
// instance only with the next sync.
type device struct {
	group, code, user string
	offline           bool
	since             time.Time
	snapshot          map[string]*record // records as the device last saw them, by sys_id
	local             map[string]string  // task state on the device while offline
	queue             []*op
	seq               int
	syncs             []SyncReport
}

// op is a change made on an offline device: a record to create (id empty,
// localID set) or fields to update.
type op struct {
	table   string
	id      string
	localID string
	fields  map[string]string
	at      time.Time // when it was made on the device
}

func (d *device) enqueue(o *op) { d.queue = append(d.queue, o) }

// device returns the device of a team, creating it on first use.
func (s *Simulator) device(groupID string) *device {
	d := s.devices[groupID]
	if d == nil {
		code := "GRP"
		if g := s.tables[tGroup].byID[groupID]; g != nil && g.v["u_code"] != "" {
			code = g.v["u_code"]
		}
		d = &device{group: groupID, code: code, user: strings.ToLower(code) + ".device", local: map[string]string{}}
		s.devices[groupID] = d
	}
	return d
}

// findGroup resolves a team by sys_id, code (MT07) or name.
func (s *Simulator) findGroup(key string) *record {
	groups := s.tables[tGroup]
	if g := groups.byID[key]; g != nil {
		return g
	}
	for _, g := range groups.records {
		if strings.EqualFold(g.v["u_code"], key) || g.v["name"] == key {
			return g
		}
	}
	return nil
}

// goOffline takes the device off the network: it keeps a copy of its
// team's tasks and vaccinations as they are now, to sync against later.
func (s *Simulator) goOffline(d *device, now time.Time) {
	if d.offline {
		return
	}
	d.offline, d.since = true, now
	d.snapshot = map[string]*record{}
	d.local = map[string]string{}
	for _, t := range s.tables[tTask].records {
		if t.v["assignment_group"] == d.group {
			d.snapshot[t.id()] = t.clone()
		}
	}
	for _, v := range s.tables[tVaccination].records {
		if v.v["u_assignment_group"] == d.group {
			d.snapshot[v.id()] = v.clone()
		}
	}
}

// VaccinationInput is a vaccination as a team records it on its device.
type VaccinationInput struct {
	Resident       string `json:"resident"`        // the resident's ID from the roster
	Product        string `json:"product"`         // comirnaty, spikevax, vaxzevria, janssen
	Batch          string `json:"batch"`           // batch (lot) number
	DoseNumber     int    `json:"dose_number"`     // 1, 2, ...
	AdministeredAt string `json:"administered_at"` // "YYYY-MM-DD hh:mm:ss" UTC or RFC 3339; default: simulated now
	Vaccinator     string `json:"vaccinator"`      // who gave the dose
	Task           string `json:"task"`            // the visit, wm_task sys_id or number
	LocalID        string `json:"local_id"`        // the device's own ID; default MTnn-000001, ...
}

// recordVaccination writes a vaccination (online) or queues it (offline).
// It returns the local ID and, when written, the record.
func (s *Simulator) recordVaccination(d *device, in VaccinationInput, now time.Time) (string, *record, error) {
	if strings.TrimSpace(in.Resident) == "" {
		return "", nil, fmt.Errorf("resident is required")
	}
	at := now
	if in.AdministeredAt != "" {
		t, err := parseSNTime(in.AdministeredAt)
		if err != nil {
			t, err = time.Parse(time.RFC3339, in.AdministeredAt)
		}
		if err != nil {
			return "", nil, fmt.Errorf("administered_at %q: want \"YYYY-MM-DD hh:mm:ss\" (UTC) or RFC 3339", in.AdministeredAt)
		}
		at = t.UTC()
	}
	tasks := s.tables[tTask]
	taskID := in.Task
	if taskID != "" && tasks.byID[taskID] == nil {
		for _, t := range tasks.records {
			if t.v["number"] == taskID {
				taskID = t.id()
				break
			}
		}
	}
	d.seq++
	local := in.LocalID
	if local == "" {
		local = fmt.Sprintf("%s-%06d", d.code, d.seq)
	}
	vals := map[string]string{
		"u_resident": strings.TrimSpace(in.Resident), "u_product": in.Product, "u_batch": in.Batch,
		"u_administered_at": at.Format(timeLayout), "u_vaccinator": in.Vaccinator, "u_task": taskID,
		"u_assignment_group": d.group, "u_device": d.code + "-tablet", "u_local_id": local,
		"u_recorded_offline": strconv.FormatBool(d.offline),
	}
	if in.DoseNumber > 0 {
		vals["u_dose_number"] = strconv.Itoa(in.DoseNumber)
	}
	if d.offline {
		d.enqueue(&op{table: tVaccination, localID: local, fields: vals, at: now})
		return local, nil, nil
	}
	r := s.create(s.tables[tVaccination], vals, now, d.user)
	return local, r, nil
}

// EditInput is a change made on a device to a record it knows: a task or a
// synced vaccination by sys_id, or a vaccination still in the queue by
// local_id.
type EditInput struct {
	Table   string         `json:"table"`
	SysID   string         `json:"sys_id"`
	LocalID string         `json:"local_id"`
	Fields  map[string]any `json:"fields"`
}

func (s *Simulator) edit(d *device, in EditInput, now time.Time) (*record, error) {
	if in.Table == "" {
		in.Table = tTask
	}
	t := s.tables[in.Table]
	if t == nil || (t.name != tTask && t.name != tVaccination) {
		return nil, fmt.Errorf("table %q: a device edits wm_task and u_vaccination only", in.Table)
	}
	if len(in.Fields) == 0 {
		return nil, fmt.Errorf("fields: nothing to change")
	}
	vals, a := s.values(t, in.Fields, false)
	if a != nil {
		return nil, fmt.Errorf("%s", a.body)
	}
	if in.LocalID != "" {
		for _, o := range d.queue {
			if o.localID == in.LocalID {
				for k, v := range vals {
					o.fields[k] = v
				}
				return nil, nil
			}
		}
		return nil, fmt.Errorf("local_id %q is not in the device's queue", in.LocalID)
	}
	r := t.byID[in.SysID]
	if r == nil && !d.offline {
		return nil, fmt.Errorf("%s %q does not exist", t.name, in.SysID)
	}
	if d.offline {
		if r == nil && d.snapshot[in.SysID] == nil {
			return nil, fmt.Errorf("%s %q is not on the device", t.name, in.SysID)
		}
		if _, seen := d.snapshot[in.SysID]; !seen && r != nil {
			d.snapshot[in.SysID] = r.clone()
		}
		if st, ok := vals["state"]; ok && t.name == tTask {
			d.local[in.SysID] = st
		}
		d.enqueue(&op{table: t.name, id: in.SysID, fields: vals, at: now})
		return nil, nil
	}
	s.modify(t, r, vals, now, d.user)
	if t.name == tTask {
		s.rollUpOrder(r.v["parent"], now)
	}
	return r, nil
}

// SyncReport is what a sync wrote.
type SyncReport struct {
	Group        string         `json:"group"`
	Code         string         `json:"code"`
	OfflineSince time.Time      `json:"offline_since"`
	SyncedAt     time.Time      `json:"synced_at"`
	Policy       string         `json:"conflict_policy"`
	Created      []SyncCreated  `json:"created"`
	Updated      []SyncUpdated  `json:"updated"`
	Conflicts    []SyncConflict `json:"conflicts"`
}

// SyncCreated is a record that the sync created.
type SyncCreated struct {
	LocalID        string `json:"local_id"`
	SysID          string `json:"sys_id"`
	Number         string `json:"number"`
	AdministeredAt string `json:"administered_at"`
}

// SyncUpdated is an update that the sync wrote.
type SyncUpdated struct {
	Table       string    `json:"table"`
	SysID       string    `json:"sys_id"`
	Fields      []string  `json:"fields"`
	ModCount    string    `json:"sys_mod_count"`
	MadeOffline time.Time `json:"made_offline"`
}

// SyncConflict is an offline edit of a record that was changed centrally
// while the device was offline.
type SyncConflict struct {
	Table      string            `json:"table"`
	SysID      string            `json:"sys_id"`
	Number     string            `json:"number,omitempty"`
	Central    map[string]string `json:"central"` // fields changed centrally since the device went offline, with their central values
	Device     map[string]string `json:"device"`  // what the device wrote
	Resolution string            `json:"resolution"`
}

// Conflict policies for a sync.
const (
	DeviceWins = "device-wins" // the device's values overwrite central changes to the same fields
	ServerWins = "server-wins" // fields changed centrally keep their central values
)

// sync brings an offline device back: every queued change is written in
// the order it was made, each a write of its own stamped with the sync
// time. The caller holds s.mu.
func (s *Simulator) sync(d *device, now time.Time, policy string) SyncReport {
	rep := SyncReport{Group: d.group, Code: d.code, OfflineSince: d.since, SyncedAt: now, Policy: policy,
		Created: []SyncCreated{}, Updated: []SyncUpdated{}, Conflicts: []SyncConflict{}}
	if !d.offline {
		return rep
	}
	for _, o := range d.queue {
		t := s.tables[o.table]
		if o.id == "" {
			vals := map[string]string{}
			for k, v := range o.fields {
				vals[k] = v
			}
			vals["u_recorded_offline"] = "true"
			r := s.create(t, vals, now, d.user)
			d.snapshot[r.id()] = r.clone()
			rep.Created = append(rep.Created, SyncCreated{LocalID: o.localID, SysID: r.id(), Number: r.v["number"], AdministeredAt: r.v["u_administered_at"]})
			continue
		}
		r := t.byID[o.id]
		if r == nil {
			rep.Conflicts = append(rep.Conflicts, SyncConflict{Table: o.table, SysID: o.id, Central: map[string]string{"deleted": "true"},
				Device: o.fields, Resolution: "dropped: the record was deleted centrally"})
			continue
		}
		vals := map[string]string{}
		for k, v := range o.fields {
			vals[k] = v
		}
		if base := d.snapshot[o.id]; base != nil {
			central := map[string]string{}
			for _, c := range t.cols {
				if !isSystem(c.name) && r.v[c.name] != base.v[c.name] {
					central[c.name] = r.v[c.name]
				}
			}
			clash := false
			for k, v := range o.fields {
				if cv, ok := central[k]; ok && cv != v {
					clash = true
					if policy == ServerWins {
						delete(vals, k)
					}
				}
			}
			if clash {
				res := "device values written over the central changes"
				if policy == ServerWins {
					res = "central values kept; the device's values for those fields were dropped"
				}
				rep.Conflicts = append(rep.Conflicts, SyncConflict{Table: o.table, SysID: o.id, Number: r.v["number"],
					Central: central, Device: o.fields, Resolution: res})
			}
		}
		changed := s.modify(t, r, vals, now, d.user)
		if t.name == tTask {
			s.rollUpOrder(r.v["parent"], now)
		}
		d.snapshot[o.id] = r.clone()
		if len(changed) > 0 {
			rep.Updated = append(rep.Updated, SyncUpdated{Table: o.table, SysID: o.id, Fields: changed, ModCount: r.v["sys_mod_count"], MadeOffline: o.at})
		}
	}
	d.offline, d.queue, d.snapshot, d.local = false, nil, nil, map[string]string{}
	d.syncs = append(d.syncs, rep)
	if len(d.syncs) > 20 {
		d.syncs = d.syncs[1:]
	}
	return rep
}
