package sms

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Headers of a status callback.
const (
	HeaderSignature        = "X-Twilio-Signature"
	HeaderIdempotencyToken = "I-Twilio-Idempotency-Token"
)

// Signature computes X-Twilio-Signature: base64 HMAC-SHA1, keyed with the
// auth token, of the full callback URL followed by every POST parameter,
// sorted by name, as name and value with no separators.
func Signature(authToken, callbackURL string, params url.Values) string {
	m := hmac.New(sha1.New, []byte(authToken))
	io.WriteString(m, callbackURL)
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range params[k] {
			io.WriteString(m, k)
			io.WriteString(m, v)
		}
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// ValidSignature reports whether sig is the signature of a callback to
// callbackURL with params, compared in constant time.
func ValidSignature(authToken, sig, callbackURL string, params url.Values) bool {
	return hmac.Equal([]byte(sig), []byte(Signature(authToken, callbackURL, params)))
}

// callback POSTs a status change to the message's StatusCallback (or the
// configured default): form-encoded, signed, the same idempotency token on
// every try. Up to three tries on a network error or a 5xx; a 4xx is final.
func (s *Sim) callback(m Message) {
	target := m.StatusCallback
	if target == "" {
		target = s.cfg.StatusCallback
	}
	if target == "" || s.faults.Flag(FaultLoseCallbacks) {
		return
	}
	p := url.Values{
		"AccountSid": {m.AccountSID}, "ApiVersion": {APIVersion}, "From": {m.From}, "To": {m.To},
		"MessageSid": {m.SID}, "SmsSid": {m.SID}, "MessageStatus": {m.Status}, "SmsStatus": {m.Status},
	}
	if m.MessagingServiceSID != "" {
		p.Set("MessagingServiceSid", m.MessagingServiceSID)
	}
	if m.ErrorCode != 0 {
		p.Set("ErrorCode", strconv.Itoa(m.ErrorCode))
	}
	token := m.SID + "-" + m.Status + "-" + randomHex(4)
	sig := Signature(s.cfg.AuthToken, target, p)
	body := p.Encode()
	s.hookWG.Add(1)
	go func() {
		defer s.hookWG.Done()
		for attempt := range 3 {
			switch code := s.post(target, body, sig, token); {
			case code/100 == 2:
				s.mu.Lock()
				if cur, ok := s.messages[m.SID]; ok {
					cur.Callbacks++
				}
				s.mu.Unlock()
				return
			case code != 0 && code < 500:
				s.log.Warn("status callback refused", "sid", m.SID, "status", m.Status, "code", code)
				return
			}
			select {
			case <-s.stop:
				return
			case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
			}
		}
		s.log.Warn("status callback not delivered", "sid", m.SID, "status", m.Status)
	}()
}

// post makes one try and answers the status code, 0 for a network error.
func (s *Sim) post(target, body, sig, token string) int {
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set(HeaderSignature, sig)
	req.Header.Set(HeaderIdempotencyToken, token)
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}
