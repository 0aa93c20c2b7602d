package domain

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

var verifyAt = time.Date(2021, 4, 12, 8, 0, 0, 0, time.UTC)

func TestAnAutomaticVerdictDecidesOnlyAnUnverifiedResident(t *testing.T) {
	verified := Verdict{Status: RegisterVerified, RegisterID: "9260387544", Score: 0.97}
	cur := Verification{ResidentID: "r1", Status: RegisterUnverified}
	next, changed := cur.Decide(verified, FraudFindings{}, verifyAt)
	if !changed || next.Status != RegisterVerified || next.RegisterID != "9260387544" || next.DecidedBy != DecidedByRegister {
		t.Fatalf("got %+v %v", next, changed)
	}
	// A second verdict (a redelivery, or another answer) changes nothing.
	again, changed := next.Decide(Verdict{Status: RegisterRejected, Reason: RejectDeceased}, FraudFindings{}, verifyAt)
	if changed || again.Status != RegisterVerified {
		t.Fatalf("decided resident changed: %+v", again)
	}
}

func TestFraudFindingsOverrideTheRegister(t *testing.T) {
	verified := Verdict{Status: RegisterVerified, RegisterID: "9260387544", Score: 1}
	cases := []struct {
		name   string
		f      FraudFindings
		status RegisterStatus
		reason string
		flags  []string
	}{
		{"none", FraudFindings{}, RegisterVerified, "", nil},
		{"register person already held", FraudFindings{Holder: "r0"}, RegisterRejected, RejectDuplicate, []string{FlagDuplicateRegisterPerson}},
		{"address outside the state", FraudFindings{OutsideState: true}, RegisterRejected, RejectOutsideState, []string{FlagOutsideState}},
		{"burst from one phone", FraudFindings{BurstPhone: true}, RegisterNeedsReview, ReviewBurst, []string{FlagBurstPhone}},
		{"burst and duplicate: duplicate wins", FraudFindings{BurstEmail: true, Holder: "r0"}, RegisterRejected, RejectDuplicate,
			[]string{FlagBurstEmail, FlagDuplicateRegisterPerson}},
	}
	for _, c := range cases {
		next, _ := Verification{ResidentID: "r1"}.Decide(verified, c.f, verifyAt)
		if next.Status != c.status || next.Reason != c.reason || !slices.Equal(next.Flags, c.flags) {
			t.Errorf("%s: got %+v", c.name, next)
		}
	}
}

func TestOnlyAVerifiedResidentMayBook(t *testing.T) {
	for _, v := range []Verification{{Status: RegisterUnverified}, {Status: RegisterNeedsReview, Reason: ReviewAmbiguous},
		{Status: RegisterRejected, Reason: RejectDeceased}} {
		err := v.MayBook()
		var ref *Refusal
		if !errors.As(err, &ref) || ref.Code != "not-verified" || !errors.Is(err, ErrNotEntitled) {
			t.Errorf("%+v: %v", v, err)
		}
	}
	if err := (Verification{Status: RegisterRejected, Reason: RejectDeceased}).MayBook(); !strings.Contains(err.Error(), "verstorben") {
		t.Errorf("deceased: %v does not give the reason", err)
	}
	if err := (Verification{Status: RegisterVerified}).MayBook(); err != nil {
		t.Errorf("verified: %v", err)
	}
}

func TestStaffVerificationNeedsANameAndANote(t *testing.T) {
	cur := Verification{ResidentID: "r1", Status: RegisterRejected, Reason: RejectNotFound}
	if _, _, err := cur.VerifyByHand("", "Ausweis geprüft", verifyAt); !errors.Is(err, ErrInvalid) {
		t.Errorf("no staff: %v", err)
	}
	if _, _, err := cur.VerifyByHand("Erika", "", verifyAt); !errors.Is(err, ErrInvalid) {
		t.Errorf("no note: %v", err)
	}
	next, changed, err := cur.VerifyByHand("Erika", "Ausweis geprüft", verifyAt)
	if err != nil || !changed || next.Status != RegisterVerified || next.DecidedBy != "Erika" || next.Note != "Ausweis geprüft" || next.Reason != "" {
		t.Fatalf("got %+v %v %v", next, changed, err)
	}
	if _, changed, _ := next.VerifyByHand("Max", "nochmal", verifyAt); changed {
		t.Error("verifying a verified resident changed it")
	}
}

func TestVerdictValidation(t *testing.T) {
	for _, v := range []Verdict{{Status: RegisterVerified}, {Status: RegisterRejected, Reason: "too-young"},
		{Status: RegisterNeedsReview}, {Status: "maybe"}, {Status: RegisterVerified, RegisterID: "1", Score: 2}} {
		if err := v.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v accepted", v)
		}
	}
}
