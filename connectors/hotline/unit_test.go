package hotline

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emiago/diago/media"

	"github.com/vaxhub/vaxhub/core/domain"
)

func dtmfPayload(event uint8, end bool, dur uint16) []byte {
	return media.DTMFEncode(media.DTMFEvent{Event: event, EndOfEvent: end, Volume: 10, Duration: dur})
}

// sippCapture is the packet sequence of SIPp's dtmf_2833_<d>.pcap: first
// packet M=1 with duration 0, then 320..1920, then three end packets.
func sippCapture(d uint8) (pkts []struct {
	marker bool
	pl     []byte
}) {
	add := func(m bool, pl []byte) {
		pkts = append(pkts, struct {
			marker bool
			pl     []byte
		}{m, pl})
	}
	add(true, dtmfPayload(d, false, 0))
	for dur := uint16(320); dur <= 1920; dur += 320 {
		add(false, dtmfPayload(d, false, dur))
	}
	for range 3 {
		add(false, dtmfPayload(d, true, 2240))
	}
	return pkts
}

func TestDTMFDetectorReportsEventsWhoseFirstPacketHasDurationZero(t *testing.T) {
	var det dtmfDetector
	var got strings.Builder
	// 1, 2, 2 again from the same capture (same timestamp: a replay), then 3.
	for _, d := range []struct {
		digit uint8
		ts    uint32
	}{{1, 1000}, {2, 5000}, {2, 5000}, {3, 9000}} {
		for _, p := range sippCapture(d.digit) {
			if r, ok := det.packet(d.ts, p.marker, p.pl); ok {
				got.WriteRune(r)
			}
		}
	}
	if got.String() != "1223" {
		t.Fatalf("got %q, want 1223", got.String())
	}
}

func TestDTMFDetectorReportsAnEventWhoseEndPacketsWereLost(t *testing.T) {
	var det dtmfDetector
	var got strings.Builder
	for _, p := range [][]any{{uint32(10), true, dtmfPayload(5, false, 160)}, {uint32(10), false, dtmfPayload(5, false, 320)},
		{uint32(20), true, dtmfPayload(6, false, 160)}, {uint32(20), false, dtmfPayload(6, true, 800)}} {
		if r, ok := det.packet(p[0].(uint32), p[1].(bool), p[2].([]byte)); ok {
			got.WriteRune(r)
		}
	}
	if got.String() != "56" {
		t.Fatalf("got %q, want 56", got.String())
	}
}

func TestDTMFRelayBodies(t *testing.T) {
	for body, want := range map[string]rune{"Signal=5\r\nDuration=160\r\n": '5', "signal= #\nDuration=250": '#', "Signal=11\r\n": '#', "*": '*', "Signal=10": '*'} {
		if got, ok := parseDTMFRelay([]byte(body)); !ok || got != want {
			t.Errorf("%q: got %q %t, want %q", body, got, ok, want)
		}
	}
	for _, body := range []string{"", "Signal=\r\n", "Signal=X", "Duration=160"} {
		if _, ok := parseDTMFRelay([]byte(body)); ok {
			t.Errorf("%q: accepted", body)
		}
	}
}

func TestRegistrationNumberRoundTrips(t *testing.T) {
	for _, id := range []string{"01920c6e-5b7a-7cc2-9a3e-0d4f1a2b3c40", "00000000-0000-7000-8000-000000000001", "ffffffff-ffff-7fff-bfff-ffffffffffff"} {
		n, ok := RegistrationNumber(id)
		if !ok || len(n) != 39 || strings.Trim(n, "0123456789") != "" {
			t.Fatalf("%s: %q %t", id, n, ok)
		}
		back, ok := ResidentIDFromRegistrationNumber(n)
		if !ok || back != id {
			t.Errorf("%s -> %s -> %s", id, n, back)
		}
	}
	if _, ok := ResidentIDFromRegistrationNumber(strings.Repeat("9", 39)); ok {
		t.Error("a number above 2^128 was accepted")
	}
}

