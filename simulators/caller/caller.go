// Package caller is a scripted phone caller: a SIP user agent (diago as UAC)
// that dials a number, waits for the answer and plays a keypad script with
// timing, as a person on a phone would. It stands in for the public: it
// imports nothing from core or connectors.
package caller

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"syscall"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// DTMF modes: how digits are sent.
const (
	// DTMFRFC4733 sends telephone-event RTP packets as diago does (first
	// packet with duration 160).
	DTMFRFC4733 = "rfc4733"
	// DTMFRFC4733Zero sends telephone-event RTP packets whose first packet has
	// duration 0, as SIPp's stock captures and some gateways do.
	DTMFRFC4733Zero = "rfc4733-zero"
	// DTMFInfo sends SIP INFO application/dtmf-relay.
	DTMFInfo = "info"
)

// Step is one line of a keypad script: wait, then press keys.
type Step struct {
	Wait   time.Duration
	Keys   string
	Hangup bool
}

// ParseScript reads a script such as "wait 2s, press 1, enter 0104194512#,
// hangup". Steps are separated by commas or semicolons; "press" and "enter"
// both send their keys one after another.
func ParseScript(s string) ([]Step, error) {
	var steps []Step
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '\n' }) {
		f := strings.Fields(strings.TrimSpace(part))
		if len(f) == 0 {
			continue
		}
		switch strings.ToLower(f[0]) {
		case "wait", "pause":
			if len(f) != 2 {
				return nil, fmt.Errorf("caller: %q: want wait <duration>", part)
			}
			d, err := time.ParseDuration(f[1])
			if err != nil || d < 0 {
				return nil, fmt.Errorf("caller: %q: bad duration", part)
			}
			steps = append(steps, Step{Wait: d})
		case "press", "enter", "type":
			if len(f) != 2 {
				return nil, fmt.Errorf("caller: %q: want %s <keys>", part, f[0])
			}
			for _, r := range f[1] {
				if !strings.ContainsRune("0123456789*#ABCD", r) {
					return nil, fmt.Errorf("caller: %q: %q is not a key", part, r)
				}
			}
			steps = append(steps, Step{Keys: f[1]})
		case "hangup":
			steps = append(steps, Step{Hangup: true})
		default:
			return nil, fmt.Errorf("caller: %q: unknown step (want wait, press, enter, hangup)", part)
		}
	}
	return steps, nil
}

// Config is one call.
type Config struct {
	// Target is the SIP URI to dial, for example sip:116117@127.0.0.1:5060.
	Target string
	// Transport: udp (default) or tcp.
	Transport string
	// BindHost is the local address (default 127.0.0.1); the port is chosen freely.
	BindHost string
	// From is the caller's user part (their number), default 0351000000.
	From string
	// DTMF is the digit mode, default rfc4733.
	DTMF string
	// KeyGap is the pause between two keys of one step, default 150 ms.
	KeyGap time.Duration
	// WaitEnd is how long to wait after the script for the far end to hang
	// up before hanging up ourselves; default 30 s.
	WaitEnd time.Duration
	Logger  *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Transport == "" {
		c.Transport = "udp"
	}
	if c.BindHost == "" {
		c.BindHost = "127.0.0.1"
	}
	if c.From == "" {
		c.From = "0351000000"
	}
	if c.DTMF == "" {
		c.DTMF = DTMFRFC4733
	}
	if c.KeyGap == 0 {
		c.KeyGap = 150 * time.Millisecond
	}
	if c.WaitEnd == 0 {
		c.WaitEnd = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var u sip.Uri
	if err := sip.ParseUri(c.Target, &u); err != nil {
		return fmt.Errorf("caller: target %q: %w", c.Target, err)
	}
	if c.Transport != "udp" && c.Transport != "tcp" {
		return fmt.Errorf("caller: transport %q: want udp or tcp", c.Transport)
	}
	switch c.DTMF {
	case DTMFRFC4733, DTMFRFC4733Zero, DTMFInfo:
	default:
		return fmt.Errorf("caller: dtmf %q: want %s, %s or %s", c.DTMF, DTMFRFC4733, DTMFRFC4733Zero, DTMFInfo)
	}
	return nil
}

// Result tells how a call went.
type Result struct {
	Answered     bool
	Status       int  // final response code of the INVITE (200 when answered)
	RemoteHangup bool // the far end sent BYE
	Sent         string
	InfoStatus   []int // responses to SIP INFO, one per key
	Duration     time.Duration
}

// Call dials cfg.Target, plays the script and returns when the call is over.
func Call(ctx context.Context, cfg Config, script []Step) (*Result, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var target sip.Uri
	_ = sip.ParseUri(cfg.Target, &target)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.From), sipgo.WithUserAgentHostname(cfg.BindHost))
	if err != nil {
		return nil, err
	}
	defer ua.Close()
	dg := diago.NewDiago(ua, diago.WithLogger(cfg.Logger), diago.WithTransport(diago.Transport{Transport: cfg.Transport, BindHost: cfg.BindHost, BindPort: 0}))
	lctx, stopListen := context.WithCancel(ctx)
	defer stopListen()
	if err := dg.ServeBackground(lctx, func(in *diago.DialogServerSession) { _ = in.Respond(486, "Busy Here", nil) }); err != nil {
		return nil, fmt.Errorf("caller: listen: %w", err)
	}
	res := &Result{}
	began := time.Now()
	defer func() { res.Duration = time.Since(began) }()
	opts := diago.InviteOptions{Transport: cfg.Transport, Headers: []sip.Header{sip.NewHeader("X-Vaxhub-Sim", "caller")},
		OnResponse: func(r *sip.Response) error {
			if r.StatusCode >= 200 {
				res.Status = r.StatusCode
			}
			return nil
		}}
	dialog, med, err := dg.Invite(ctx, target, opts)
	// sipgo v1.7.3 reports a UDP listener ready before it enters the
	// connection pool; a request sent in between tries to bind the same port.
	for try := 0; err != nil && errors.Is(err, syscall.EADDRINUSE) && try < 50; try++ {
		time.Sleep(20 * time.Millisecond)
		dialog, med, err = dg.Invite(ctx, target, opts)
	}
	if err != nil {
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			res.Status = de.Res.StatusCode
			return res, nil
		}
		return res, fmt.Errorf("caller: invite: %w", err)
	}
	defer dialog.Close()
	defer med.Close()
	res.Answered, res.Status = true, 200
	cctx := dialog.Context()
	var dw *diago.DTMFWriter
	if cfg.DTMF != DTMFInfo {
		if dw, err = med.AudioWriterDTMF(); err != nil {
			return res, fmt.Errorf("caller: %w", err)
		}
	}
	var sb strings.Builder
	hungUp := false
