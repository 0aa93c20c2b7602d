package hotline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
)

// call is one answered call: its media, its keypad and its event trail.
type call struct {
	ivr   *IVR
	id    string // our call ID (UUID), the subject of call events
	in    *diago.DialogServerSession
	med   *diago.DialogMedia
	keys  *keypad
	ev    *callEvents
	start time.Time
	// forward, when set, receives the caller's audio payloads (bridged to an agent).
	forward atomic.Pointer[io.Writer]
}

var errHangup = errors.New("caller hung up")

// handle runs one call from INVITE to hang-up. diago hangs up (BYE, or 480
// before answer) when it returns.
func (v *IVR) handle(in *diago.DialogServerSession) {
	adm := v.admission(in)
	if adm == nil { // every new INVITE passes admitInvites; this is a safety net
		_ = in.Respond(503, "Service Unavailable", nil)
		return
	}
	defer adm.done()
	defer func() {
		if r := recover(); r != nil { // one broken call must not end the line
			v.cfg.Logger.Error("hotline: call panicked", "panic", r)
		}
	}()
	req := in.InviteRequest
	_ = in.Trying()
	c := &call{ivr: v, id: newCallID(), in: in, keys: newKeypad(), start: time.Now()}
	c.ev = newCallEvents(v, c.id)
	if cid := req.CallID(); cid != nil {
		v.calls.Store(cid.Value(), c)
		defer v.calls.Delete(cid.Value())
	}
	med, err := in.Answer(diago.AnswerOptions{RTPNAT: media.RTPNATSymetric})
	// call.started is recorded once the call is answered: its outbox insert
	// (a committed transaction) must not hold up the 200 OK under load.
	c.ev.started(in.FromUser(), strings.ToLower(in.Transport()))
	if err != nil {
		v.edge.Warn("hotline: answer", "err", err)
		c.ev.ended(outcomeError)
		return
	}
	c.med = med
	defer med.Close()
	// A call the caller (or the IVR) hung up no longer counts, even while
	// its goroutine still records call.ended.
	stopRelease := context.AfterFunc(in.Context(), adm.done)
	defer stopRelease()
	ctx, cancel := context.WithTimeout(in.Context(), v.cfg.MaxCallDuration)
	defer cancel()
	go c.readRTP(ctx)
	outcome := c.run(ctx)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && in.Context().Err() == nil {
		outcome = outcomeMaxDuration // the IVR ended a call that went on too long
	}
	c.ev.ended(outcome)
}

// offersG711 reports whether an SDP offer lists PCMU (0) or PCMA (8) on an
// audio line. No SDP is no offer: an INVITE without SDP (a late offer) is
// refused with 488 at admission, because diago v0.42.1 answers only offers.
func offersG711(sdp []byte) bool {
	if len(bytes.TrimSpace(sdp)) == 0 {
		return false
	}
	for _, line := range strings.Split(string(sdp), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "m=audio ") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		for _, pt := range f[3:] {
			if pt == "0" || pt == "8" {
				return true
			}
		}
	}
	// Dynamic payload types named PCMU/PCMA.
	up := strings.ToUpper(string(sdp))
	return strings.Contains(up, " PCMU/8000") || strings.Contains(up, " PCMA/8000")
}

// readRTP reads the caller's RTP until the call ends and feeds
// telephone-event digits to the keypad. It replaces diago's DTMF reader,
// which drops events whose first packet has duration 0.
func (c *call) readRTP(ctx context.Context) {
	defer func() { _ = recover() }()
	r, err := c.med.AudioReader()
	if err != nil {
		return
	}
	pt := -1
	for _, codec := range c.med.MediaSession().CommonCodecs() {
		if codec.Matches(media.CodecTelephoneEvent8000) {
			pt = int(codec.PayloadTypeRecv())
		}
	}
	var det dtmfDetector
	buf := make([]byte, media.RTPBufSize)
	for ctx.Err() == nil {
		n, err := r.Read(buf)
		if err != nil {
			return
		}
		hdr := c.med.RTPPacketReader.PacketHeader
		if pt < 0 || int(hdr.PayloadType) != pt || n < 4 {
			if w := c.forward.Load(); w != nil && n > 0 && int(hdr.PayloadType) != pt {
				_, _ = (*w).Write(buf[:n])
			}
			continue
		}
		if d, ok := det.packet(hdr.Timestamp, hdr.Marker, buf[:n]); ok {
			c.keys.push(d)
		}
	}
}