func TestEveryPromptIsGeneratedAndPlayable(t *testing.T) {
	p, err := LoadPrompts()
	if err != nil {
		t.Fatal(err)
	}
	ids := PromptIDs()
	if len(ids) < 100 {
		t.Fatalf("only %d prompts in texts.txt", len(ids))
	}
	for _, id := range ids {
		if !p.Has(id) {
			t.Errorf("prompt %s is in texts.txt but has no WAV: run go generate ./connectors/hotline", id)
		}
	}
	if len(p.pcm) != len(ids) {
		t.Errorf("%d WAV files, %d prompts in texts.txt", len(p.pcm), len(ids))
	}
	// "Dienstag, dem dreizehnten April um zehn Uhr fünfzehn im Impfzentrum Riesa" is all there.
	when := time.Date(2021, 4, 13, 10, 15, 0, 0, time.UTC)
	ids = append(append(append(sayDate(when), "at"), sayTime(when)...), "in", "centre-riesa")
	for _, id := range ids {
		if !p.Has(id) {
			t.Errorf("read-out prompt %s is missing", id)
		}
	}
	if d := p.Duration(ids...); d < 2*time.Second || d > 10*time.Second {
		t.Errorf("joined read-out plays %s", d)
	}
	if _, err := os.Stat("prompts/generate.sh"); err != nil {
		t.Error(err)
	}
}

func TestAdmissionLimitsRateAndHeldCallsPerSourceAndInAll(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type try struct {
		src  string
		at   time.Duration
		want refusal
	}
	for _, tc := range []struct {
		name                    string
		rate                    float64
		burst, perSource, total int
		releaseAll              bool // give every place back after each admitted call
		tries                   []try
	}{{
		name: "burst then rate, per source", rate: 1, burst: 2, perSource: 10, total: 10, releaseAll: true,
		tries: []try{{"a", 0, ""}, {"a", 0, ""}, {"a", 0, refusedRate}, {"b", 0, ""}, {"a", time.Second, ""}},
	}, {
		name: "held calls per source, before the total", rate: 100, burst: 100, perSource: 2, total: 3,
		tries: []try{{"a", 0, ""}, {"a", 0, ""}, {"a", 0, refusedSource}, {"b", 0, ""}, {"c", 0, refusedFull}},
	}, {
		name: "a refused call holds nothing", rate: 100, burst: 100, perSource: 1, total: 100,
		tries: []try{{"a", 0, ""}, {"a", 0, refusedSource}, {"a", 0, refusedSource}, {"b", 0, ""}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAdmission(tc.rate, tc.burst, tc.perSource, tc.total)
			var releases []func()
			for i, tr := range tc.tries {
				release, why := a.admit(tr.src, t0.Add(tr.at))
				if why != tr.want {
					t.Fatalf("try %d (%s): %q, want %q", i, tr.src, why, tr.want)
				}
				if (release == nil) != (why != "") {
					t.Fatalf("try %d: release %v with refusal %q", i, release != nil, why)
				}
				if release != nil {
					if tc.releaseAll {
						release()
					} else {
						releases = append(releases, release)
					}
				}
			}
			for _, r := range releases {
				r()
				r() // a second release changes nothing
			}
			if a.held != 0 {
				t.Errorf("%d places held after every release", a.held)
			}
		})
	}
}

func TestOffersG711(t *testing.T) {
	for sdp, want := range map[string]bool{
		"v=0\r\nm=audio 4000 RTP/AVP 8 101\r\n":                       true,
		"v=0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n": false,
		"v=0\r\nm=audio 4000 RTP/AVP 96\r\na=rtpmap:96 PCMU/8000\r\n": true,
		"":     false, // a late offer: refused with 488 at admission
		"\r\n": false,
	} {
		if got := offersG711([]byte(sdp)); got != want {
			t.Errorf("%q: %t", sdp, got)
		}
	}
}

func TestBookingConfirmationReadsTheReferenceTwiceThenDoseTwo(t *testing.T) {
	loc := time.UTC
	ap := &domain.Appointment{Reference: "1234567897", Doses: []domain.Dose{
		{Number: 1, Start: time.Date(2021, 4, 13, 10, 15, 0, 0, loc)}, {Number: 2, Start: time.Date(2021, 5, 4, 9, 0, 0, 0, loc)}}}
	got := strings.Join(bookingPrompts(ap, loc), " ")
	ref := strings.Join(sayDigits(ap.Reference), " ")
	want := "booked your-ref " + ref + " repeat " + ref + " second-dose weekday-2 ord-4 month-5 at num-9 uhr"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestConfigValidation(t *testing.T) {
	for name, c := range map[string]Config{
		"host name":       {Addr: "localhost:5060"},
		"no port":         {Addr: "127.0.0.1"},
		"sctp":            {Transports: []string{"sctp"}},
		"rtp range":       {RTPPortStart: 20000, RTPPortEnd: 10000},
		"negative burst":  {BurstPerSource: -1},
		"negative timing": {FirstDigitTimeout: -time.Second},
	} {
		c.setDefaults()
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var c Config
	c.setDefaults()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