script:
	for _, st := range script {
		if st.Wait > 0 {
			select {
			case <-time.After(st.Wait):
			case <-cctx.Done():
				break script
			case <-ctx.Done():
				break script
			}
		}
		if st.Hangup {
			hungUp = true
			break
		}
		for i, k := range st.Keys {
			if i > 0 {
				select {
				case <-time.After(cfg.KeyGap):
				case <-cctx.Done():
					break script
				}
			}
			if cctx.Err() != nil {
				break script
			}
			switch cfg.DTMF {
			case DTMFInfo:
				code, err := sendInfo(ctx, dialog, k)
				if err != nil {
					if hungUpMeanwhile(cctx) {
						break script
					}
					return res, err
				}
				res.InfoStatus = append(res.InfoStatus, code)
			case DTMFRFC4733Zero:
				if err := writeDTMFZeroFirst(med, k); err != nil {
					if hungUpMeanwhile(cctx) {
						break script
					}
					return res, fmt.Errorf("caller: dtmf: %w", err)
				}
			default:
				if err := dw.WriteDTMF(k); err != nil {
					if hungUpMeanwhile(cctx) {
						break script
					}
					return res, fmt.Errorf("caller: dtmf: %w", err)
				}
			}
			sb.WriteRune(k)
		}
	}
	res.Sent = sb.String()
	if !hungUp {
		select {
		case <-cctx.Done():
		case <-time.After(cfg.WaitEnd):
		case <-ctx.Done():
		}
	}
	if cctx.Err() != nil {
		res.RemoteHangup = true
		return res, nil
	}
	hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := dialog.Hangup(hctx); err != nil {
		return res, fmt.Errorf("caller: hangup: %w", err)
	}
	return res, nil
}

// hungUpMeanwhile reports whether the far end ended the call (its BYE may
// close the media socket while a key is being sent).
func hungUpMeanwhile(cctx context.Context) bool {
	select {
	case <-cctx.Done():
		return true
	case <-time.After(500 * time.Millisecond):
		return cctx.Err() != nil
	}
}

// sendInfo sends one key as SIP INFO application/dtmf-relay and returns the
// response code.
func sendInfo(ctx context.Context, d *diago.DialogClientSession, k rune) (int, error) {
	req := sip.NewRequest(sip.INFO, d.InviteRequest.Recipient)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
	req.SetBody([]byte(fmt.Sprintf("Signal=%c\r\nDuration=160\r\n", k)))
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := d.Do(ictx, req)
	if err != nil {
		return 0, fmt.Errorf("caller: info: %w", err)
	}
	return r.StatusCode, nil
}

// writeDTMFZeroFirst sends one RFC 4733 event whose first packet has duration 0.
func writeDTMFZeroFirst(med *diago.DialogMedia, k rune) error {
	pt := uint8(101)
	for _, c := range med.MediaSession().CommonCodecs() {
		if c.Matches(media.CodecTelephoneEvent8000) {
			pt = c.PayloadType
		}
	}
	evs := media.RTPDTMFEncode8000(k)
	evs[0].Duration = 0
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for i, e := range evs {
		<-t.C
		if _, err := med.RTPPacketWriter.WriteSamples(media.DTMFEncode(e), 0, i == 0, pt); err != nil {
			return err
		}
	}
	return nil
}

// Main runs one scripted call: `vaxhub sim caller -target sip:...
// -script "wait 2s, press 1"`.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("caller", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var cfg Config
	var script string
	fs.StringVar(&cfg.Target, "target", "sip:116117@127.0.0.1:5060", "SIP URI to dial")
	fs.StringVar(&cfg.Transport, "transport", "udp", "udp or tcp")
	fs.StringVar(&cfg.From, "from", "0351000000", "caller number (From user)")
	fs.StringVar(&cfg.DTMF, "dtmf", DTMFRFC4733, "rfc4733, rfc4733-zero or info")
	fs.DurationVar(&cfg.WaitEnd, "wait-end", 60*time.Second, "how long to wait for the far end to hang up after the script")
	fs.StringVar(&script, "script", "wait 3s, press 0", `keypad script, e.g. "wait 2s, press 1, enter 0104194512#"`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	steps, err := ParseScript(script)
	if err != nil {
		return err
	}
	res, err := Call(ctx, cfg, steps)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "status=%d answered=%t remote_hangup=%t sent=%q duration=%s\n", res.Status, res.Answered, res.RemoteHangup, res.Sent, res.Duration.Round(time.Millisecond))
	return nil
}
