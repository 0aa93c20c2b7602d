package domain

import "time"

// RegisterStatus says whether the population register has confirmed a
// resident (issue 5). Only a verified resident may book while the campaign
// requires verification.
type RegisterStatus string

// The register statuses of a resident.
const (
	RegisterUnverified  RegisterStatus = "unverified"
	RegisterVerified    RegisterStatus = "verified"
	RegisterRejected    RegisterStatus = "rejected"
	RegisterNeedsReview RegisterStatus = "needs-review"
)

// Reasons for a rejection.
const (
	// RejectDeceased: the register records the person as deceased.
	RejectDeceased = "deceased"
	// RejectNotResident: the register has the person, but living outside the
	// state (moved within Germany, abroad, or to an unknown address).
	RejectNotResident = "not-resident"
	// RejectNotFound: the register knows nobody who matches.
	RejectNotFound = "not-found"
	// RejectDuplicate: the register person already holds a verified
	// registration; a second one is refused and flagged.
	RejectDuplicate = "duplicate"
	// RejectOutsideState: the registered address lies outside the state
	// while the rule set in force requires residence.
	RejectOutsideState = "outside-state"
)

// Reasons for needing review.
const (
	// ReviewAmbiguous: several register persons fit equally well.
	ReviewAmbiguous = "ambiguous"
	// ReviewWeakMatch: the best candidate scores below the verify threshold.
	ReviewWeakMatch = "weak-match"
	// ReviewBurst: more registrations from the same phone number or e-mail
	// address than the configured limit allows.
	ReviewBurst = "burst"
)

// Fraud flags kept with a verification for staff to look at.
const (
	FlagDuplicateRegisterPerson = "duplicate-register-person"
	FlagBurstPhone              = "burst-phone"
	FlagBurstEmail              = "burst-email"
	FlagOutsideState            = "outside-state"
)

// Decided-by values other than a staff member's name.
const (
	// DecidedByRegister marks an automatic verdict of the register connector.
	DecidedByRegister = "register"
)

var (
	rejectReasons = map[string]string{
		RejectDeceased:     "Laut Melderegister ist die angemeldete Person verstorben.",
		RejectNotResident:  "Laut Melderegister wohnt die angemeldete Person nicht in Sachsen.",
		RejectNotFound:     "Die Angaben wurden im Melderegister nicht gefunden.",
		RejectDuplicate:    "Diese Person ist bereits angemeldet.",
		RejectOutsideState: "Die angegebene Anschrift liegt nicht in Sachsen.",
	}
	reviewReasons = map[string]bool{ReviewAmbiguous: true, ReviewWeakMatch: true, ReviewBurst: true}
)

// KnownRejectReason reports whether reason is one of the Reject* reasons.
func KnownRejectReason(reason string) bool { _, ok := rejectReasons[reason]; return ok }

// KnownReviewReason reports whether reason is one of the Review* reasons.
func KnownReviewReason(reason string) bool { return reviewReasons[reason] }

