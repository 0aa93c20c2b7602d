package waitingroom

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Clients that are not browsers (the public JSON API) queue in the same room
// and draw on the same sessions and admission rate. What a browser keeps in
// cookies they carry in a header: a ticket while they wait, an admission once
// they are let in. Both are bound, instead of to a browser session, to a
// client key that the caller derives from the client's own credential (the
// API uses a hash of the resident's bearer token), so a ticket or admission
// copied to another client is refused like a ticket copied to another
// browser.

// ClientDecision is the room's answer to a client that wants to book.
type ClientDecision struct {
	// Admitted: the client may book now. Admission is then the value to
	// present again while it lasts; Direct says that the client was let in
	// without a ticket (nobody waiting, a session free).
	Admitted  bool
	Direct    bool
	Admission string
	// Ticket is the client's place in the queue when it is not admitted;
	// RetryAfter says when to ask again.
	Ticket     string
	RetryAfter time.Duration
	// Requeued: the ticket presented had expired (or its call was missed);
	// Ticket is a new one.
	Requeued bool
}

func clientSID(client string) string { return "client\x00" + client }

// isPassValue tells an admission ("1.<uuid>.<ms>.<mac>") from a ticket
// ("1.<class>.<n>.<ms>.<fp>.<mac>").
func isPassValue(v string) bool { return strings.Count(v, ".") == 3 }

// AdmitClient decides for the client identified by client (a stable key,
// never empty) that presents presented: "" (nothing yet), a ticket, or an
// admission. Like Gate, it admits a live admission, redeems a called ticket,
// admits directly when nobody waits and a session is free, and otherwise
// hands out (or keeps) a ticket. A forged ticket is ErrTicketForged, another
// client's ErrTicketOtherBrowser, a used one ErrTicketUsed; other errors are
// the database's.
func (r *Room) AdmitClient(ctx context.Context, client, presented string) (ClientDecision, error) {
	if client == "" {
		return ClientDecision{}, errors.New("waitingroom: AdmitClient needs a client key")
	}
	sid := clientSID(client)
	v := r.view()
	requeued := false
	if presented != "" && isPassValue(presented) {
		if p, ok := r.sign.decodePass(presented, sid); ok && r.cfg.Now().Before(p.expires) {
			alive, err := r.sessionAlive(ctx, p, sid)
			if err != nil {
				return ClientDecision{}, err
			}
			if alive {
				return ClientDecision{Admitted: true, Admission: presented}, nil
			}
		}
		// An ended, expired or foreign admission: queue like a newcomer,
		// as the gate does when it drops a stale pass cookie.
	} else if presented != "" {
		t, err := r.sign.decodeTicket(presented, sid)
		if err != nil {
			return ClientDecision{}, err
		}
		rank, st := v.rankOf(t)
		if st == rankStale && t.issued.After(v.now) {
			st = rankPending
		}
		switch {
		case r.cfg.Now().Sub(t.issued) > r.cfg.TicketTTL || st == rankStale:
			requeued = true
		case st == rankKnown && rank <= v.admittedUpTo:
			p, err := r.redeemTicket(ctx, sid, rank, t)
			switch {
			case err == nil:
				return ClientDecision{Admitted: true, Admission: r.sign.encodePass(p, sid)}, nil
			case errors.Is(err, errNoRoom):
				return r.waiting(v, presented, rank, st, false), nil
			case errors.Is(err, ErrCallExpired):
				requeued = true
			default:
				return ClientDecision{}, err
			}
		default:
			return r.waiting(v, presented, rank, st, false), nil
		}
	}
	if !requeued && v.maybeRoom() {
		p, err := r.admitDirectly(ctx, sid)
		switch {
		case err == nil:
			return ClientDecision{Admitted: true, Direct: true, Admission: r.sign.encodePass(p, sid)}, nil
		case !errors.Is(err, errNoRoom):
			return ClientDecision{}, err
		}
	}
	t, err := r.issueTicket(ctx)
	if err != nil {
		return ClientDecision{}, err
	}
	rank, st := v.rankOf(t)
	if st == rankStale {
		st = rankPending
	}
	return r.waiting(v, r.sign.encodeTicket(t, sid), rank, st, requeued), nil
}

func (r *Room) waiting(v *view, ticket string, rank int64, st rankStatus, requeued bool) ClientDecision {
	return ClientDecision{Ticket: ticket, Requeued: requeued,
		RetryAfter: time.Duration(r.refreshSeconds(v, v.position(rank), st)) * time.Second}
}

// ClientStatus is the status endpoint for a client's ticket: its position
// and expected wait from this replica's snapshot, no database round trip.
// The HTTP status is 200, or the refusal's for a forged or foreign ticket.
func (r *Room) ClientStatus(client, ticket string) (StatusReply, int) {
	return r.statusOf(clientSID(client), "", ticket)
}

// EndClientSession ends the client's admission (after its booking), so that
// the next in line is called. An admission that does not verify is ignored.
func (r *Room) EndClientSession(ctx context.Context, client, admission string) error {
	sid := clientSID(client)
	p, ok := r.sign.decodePass(admission, sid)
	if !ok {
		return nil
	}
	return r.endSession(ctx, p, sid)
}

// ClientRefusal maps an error of AdmitClient or ClientStatus to an HTTP
// status and a stable code (ticket-forged, ticket-other-browser,
// ticket-used; unavailable for the database's errors).
func ClientRefusal(err error) (status int, code string) {
	rf := refusalFor(err)
	if rf.Status == http.StatusOK { // expired: AdmitClient requeues instead
		return http.StatusConflict, rf.Code
	}
	return rf.Status, rf.Code
}
