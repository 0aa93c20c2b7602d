package smtp

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/vaxhub/vaxhub/simulators/faults"
)

// maxLine bounds a command line (RFC 5321 allows 512 octets; a little more
// for AUTH PLAIN with long credentials).
const maxLine = 2048

// session is one SMTP connection.
type session struct {
	s      *Server
	conn   net.Conn
	r      *bufio.Reader
	w      *textproto.Writer
	helo   string
	esmtp  bool
	user   string // after a successful AUTH
	from   *string
	to     []string
	closed bool
}

func (s *Server) session(c net.Conn) {
	ss := &session{s: s, conn: c, r: bufio.NewReaderSize(c, maxLine), w: textproto.NewWriter(bufio.NewWriter(c))}
	active := s.faults.Active()
	if o := active.Outage; o != nil && time.Now().Before(o.Until) {
		if o.Mode != faults.Outage503 {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			return
		}
		ss.reply(421, "4.3.2 Service not available, closing transmission channel")
		return
	}
	if s.faults.Flag(FaultUnavailable) {
		ss.reply(421, "4.3.2 Service not available, closing transmission channel")
		return
	}
	ss.reply(220, s.cfg.Hostname+" ESMTP vaxhub simulator ready")
	for !ss.closed {
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		line, err := ss.readLine()
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			ss.discardLine()
			ss.reply(500, "5.5.6 Line too long")
			continue
		case err != nil:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				ss.reply(421, "4.4.2 "+s.cfg.Hostname+" Idle timeout, closing connection")
			}
			return
		}
		ss.command(line)
	}
}

