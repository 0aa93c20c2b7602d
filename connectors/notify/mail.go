package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"time"

	"github.com/vaxhub/vaxhub/connectors/jobs"
)

// MailConfig configures the mail server (SMTP submission).
type MailConfig struct {
	Addr     string // host:port
	User     string // empty: no AUTH
	Password string
	From     string
	// Timeout bounds one delivery. Default 20 s.
	Timeout time.Duration
}

type mailer struct{ cfg MailConfig }

// messageID is the Message-ID of the e-mail with idempotency key key: the
// same on every try, so a receiver can tell a repeat.
func messageID(key string) string {
	h := sha256.Sum256([]byte(key))
	return "<" + hex.EncodeToString(h[:12]) + "@notify.vaxhub>"
}

// send delivers one plain-text e-mail. A 5xx answer is permanent (the
// address is refused), a 4xx or a broken connection is retried.
func (m *mailer) send(ctx context.Context, to, subject, body, msgID string) error {
	timeout := m.cfg.Timeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	host, _, err := net.SplitHostPort(m.cfg.Addr)
	if err != nil {
		return jobs.Permanent(fmt.Errorf("smtp_addr %q: %w", m.cfg.Addr, err))
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.cfg.Addr)
	if err != nil {
		return fmt.Errorf("mail server: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return classify("greeting", err)
	}
	defer c.Close()
	if err := c.Hello("notify.vaxhub"); err != nil {
		return classify("EHLO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return classify("STARTTLS", err)
		}
	}
	if m.cfg.User != "" {
		if err := c.Auth(smtp.PlainAuth("", m.cfg.User, m.cfg.Password, host)); err != nil {
			return classify("AUTH", err)
		}
	}
	if err := c.Mail(m.cfg.From); err != nil {
		return classify("MAIL", err)
	}
	if err := c.Rcpt(to); err != nil {
		return classify("RCPT", err)
	}
	wc, err := c.Data()
	if err != nil {
		return classify("DATA", err)
	}
	if _, err := wc.Write(compose(m.cfg.From, to, subject, body, msgID)); err != nil {
		return classify("DATA", err)
	}
	if err := wc.Close(); err != nil {
		return classify("end of DATA", err)
	}
	_ = c.Quit()
	return nil
}

func classify(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return jobs.Permanent(fmt.Errorf("mail server refused at %s: %w", step, err))
	}
	return fmt.Errorf("mail server at %s: %w", step, err)
}

// compose builds the message: UTF-8 plain text, quoted-printable, the
// subject RFC 2047-encoded.
func compose(from, to, subject, body, msgID string) []byte {
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", from)
	h("To", to)
	h("Subject", mime.QEncoding.Encode("utf-8", subject))
	h("Date", time.Now().Format(time.RFC1123Z))
	h("Message-ID", msgID)
	h("Auto-Submitted", "auto-generated")
	h("MIME-Version", "1.0")
	h("Content-Type", `text/plain; charset="utf-8"`)
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write(bytes.ReplaceAll([]byte(body), []byte("\n"), []byte("\r\n")))
	_ = qp.Close()
	return b.Bytes()
}
