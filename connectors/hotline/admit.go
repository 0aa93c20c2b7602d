package hotline

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// admitted is a new call that passed admission, while its INVITE is served.
type admitted struct {
	in      atomic.Pointer[diago.DialogServerSession] // set by handle
	release func()
	once    sync.Once
}

// done gives the call's place back; only the first call counts.
func (a *admitted) done() { a.once.Do(a.release) }

// confirmed reports whether the caller acknowledged the answer (or the call
// got further: ended states count too).
func (a *admitted) confirmed() bool {
	in := a.in.Load()
	return in != nil && in.LoadState() >= sip.DialogStateConfirmed
}

// admitInvites runs before diago sees a request. A new call (an INVITE
// outside a dialog) is checked here, before a dialog, a call goroutine or an
// RTP port exists for it: the IVR stopping, the source's call rate, the calls
// the source holds, the calls held in all, then the codecs. A refusal is
// answered on the server transaction alone (no dialog), and the transaction
// layer absorbs the ACK and retransmissions; nothing is counted for it.
// An admitted call holds its place until handle returns, and gives it up
// once AckTimeout passes without the caller's ACK.
func (v *IVR) admitInvites(next sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if req.Method != sip.INVITE {
			next(req, tx)
			return
		}
		if _, err := sip.DialogIDFromRequestUAS(req); err == nil { // re-INVITE
			next(req, tx)
			return
		}
		v.serveInvite(req, tx, next)
	}
}

func (v *IVR) serveInvite(req *sip.Request, tx sip.ServerTransaction, next sipgo.RequestHandler) {
	refuse := func(code int, reason string, hdrs ...sip.Header) {
		res := sip.NewResponseFromRequest(req, code, reason, nil)
		for _, h := range hdrs {
			res.AppendHeader(h)
		}
		if err := tx.Respond(res); err != nil {
			v.edge.Debug("hotline: refuse a call", "status", code, "err", err)
		}
	}
	if !v.enter() {
		refuse(503, "Service Unavailable", sip.NewHeader("Retry-After", "10"))
		return
	}
	defer v.wg.Done()
	host := req.Source()
	if h, _, err := sip.ParseAddr(host); err == nil {
		host = h
	}
	release, why := v.admit.admit(host, time.Now())
	if why != "" {
		retry := "5"
		if why == refusedFull {
			retry = "10"
		}
		refuse(503, "Service Unavailable", sip.NewHeader("Retry-After", retry))
		v.edge.Warn("hotline: call refused", "source", host, "reason", string(why))
		return
	}
	v.active.Add(1)
	adm := &admitted{release: func() { release(); v.active.Add(-1) }}
	defer adm.done() // when handle never ran or returned early
	switch {
	case len(bytes.TrimSpace(req.Body())) == 0:
		// diago answers only an offer (its Answer fails without SDP).
		refuse(488, "Not Acceptable Here", sip.NewHeader("Warning", `304 vaxhub "SDP offer required: late offers are not supported"`))
		return
	case !offersG711(req.Body()):
		refuse(488, "Not Acceptable Here", sip.NewHeader("Warning", `304 vaxhub "PCMU or PCMA required"`))
		return
	}
	key, err := sip.ServerTxKeyMake(req)
	if err != nil {
		refuse(400, "Bad Request")
		return
	}
	if _, dup := v.pending.LoadOrStore(key, adm); dup {
		refuse(482, "Loop Detected") // a second INVITE with the branch of one still served
		return
	}
	defer v.pending.Delete(key)
	// diago waits for the ACK of its 200 OK for 32 s (64*T1), holding the
	// call; a caller that never sends it is given up after AckTimeout.
	watch := time.AfterFunc(v.cfg.AckTimeout, func() {
		if !adm.confirmed() {
			tx.Terminate()
		}
	})
	defer watch.Stop()
	next(req, tx)
}

// admission returns the admission of the call in (nil when it has none).
func (v *IVR) admission(in *diago.DialogServerSession) *admitted {
	key, err := sip.ServerTxKeyMake(in.InviteRequest)
	if err != nil {
		return nil
	}
	a, ok := v.pending.Load(key)
	if !ok {
		return nil
	}
	adm := a.(*admitted)
	adm.in.Store(in)
	return adm
}