func (ss *session) readLine() (string, error) {
	b, err := ss.r.ReadSlice('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func (ss *session) discardLine() {
	for {
		_, err := ss.r.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// reply writes one reply, after the latency fault if one is on. Lines of a
// multi-line reply are given as further arguments.
func (ss *session) reply(code int, text string, more ...string) {
	if l := ss.s.faults.Active().Latency; l != nil {
		d := time.Duration(l.Fixed)
		if l.Jitter > 0 {
			ss.s.rngMu.Lock()
			d += time.Duration(ss.s.rng.Int64N(int64(l.Jitter) + 1))
			ss.s.rngMu.Unlock()
		}
		time.Sleep(d)
	}
	lines := append([]string{text}, more...)
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		_ = ss.w.PrintfLine("%d%s%s", code, sep, l)
	}
	if code == 421 || code == 221 {
		ss.closed = true
	}
}

func (ss *session) resetTransaction() {
	ss.from, ss.to = nil, nil
}

func (ss *session) command(line string) {
	verb, arg, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	arg = strings.TrimSpace(arg)
	switch verb {
	case "EHLO", "HELO":
		if arg == "" {
			ss.reply(501, "5.5.4 Syntax: "+verb+" hostname")
			return
		}
		ss.helo, ss.esmtp = arg, verb == "EHLO"
		ss.resetTransaction()
		if !ss.esmtp {
			ss.reply(250, ss.s.cfg.Hostname)
			return
		}
		ss.reply(250, ss.s.cfg.Hostname+" greets "+arg, "SIZE "+strconv.FormatInt(ss.s.cfg.MaxSize, 10),
			"8BITMIME", "ENHANCEDSTATUSCODES", "AUTH PLAIN LOGIN", "HELP")
	case "AUTH":
		ss.auth(arg)
	case "MAIL":
		ss.mail(arg)
	case "RCPT":
		ss.rcpt(arg)
	case "DATA":
		ss.data(arg)
	case "RSET":
		ss.resetTransaction()
		ss.reply(250, "2.0.0 Ok")
	case "NOOP":
		ss.reply(250, "2.0.0 Ok")
	case "VRFY":
		ss.reply(252, "2.5.2 Cannot VRFY user, but will accept message and attempt delivery")
	case "HELP":
		ss.reply(214, "2.0.0 Commands: EHLO HELO AUTH MAIL RCPT DATA RSET NOOP VRFY QUIT")
	case "QUIT":
		ss.reply(221, "2.0.0 Bye")
	case "STARTTLS":
		ss.reply(502, "5.5.1 STARTTLS not supported by this simulator")
	default:
		ss.reply(500, "5.5.2 Command not recognized")
	}
}

func (ss *session) auth(arg string) {
	mech, initial, _ := strings.Cut(arg, " ")
	switch {
	case !ss.esmtp:
		ss.reply(503, "5.5.1 Send EHLO first")
		return
	case ss.user != "":
		ss.reply(503, "5.5.1 Already authenticated")
		return
	case ss.from != nil:
		ss.reply(503, "5.5.1 AUTH not allowed during a mail transaction")
		return
	}
	var user, pass string
	switch strings.ToUpper(mech) {
	case "PLAIN":
		if initial == "" {
			ss.reply(334, "")
			var ok bool
			if initial, ok = ss.readAuthLine(); !ok {
				return
			}
		}
		b, err := base64.StdEncoding.DecodeString(initial)
		parts := bytes.Split(b, []byte{0})
		if err != nil || len(parts) != 3 {
			ss.reply(501, "5.5.2 Cannot decode AUTH PLAIN response")
			return
		}
		user, pass = string(parts[1]), string(parts[2])
	case "LOGIN":
		var u, p string
		var ok bool
		if initial != "" {
			u = initial
		} else {
			ss.reply(334, base64.StdEncoding.EncodeToString([]byte("Username:")))
			if u, ok = ss.readAuthLine(); !ok {
				return
			}
		}
		ss.reply(334, base64.StdEncoding.EncodeToString([]byte("Password:")))
		if p, ok = ss.readAuthLine(); !ok {
			return
		}
		ub, err1 := base64.StdEncoding.DecodeString(u)
		pb, err2 := base64.StdEncoding.DecodeString(p)
		if err1 != nil || err2 != nil {
			ss.reply(501, "5.5.2 Cannot decode AUTH LOGIN response")
			return
		}
		user, pass = string(ub), string(pb)
	default:
		ss.reply(504, "5.5.4 Unrecognized authentication type")
		return
	}
	if user != ss.s.cfg.Username || pass != ss.s.cfg.Password {
		ss.reply(535, "5.7.8 Authentication credentials invalid")
		return
	}
	ss.user = user
	ss.reply(235, "2.7.0 Authentication successful")
}

// readAuthLine reads a client's answer to a 334 challenge; "*" cancels.
func (ss *session) readAuthLine() (string, bool) {
	line, err := ss.readLine()
	if err != nil {
		ss.closed = true
		return "", false
	}
	if line == "*" {
		ss.reply(501, "5.0.0 Authentication cancelled")
		return "", false
	}
	return line, true
}

// path parses "FROM:<addr> PARAMS" (or "TO:"): the address in angle
// brackets and the ESMTP parameters after it.
func path(arg, prefix string) (addr string, params []string, ok bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", nil, false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", nil, false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", nil, false
	}
	return rest[1:end], strings.Fields(rest[end+1:]), true
}

func validMailbox(a string) bool {
	local, domain, ok := strings.Cut(a, "@")
	return ok && local != "" && domain != "" && !strings.ContainsAny(a, " <>\t")
}

func (ss *session) mail(arg string) {
	switch {
	case ss.helo == "":
		ss.reply(503, "5.5.1 Send HELO/EHLO first")
		return
	case ss.from != nil:
		ss.reply(503, "5.5.1 Nested MAIL command")
		return
	case ss.s.cfg.RequireAuth && ss.user == "":
		ss.reply(530, "5.7.0 Authentication required")
		return
	}
	addr, params, ok := path(arg, "FROM:")
	if !ok || (addr != "" && !validMailbox(addr)) {
		ss.reply(501, "5.1.7 Bad sender address syntax")
		return
	}
	active := ss.s.faults.Active()
	if o := active.Outage; o != nil && time.Now().Before(o.Until) {
		ss.reply(421, "4.3.2 Service not available, closing transmission channel")
		return
	}
	if hit, wait := ss.s.rateLimited(active.RateLimit); hit {
		ss.reply(450, fmt.Sprintf("4.7.1 Rate limit exceeded, try again in %d seconds", wait))
		return
	}
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		switch strings.ToUpper(k) {
		case "SIZE":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				ss.reply(501, "5.5.4 Bad SIZE parameter")
				return
			}
			if n > ss.s.cfg.MaxSize {
				ss.reply(552, fmt.Sprintf("5.3.4 Message size exceeds fixed maximum message size (%d)", ss.s.cfg.MaxSize))
				return
			}
		case "BODY", "AUTH":
		default:
			ss.reply(555, "5.5.4 Unsupported MAIL parameter "+k)
			return
		}
	}
	ss.from = &addr
	ss.reply(250, "2.1.0 Ok")
}

