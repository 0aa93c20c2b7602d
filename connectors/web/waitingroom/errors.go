package waitingroom

import (
	"errors"
	"net/http"
)

// Sentinel errors: what callers and the refusal page branch on.
var (
	// ErrTicketForged: the ticket's HMAC does not verify (or it is malformed).
	ErrTicketForged = errors.New("waitingroom: ticket is not genuine")
	// ErrTicketOtherBrowser: a genuine ticket presented by another browser.
	ErrTicketOtherBrowser = errors.New("waitingroom: ticket belongs to another browser")
	// ErrTicketUsed: the ticket has already bought an admission.
	ErrTicketUsed = errors.New("waitingroom: ticket already used")
	// ErrTicketExpired: the ticket is older than TicketTTL or from an earlier release round.
	ErrTicketExpired = errors.New("waitingroom: ticket expired")
	// ErrCallExpired: the visitor was called but did not come within CallGrace.
	ErrCallExpired = errors.New("waitingroom: turn expired")
	// ErrQueueNotEmpty: a release round can only be announced while nobody waits.
	ErrQueueNotEmpty = errors.New("waitingroom: queue is not empty")
)

// refusal is how an error is shown: the one place where errors become HTTP
// statuses and texts (German first, English second).
type refusal struct {
	Status   int
	Code     string
	German   string
	English  string
	Requeued bool // a new ticket was issued instead
}

func refusalFor(err error) refusal {
	switch {
	case errors.Is(err, ErrTicketOtherBrowser):
		return refusal{http.StatusForbidden, "ticket-other-browser",
			"Dieses Warteticket gehört zu einem anderen Browser und gilt hier nicht.",
			"This waiting ticket belongs to another browser and is not valid here.", false}
	case errors.Is(err, ErrTicketForged):
		return refusal{http.StatusForbidden, "ticket-forged",
			"Dieses Warteticket ist ungültig.",
			"This waiting ticket is not valid.", false}
	case errors.Is(err, ErrTicketUsed):
		return refusal{http.StatusConflict, "ticket-used",
			"Dieses Warteticket wurde bereits für eine Buchungssitzung verwendet.",
			"This waiting ticket has already been used for a booking session.", false}
	case errors.Is(err, ErrTicketExpired), errors.Is(err, ErrCallExpired):
		return refusal{http.StatusOK, "ticket-expired",
			"Ihr Warteticket ist abgelaufen; Sie haben ein neues erhalten.",
			"Your waiting ticket expired; you have been given a new one.", true}
	}
	return refusal{http.StatusServiceUnavailable, "unavailable",
		"Der Warteraum ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal.",
		"The waiting room is unavailable right now. Please try again shortly.", false}
}
