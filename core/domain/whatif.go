package domain

import (
	"slices"
	"time"
)

// WhatIf compares a draft rule set with the one in force, without changing
// anything: how many residents change group or become (or stop being)
// entitled, and which booked doses the draft would break. Feed it residents
// and open appointments one at a time so that millions fit in memory.
type WhatIf struct {
	current, draft *RuleSet
	loc            *time.Location
	day            Date // the day entitlement is judged: the draft's effective day or today, whichever is later
	Report         WhatIfReport
}

// WhatIfReport is the answer of a what-if call.
type WhatIfReport struct {
	CurrentVersion   string          `json:"current_version"`
	DraftVersion     string          `json:"draft_version"`
	JudgedOn         string          `json:"judged_on"`
	Residents        int             `json:"residents"`
	ChangedGroup     int             `json:"changed_group"`
	NewlyEntitled    int             `json:"newly_entitled"`
	NoLongerEntitled int             `json:"no_longer_entitled"`
	BrokenDoses      []BrokenBooking `json:"broken_doses"`
}

// BrokenBooking is a booked dose that the draft rules would not allow.
type BrokenBooking struct {
	Reference  string    `json:"reference"`
	ResidentID string    `json:"resident_id"`
	CentreID   string    `json:"centre_id"`
	DoseNumber int       `json:"dose_number"`
	Product    ProductID `json:"product"`
	SlotStart  time.Time `json:"slot_start"`
	Code       string    `json:"code"`
	Reason     string    `json:"reason"`
}

// NewWhatIf starts a comparison judged on day (in loc).
func NewWhatIf(current, draft *RuleSet, today Date, loc *time.Location) *WhatIf {
	day := today
	if eff := DateOf(draft.EffectiveFrom.In(loc)); eff.After(day) {
		day = eff
	}
	cv := ""
	if current != nil {
		cv = current.Version
	}
	return &WhatIf{current: current, draft: draft, loc: loc, day: day,
		Report: WhatIfReport{CurrentVersion: cv, DraftVersion: draft.Version, JudgedOn: day.String(), BrokenDoses: []BrokenBooking{}}}
}

// AddResident counts a registered resident.
func (w *WhatIf) AddResident(r *Resident) {
	w.Report.Residents++
	after := w.draft.Entitle(r, w.day)
	var before Entitlement
	if w.current != nil {
		before = w.current.Entitle(r, w.day)
	}
	if before.Group != after.Group {
		w.Report.ChangedGroup++
	}
	wasEntitled, isEntitled := len(before.Products) > 0, len(after.Products) > 0
	if !wasEntitled && isEntitled {
		w.Report.NewlyEntitled++
	}
	if wasEntitled && !isEntitled {
		w.Report.NoLongerEntitled++
	}
}

// AddAppointment checks every dose of an open series that is still to be
// given, from the draft's effective time on, against the draft rules.
func (w *WhatIf) AddAppointment(a *Appointment, r *Resident) {
	if a.Status != SeriesBooked {
		return
	}
	var first *Dose
	for i := range a.Doses {
		d := &a.Doses[i]
		if d.Number == 1 {
			first = d
		}
		if d.Status != DoseBooked && d.Status != DoseCheckedIn {
			continue
		}
		if d.Start.Before(w.draft.EffectiveFrom) {
			continue // given before the draft applies
		}
		day := DateOf(d.Start.In(w.loc))
		if ref := w.draft.AllowsProduct(d.Product, r, day); ref != nil {
			w.broken(a, d, ref.Code, ref.Message)
			continue
		}
		if d.Number == 2 && first != nil {
			if code, msg := w.checkFollowUp(first, d); code != "" {
				w.broken(a, d, code, msg)
			}
		}
	}
}

func (w *WhatIf) checkFollowUp(first, second *Dose) (string, string) {
	v, ok := w.draft.Vaccine(first.Product)
	if !ok {
		return "product-unknown", "Der Impfstoff der ersten Impfung ist nicht mehr vorgesehen."
	}
	i := slices.IndexFunc(v.Next, func(n NextDose) bool { return n.Product == second.Product })
	if i < 0 {
		return "follow-up-not-allowed", "Diese Kombination von erster und zweiter Impfung ist nicht mehr vorgesehen."
	}
	gap := DateOf(first.Start.In(w.loc)).DaysUntil(DateOf(second.Start.In(w.loc)))
	if gap < v.Next[i].MinDays || gap > v.Next[i].MaxDays {
		return "interval", "Der Abstand zwischen den Impfungen liegt außerhalb des erlaubten Zeitraums."
	}
	return "", ""
}

func (w *WhatIf) broken(a *Appointment, d *Dose, code, reason string) {
	w.Report.BrokenDoses = append(w.Report.BrokenDoses, BrokenBooking{Reference: a.Reference, ResidentID: a.ResidentID,
		CentreID: a.CentreID, DoseNumber: d.Number, Product: d.Product, SlotStart: d.Start, Code: code, Reason: reason})
}