func (ss *session) rcpt(arg string) {
	if ss.from == nil {
		ss.reply(503, "5.5.1 Need MAIL command")
		return
	}
	addr, _, ok := path(arg, "TO:")
	if !ok || !validMailbox(addr) {
		ss.reply(501, "5.1.3 Bad recipient address syntax")
		return
	}
	if len(ss.to) >= ss.s.cfg.MaxRecipients {
		ss.reply(452, "4.5.3 Too many recipients")
		return
	}
	switch {
	case ss.s.recipientBehaviour(addr) == RecipientUnknown:
		ss.reply(550, "5.1.1 <"+addr+">: Recipient address rejected: User unknown")
		return
	case ss.s.recipientBehaviour(addr) == RecipientBusy || ss.s.faults.Flag(FaultBusy):
		ss.reply(450, "4.2.1 <"+addr+">: Mailbox busy, try again later")
		return
	}
	ss.to = append(ss.to, addr)
	ss.reply(250, "2.1.5 Ok")
}

func (ss *session) data(arg string) {
	switch {
	case arg != "":
		ss.reply(501, "5.5.4 Syntax: DATA")
		return
	case ss.from == nil:
		ss.reply(503, "5.5.1 Need MAIL command")
		return
	case len(ss.to) == 0:
		ss.reply(554, "5.5.1 No valid recipients")
		return
	}
	ss.reply(354, "End data with <CR><LF>.<CR><LF>")
	_ = ss.conn.SetReadDeadline(time.Now().Add(ss.s.cfg.IdleTimeout))
	raw, tooBig, err := readData(ss.r, ss.s.cfg.MaxSize)
	if err != nil {
		ss.closed = true
		return
	}
	if tooBig {
		ss.resetTransaction()
		ss.reply(552, fmt.Sprintf("5.3.4 Message size exceeds fixed maximum message size (%d)", ss.s.cfg.MaxSize))
		return
	}
	from, to := *ss.from, ss.to
	ss.resetTransaction()

	if ss.s.faults.Flag(FaultTempfailData) {
		ss.reply(451, "4.3.0 Error: queue file write error, try again later")
		return
	}
	if e := ss.s.faults.Active().Errors; e != nil && ss.s.chance(e.Rate) {
		if e.Status == 0 || e.Status >= 500 {
			ss.reply(554, "5.3.0 Transaction failed (injected)")
		} else {
			ss.reply(451, "4.3.0 Local error in processing (injected)")
		}
		return
	}
	now := time.Now().UTC()
	remote := ss.conn.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(remote); err == nil {
		remote = h
	}
	with := "ESMTP"
	if !ss.esmtp {
		with = "SMTP"
	} else if ss.user != "" {
		with = "ESMTPA"
	}
	received := fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s with %s;\r\n\t%s\r\n", ss.helo, remote, ss.s.cfg.Hostname, with, now.Format(time.RFC1123Z))
	m := parse(append([]byte(received), raw...))
	m.From, m.To, m.Received, m.Helo, m.AuthUser = from, to, now, ss.helo, ss.user
	ss.s.store(m)
	ss.s.log.Info("message received", "id", m.ID, "recipients", len(to), "size", m.Size)
	if ss.s.faults.Flag(FaultDropAfterData) {
		if tc, ok := ss.conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		ss.closed = true
		return
	}
	ss.reply(250, "2.0.0 Ok: queued as "+m.ID)
}

// readData reads the DATA section up to the line ".": lines are kept as
// sent (CRLF stays CRLF) and a leading dot is removed (RFC 5321 4.5.2).
// Beyond maxSize it reads on to the end but keeps nothing and reports
// tooBig.
func readData(r *bufio.Reader, maxSize int64) (data []byte, tooBig bool, err error) {
	var line []byte
	long := false // the current line was too long to keep
	for {
		chunk, err := r.ReadSlice('\n')
		if !long {
			line = append(line, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			if int64(len(line)) > maxSize {
				tooBig, long, line, data = true, true, line[:0], nil
			}
			continue
		}
		if err != nil {
			return nil, false, err
		}
		if long {
			long = false
			continue
		}
		if string(line) == ".\r\n" || string(line) == ".\n" {
			return data, tooBig, nil
		}
		if line[0] == '.' {
			line = line[1:]
		}
		if !tooBig && int64(len(data)+len(line)) > maxSize {
			tooBig, data = true, nil
		}
		if !tooBig {
			data = append(data, line...)
		}
		line = line[:0]
	}
}
