package api

import (
	"net/http"
	"time"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

type mobileCampaignIn struct {
	CareHome     string                   `json:"care_home"`
	Day          string                   `json:"day"`
	Team         string                   `json:"team"`
	CentreID     string                   `json:"centre_id"`
	PlannedStart string                   `json:"planned_start"`
	Roster       []domain.RosterEntry     `json:"roster"`
	Doses        map[domain.ProductID]int `json:"doses"`
}

type mobileChangeIn struct {
	AddToRoster  []domain.RosterEntry     `json:"add_to_roster"`
	Day          string                   `json:"day"`
	PlannedStart string                   `json:"planned_start"`
	Doses        map[domain.ProductID]int `json:"doses"`
}

type heldDecisionIn struct {
	Accept bool `json:"accept"`
}

// mobile returns the mobile-campaign use cases or answers 503.
func (s *Server) mobile(w http.ResponseWriter, r *http.Request) *app.Mobile {
	if s.cfg.Mobile == nil {
		writeProblem(w, Problem{Type: "/problems/not-configured", Title: "Mobile campaigns are not available", Status: http.StatusServiceUnavailable,
			Detail: "this hub runs without mobile campaigns", CorrelationID: correlationFrom(r)})
	}
	return s.cfg.Mobile
}

func optionalTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	return parseTime(field, v)
}

func (s *Server) planMobileCampaign(w http.ResponseWriter, r *http.Request) {
	var in mobileCampaignIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	day, err := parseDay("day", in.Day)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	start, err := optionalTime("planned_start", in.PlannedStart)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m := s.mobile(w, r)
	if m == nil {
		return
	}
	c, err := m.PlanMobileCampaign(r.Context(), app.MobileCampaignInput{CareHome: in.CareHome, Day: day, Team: in.Team,
		CentreID: in.CentreID, PlannedStart: start, Roster: in.Roster, Doses: in.Doses})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/mobile-campaigns/"+c.ID)
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) getMobileCampaign(w http.ResponseWriter, r *http.Request) {
	m := s.mobile(w, r)
	if m == nil {
		return
	}
	c, err := m.MobileCampaign(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) changeMobileCampaign(w http.ResponseWriter, r *http.Request) {
	var in mobileChangeIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	ch := app.MobileCampaignChange{AddToRoster: in.AddToRoster, Doses: in.Doses}
	var err error
	if in.Day != "" {
		if ch.Day, err = parseDay("day", in.Day); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if ch.PlannedStart, err = optionalTime("planned_start", in.PlannedStart); err != nil {
		s.writeError(w, r, err)
		return
	}
	m := s.mobile(w, r)
	if m == nil {
		return
	}
	c, err := m.ChangeMobileCampaign(r.Context(), r.PathValue("id"), ch)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) listHeldFieldDoses(w http.ResponseWriter, r *http.Request) {
	m := s.mobile(w, r)
	if m == nil {
		return
	}
	held, err := m.HeldFieldDoses(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if held == nil {
		held = []domain.HeldFieldDose{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"held": held})
}

// decideHeldFieldDose lets staff accept (counted, sent on like a check-out)
// or reject a field dose that was held for review.
func (s *Server) decideHeldFieldDose(w http.ResponseWriter, r *http.Request) {
	var in heldDecisionIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	m := s.mobile(w, r)
	if m == nil {
		return
	}
	res, err := m.DecideHeldFieldDose(r.Context(), r.PathValue("id"), in.Accept, principalOf(r.Context()).staff)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