// play plays the prompts in order, joined; the first key stops it (barge-in)
// and stays in the keypad for the next question.
func (c *call) play(ctx context.Context, ids ...string) error {
	if ctx.Err() != nil {
		return errHangup
	}
	if c.keys.pending() {
		return nil
	}
	pcm := c.ivr.prompts.Join(ids...)
	if len(pcm) == 0 {
		return nil
	}
	pbc, err := c.med.PlaybackControlCreate()
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		_, err := pbc.Play(bytes.NewReader(pcm), "audio/pcm")
		done <- err
	}()
	for {
		select {
		case err := <-done:
			if ctx.Err() != nil {
				return errHangup
			}
			return err
		case <-c.keys.notify:
			if c.keys.pending() {
				pbc.Stop()
				<-done
				return nil
			}
		case <-ctx.Done():
			pbc.Stop()
			<-done
			return errHangup
		}
	}
}

type collectResult int

const (
	collected collectResult = iota
	noInput
)

// collect reads up to max digits. With hashEnds, # finishes the entry (and is
// not part of it); the inter-digit timeout also finishes it.
func (c *call) collect(ctx context.Context, max int, hashEnds bool) (string, collectResult, error) {
	var sb strings.Builder
	timeout := c.ivr.cfg.FirstDigitTimeout
	for {
		d, ok, err := c.keys.next(ctx, timeout)
		if err != nil {
			return sb.String(), collected, errHangup
		}
		if !ok {
			if sb.Len() == 0 {
				return "", noInput, nil
			}
			return sb.String(), collected, nil
		}
		if d == '#' && hashEnds {
			if sb.Len() == 0 {
				continue
			}
			return sb.String(), collected, nil
		}
		if d == '*' || d == '#' {
			continue
		}
		sb.WriteRune(d)
		if sb.Len() >= max {
			if hashEnds { // a # typed after a complete entry belongs to it
				c.keys.swallowHash(c.ivr.cfg.InterDigitTimeout)
			}
			return sb.String(), collected, nil
		}
		timeout = c.ivr.cfg.InterDigitTimeout
	}
}

var errGaveUp = errors.New("no valid input after every attempt")

// ask plays a question and collects an answer that valid accepts, with
// c.ivr.cfg.Attempts attempts; it tells the caller what went wrong between them.
func (c *call) ask(ctx context.Context, step string, prompt []string, max int, hashEnds bool, valid func(string) bool) (string, error) {
	for attempt := 1; attempt <= c.ivr.cfg.Attempts; attempt++ {
		if err := c.play(ctx, prompt...); err != nil {
			return "", err
		}
		got, res, err := c.collect(ctx, max, hashEnds)
		if err != nil {
			return "", err
		}
		switch {
		case res == noInput:
			c.ev.step(step, "no-input", "")
			if err := c.play(ctx, "no-input"); err != nil {
				return "", err
			}
		case !valid(got):
			c.ev.step(step, "invalid", "")
			c.keys.flush()
			if err := c.play(ctx, "invalid"); err != nil {
				return "", err
			}
		default:
			return got, nil
		}
	}
	return "", errGaveUp
}

// keypad buffers digits from RTP and SIP INFO; typed-ahead digits are kept.
type keypad struct {
	mu        sync.Mutex
	buf       []rune
	notify    chan struct{}
	hashUntil time.Time // drop one # arriving before this
}

// swallowHash drops a # that is buffered or arrives within d: the
// terminator of an entry that was complete without it.
func (k *keypad) swallowHash(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.buf) > 0 {
		if k.buf[0] == '#' {
			k.buf = k.buf[1:]
		}
		return
	}
	k.hashUntil = time.Now().Add(d)
}

func newKeypad() *keypad { return &keypad{notify: make(chan struct{}, 1)} }

func (k *keypad) push(d rune) {
	k.mu.Lock()
	if !k.hashUntil.IsZero() {
		swallow := d == '#' && time.Now().Before(k.hashUntil)
		k.hashUntil = time.Time{}
		if swallow {
			k.mu.Unlock()
			return
		}
	}
	if len(k.buf) < 64 {
		k.buf = append(k.buf, d)
	}
	k.mu.Unlock()
	select {
	case k.notify <- struct{}{}:
	default:
	}
}

func (k *keypad) pending() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buf) > 0
}

func (k *keypad) flush() {
	k.mu.Lock()
	k.buf = k.buf[:0]
	k.mu.Unlock()
}

func (k *keypad) pop() (rune, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.buf) == 0 {
		return 0, false
	}
	d := k.buf[0]
	k.buf = k.buf[1:]
	return d, true
}

// next waits up to timeout for a digit; ok is false on timeout.
func (k *keypad) next(ctx context.Context, timeout time.Duration) (rune, bool, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		if d, ok := k.pop(); ok {
			return d, true, nil
		}
		select {
		case <-k.notify:
		case <-t.C:
			if d, ok := k.pop(); ok {
				return d, true, nil
			}
			return 0, false, nil
		case <-ctx.Done():
			return 0, false, ctx.Err()
		}
	}
}
