package waitingroom

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Ticket classes: drawn from the arrival sequence, or before a release time
// from the pre-release sequence (shuffled among themselves).
const (
	classArrival    = 'a'
	classPreRelease = 'p'
)

// ticket is a waiting visitor. It exists only in the visitor's cookie.
type ticket struct {
	class  byte
	n      int64     // position in its class's sequence, from 1
	issued time.Time // database time of issue (millisecond precision)
}

var b64 = base64.RawURLEncoding

// signer makes and checks the room's cookies. Every MAC covers the room and
// the browser's session ID, so a cookie copied to another browser fails.
type signer struct {
	secret []byte
	room   string
}

func (s signer) mac(kind string, sid string, fields ...string) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(s.room))
	for _, f := range fields {
		m.Write([]byte{0})
		m.Write([]byte(f))
	}
	m.Write([]byte{0})
	m.Write([]byte(sid))
	return m.Sum(nil)
}

// fingerprint names the browser a ticket was issued to, only to tell a
// copied ticket from a forged one in the refusal (it is not a secret).
func fingerprint(sid string) string {
	h := sha256.Sum256([]byte(sid))
	return b64.EncodeToString(h[:6])
}

func sidHash(sid string) []byte {
	h := sha256.Sum256([]byte(sid))
	return h[:]
}

// encodeTicket returns "1.<class>.<n>.<issued ms>.<browser>.<mac>".
func (s signer) encodeTicket(t ticket, sid string) string {
	c, n, ms := string(t.class), strconv.FormatInt(t.n, 10), strconv.FormatInt(t.issued.UnixMilli(), 10)
	fp := fingerprint(sid)
	return "1." + c + "." + n + "." + ms + "." + fp + "." + b64.EncodeToString(s.mac("ticket", sid, c, n, ms, fp))
}

// decodeTicket checks a ticket cookie against the browser's session ID.
func (s signer) decodeTicket(v, sid string) (ticket, error) {
	var p [6]string
	if strings.Count(v, ".") != 5 {
		return ticket{}, ErrTicketForged
	}
	for i := range 5 {
		j := strings.IndexByte(v, '.')
		p[i], v = v[:j], v[j+1:]
	}
	p[5] = v
	if p[0] != "1" || len(p[1]) != 1 || (p[1][0] != classArrival && p[1][0] != classPreRelease) {
		return ticket{}, ErrTicketForged
	}
	got, err := b64.DecodeString(p[5])
	if err != nil {
		return ticket{}, ErrTicketForged
	}
	if !hmac.Equal(got, s.mac("ticket", sid, p[1], p[2], p[3], p[4])) {
		if p[4] != fingerprint(sid) {
			return ticket{}, ErrTicketOtherBrowser
		}
		return ticket{}, ErrTicketForged
	}
	n, err1 := strconv.ParseInt(p[2], 10, 64)
	ms, err2 := strconv.ParseInt(p[3], 10, 64)
	if err1 != nil || err2 != nil || n < 1 {
		return ticket{}, ErrTicketForged
	}
	return ticket{class: p[1][0], n: n, issued: time.UnixMilli(ms)}, nil
}

// pass is an admission session as its cookie carries it.
type pass struct {
	id      uuid.UUID
	expires time.Time
}

// encodePass returns "1.<session id>.<expires ms>.<mac>".
func (s signer) encodePass(p pass, sid string) string {
	id, ms := p.id.String(), strconv.FormatInt(p.expires.UnixMilli(), 10)
	return "1." + id + "." + ms + "." + b64.EncodeToString(s.mac("pass", sid, id, ms))
}

func (s signer) decodePass(v, sid string) (pass, bool) {
	p := strings.Split(v, ".")
	if len(p) != 4 || p[0] != "1" {
		return pass{}, false
	}
	got, err := b64.DecodeString(p[3])
	if err != nil || !hmac.Equal(got, s.mac("pass", sid, p[1], p[2])) {
		return pass{}, false
	}
	id, err := uuid.Parse(p[1])
	if err != nil {
		return pass{}, false
	}
	ms, err := strconv.ParseInt(p[2], 10, 64)
	if err != nil {
		return pass{}, false
	}
	return pass{id: id, expires: time.UnixMilli(ms)}, true
}

// newSessionID returns 128 random bits for the room's own session cookie.
func newSessionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b64.EncodeToString(b)
}
