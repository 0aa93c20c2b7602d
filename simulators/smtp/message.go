package smtp

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// maxDepth bounds nested multiparts.
const maxDepth = 5

// Message is one message as the simulator stored it.
type Message struct {
	ID       string    `json:"id"`
	From     string    `json:"mail_from"` // envelope sender (MAIL FROM)
	To       []string  `json:"rcpt_to"`   // envelope recipients (RCPT TO)
	Received time.Time `json:"received"`
	Helo     string    `json:"helo"`
	AuthUser string    `json:"auth_user,omitempty"`
	Size     int       `json:"size"`
	// Parsed from the content; ParseError is set (and the rest may be
	// empty) when net/mail could not read it. A real server stores it anyway.
	Header     map[string][]string `json:"header,omitempty"`
	Subject    string              `json:"subject,omitempty"` // RFC 2047 decoded
	Text       string              `json:"text,omitempty"`    // the first text/plain part, decoded
	HTML       string              `json:"html,omitempty"`    // the first text/html part, decoded
	Parts      []Part              `json:"parts,omitempty"`   // every leaf part
	ParseError string              `json:"parse_error,omitempty"`
	Raw        string              `json:"raw,omitempty"` // as received, with the Received header added
}

// Part is one leaf of a MIME message.
type Part struct {
	ContentType string `json:"content_type"`
	Filename    string `json:"filename,omitempty"`
	Size        int    `json:"size"` // decoded
}

var wordDecoder = mime.WordDecoder{}

func parse(raw []byte) *Message {
	m := &Message{Raw: string(raw), Size: len(raw)}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		m.ParseError = err.Error()
		return m
	}
	m.Header = msg.Header
	if subj, err := wordDecoder.DecodeHeader(msg.Header.Get("Subject")); err == nil {
		m.Subject = subj
	} else {
		m.Subject = msg.Header.Get("Subject")
	}
	if err := m.walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), "", msg.Body, 0); err != nil {
		m.ParseError = err.Error()
	}
	return m
}

// walk records the leaves of a (possibly multipart) body.
func (m *Message) walk(contentType, encoding, disposition string, body io.Reader, depth int) error {
	if contentType == "" {
		contentType = "text/plain; charset=us-ascii"
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return err
	}
	if strings.HasPrefix(mt, "multipart/") && depth < maxDepth {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := m.walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p.Header.Get("Content-Disposition"), p, depth+1); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body) // ignores line breaks
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	part := Part{ContentType: mt, Size: len(data)}
	if _, dp, err := mime.ParseMediaType(disposition); err == nil {
		part.Filename = dp["filename"]
	}
	if part.Filename == "" {
		part.Filename = params["name"]
	}
	m.Parts = append(m.Parts, part)
	if part.Filename == "" {
		switch {
		case mt == "text/plain" && m.Text == "":
			m.Text = string(data)
		case mt == "text/html" && m.HTML == "":
			m.HTML = string(data)
		}
	}
	return nil
}