// Verification is what the hub keeps about a resident's register check.
// Data minimisation: the register's ID of the person, the match score and
// the outcome, never the register's record itself.
type Verification struct {
	ResidentID string         `json:"resident_id"`
	Status     RegisterStatus `json:"status"`
	// Reason of a rejection or of a needed review (Reject*, Review*).
	Reason string `json:"reason,omitempty"`
	// RegisterID is the register's identifier of the matched person.
	RegisterID string `json:"register_id,omitempty"`
	// Score is the match score 0..1 of the chosen candidate.
	Score float64 `json:"score,omitempty"`
	// Flags are fraud indications (Flag*).
	Flags []string `json:"flags,omitempty"`
	// DuplicateOf is the resident who already holds the register person.
	DuplicateOf string `json:"duplicate_of,omitempty"`
	// DecidedBy is DecidedByRegister or the staff member who verified by hand.
	DecidedBy string    `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	// Note is the staff member's note of a verification by hand (which ID
	// document was seen); never an ID number.
	Note string `json:"note,omitempty"`
}

// Verdict is the register connector's decision about a resident.
type Verdict struct {
	Status     RegisterStatus
	Reason     string
	RegisterID string
	Score      float64
	// Candidates is how many register persons were considered (review).
	Candidates int
	// EventID is the event that caused the verdict (resident.registered);
	// it is recorded with the verdict so that a redelivery changes nothing.
	EventID string
}

// Validate checks a verdict's shape.
func (v Verdict) Validate() error {
	switch v.Status {
	case RegisterVerified:
		if v.RegisterID == "" {
			return Invalid("register_id", "is required for a verified resident")
		}
	case RegisterRejected:
		if !KnownRejectReason(v.Reason) {
			return Invalid("reason", "unknown rejection reason %q", v.Reason)
		}
	case RegisterNeedsReview:
		if !KnownReviewReason(v.Reason) {
			return Invalid("reason", "unknown review reason %q", v.Reason)
		}
	default:
		return Invalid("status", "a verdict is verified, rejected or needs-review, not %q", v.Status)
	}
	if v.Score < 0 || v.Score > 1 {
		return Invalid("score", "must lie in 0..1")
	}
	return nil
}

// FraudFindings are what the core found out about a registration besides
// the register's answer.
type FraudFindings struct {
	// Holder is another resident who already holds the verdict's register
	// person, verified; empty when none.
	Holder string
	// OutsideState: the address lies outside the state while residence is
	// required.
	OutsideState bool
	// BurstPhone, BurstEmail: more registrations from this contact than allowed.
	BurstPhone, BurstEmail bool
}

// Decide applies an automatic verdict to the current verification. An
// automatic verdict only ever decides an unverified resident: a resident
// already decided (by the register or by staff) keeps the decision, so a
// redelivered or repeated verdict changes nothing (changed is false).
// Fraud findings override the register: a person already held is refused
// (duplicate), an address outside the state is refused, a burst is sent to
// review.
func (cur Verification) Decide(v Verdict, f FraudFindings, at time.Time) (next Verification, changed bool) {
	if cur.Status != "" && cur.Status != RegisterUnverified {
		return cur, false
	}
	next = Verification{ResidentID: cur.ResidentID, Status: v.Status, Reason: v.Reason, RegisterID: v.RegisterID,
		Score: v.Score, DecidedBy: DecidedByRegister, DecidedAt: at.UTC()}
	if f.BurstPhone {
		next.Flags = append(next.Flags, FlagBurstPhone)
	}
	if f.BurstEmail {
		next.Flags = append(next.Flags, FlagBurstEmail)
	}
	switch {
	case f.OutsideState:
		next.Status, next.Reason = RegisterRejected, RejectOutsideState
		next.Flags = append(next.Flags, FlagOutsideState)
	case v.Status == RegisterVerified && f.Holder != "" && f.Holder != cur.ResidentID:
		next.Status, next.Reason, next.DuplicateOf = RegisterRejected, RejectDuplicate, f.Holder
		next.Flags = append(next.Flags, FlagDuplicateRegisterPerson)
	case v.Status == RegisterVerified && (f.BurstPhone || f.BurstEmail):
		next.Status, next.Reason = RegisterNeedsReview, ReviewBurst
	}
	return next, true
}

// VerifyByHand is staff confirming a resident's identity after checking an
// ID card. It applies to every status but verified (then nothing changes).
func (cur Verification) VerifyByHand(staff, note string, at time.Time) (next Verification, changed bool, err error) {
	if staff == "" {
		return cur, false, Invalid("staff", "the staff member's name is required")
	}
	if note == "" {
		return cur, false, Invalid("note", "say which identity document was checked")
	}
	if err := validText("note", note, 500); err != nil {
		return cur, false, err
	}
	if cur.Status == RegisterVerified {
		return cur, false, nil
	}
	next = cur
	next.Status, next.Reason, next.DecidedBy, next.Note, next.DecidedAt = RegisterVerified, "", staff, note, at.UTC()
	next.DuplicateOf = ""
	return next, true, nil
}

// MayBook refuses a resident whom the register has not confirmed. The
// message is German, short and polite, for a web page or a phone line.
func (cur Verification) MayBook() error {
	switch cur.Status {
	case RegisterVerified:
		return nil
	case RegisterRejected:
		msg, ok := rejectReasons[cur.Reason]
		if !ok {
			msg = "Die Angaben wurden vom Melderegister nicht bestätigt."
		}
		return refuse(ErrNotEntitled, "not-verified", msg+" Eine Buchung ist nicht möglich. Bitte wenden Sie sich mit Ihrem Ausweis an die Hotline.")
	case RegisterNeedsReview:
		return refuse(ErrNotEntitled, "not-verified", "Ihre Angaben werden noch geprüft. Eine Buchung ist möglich, sobald die Prüfung abgeschlossen ist.")
	}
	return refuse(ErrNotEntitled, "not-verified", "Ihre Angaben wurden noch nicht mit dem Melderegister abgeglichen. Bitte versuchen Sie es in wenigen Minuten erneut.")
}

// ResidentVerified is the data of resident.verified.
type ResidentVerified struct {
	ResidentID string  `json:"resident_id"`
	Method     string  `json:"method"` // register or staff
	Score      float64 `json:"score,omitempty"`
}

// ResidentRejected is the data of resident.rejected.
type ResidentRejected struct {
	ResidentID  string   `json:"resident_id"`
	Reason      string   `json:"reason"`
	Flags       []string `json:"flags,omitempty"`
	DuplicateOf string   `json:"duplicate_of,omitempty"`
}

// ResidentNeedsReview is the data of resident.needs-review.
type ResidentNeedsReview struct {
	ResidentID string   `json:"resident_id"`
	Reason     string   `json:"reason"`
	Score      float64  `json:"score,omitempty"`
	Candidates int      `json:"candidates,omitempty"`
	Flags      []string `json:"flags,omitempty"`
}

// VerificationEvent builds the event that announces v.
func VerificationEvent(v Verification, candidates int, corr string, at time.Time) Event {
	switch v.Status {
	case RegisterVerified:
		method := "register"
		if v.DecidedBy != DecidedByRegister {
			method = "staff"
		}
		return NewEvent("resident.verified", v.ResidentID, corr, at, ResidentVerified{ResidentID: v.ResidentID, Method: method, Score: v.Score})
	case RegisterRejected:
		return NewEvent("resident.rejected", v.ResidentID, corr, at, ResidentRejected{ResidentID: v.ResidentID, Reason: v.Reason,
			Flags: v.Flags, DuplicateOf: v.DuplicateOf})
	default:
		return NewEvent("resident.needs-review", v.ResidentID, corr, at, ResidentNeedsReview{ResidentID: v.ResidentID, Reason: v.Reason,
			Score: v.Score, Candidates: candidates, Flags: v.Flags})
	}
}
