package hotline

import (
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed prompts/*.wav prompts/texts.txt
var promptFS embed.FS

// Prompts holds every prompt as 8 kHz 16-bit mono PCM, by prompt ID.
type Prompts struct {
	pcm map[string][]byte
}

// LoadPrompts reads the embedded prompts and checks their format.
func LoadPrompts() (*Prompts, error) {
	p := &Prompts{pcm: map[string][]byte{}}
	files, err := fs.Glob(promptFS, "prompts/*.wav")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := promptFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		pcm, err := wavPCM(b)
		if err != nil {
			return nil, fmt.Errorf("hotline: prompt %s: %w", f, err)
		}
		p.pcm[strings.TrimSuffix(path.Base(f), ".wav")] = pcm
	}
	return p, nil
}

// Has reports whether the prompt id exists.
func (p *Prompts) Has(id string) bool { _, ok := p.pcm[id]; return ok }

// IDs lists the prompts of texts.txt, in file order.
func PromptIDs() []string {
	b, _ := promptFS.ReadFile("prompts/texts.txt")
	var ids []string
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, _, _ := strings.Cut(line, "|")
		ids = append(ids, id)
	}
	return ids
}

// Join returns the PCM of the prompts one after another, with a short pause
// between them. Unknown IDs are skipped.
func (p *Prompts) Join(ids ...string) []byte {
	const gap = 8000 * 2 / 20 // 50 ms of silence
	n := 0
	for _, id := range ids {
		n += len(p.pcm[id]) + gap
	}
	out := make([]byte, 0, n)
	for i, id := range ids {
		b, ok := p.pcm[id]
		if !ok {
			continue
		}
		if i > 0 {
			out = append(out, make([]byte, gap)...)
		}
		out = append(out, b...)
	}
	return out
}

// Duration is how long the joined prompts play.
func (p *Prompts) Duration(ids ...string) time.Duration {
	return time.Duration(len(p.Join(ids...))/2) * time.Second / 8000
}

// wavPCM returns the samples of a RIFF/WAVE file of 8 kHz 16-bit mono PCM.
func wavPCM(b []byte) ([]byte, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, errors.New("not a RIFF/WAVE file")
	}
	var fmtOK bool
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:off+8]))
		body := off + 8
		if size < 0 || body+size > len(b) {
			size = len(b) - body
		}
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, errors.New("short fmt chunk")
			}
			format := binary.LittleEndian.Uint16(b[body:])
			ch := binary.LittleEndian.Uint16(b[body+2:])
			rate := binary.LittleEndian.Uint32(b[body+4:])
			bits := binary.LittleEndian.Uint16(b[body+14:])
			if format != 1 || ch != 1 || rate != 8000 || bits != 16 {
				return nil, fmt.Errorf("format %d, %d channels, %d Hz, %d bit: want PCM mono 8000 Hz 16 bit", format, ch, rate, bits)
			}
			fmtOK = true
		case "data":
			if !fmtOK {
				return nil, errors.New("data before fmt")
			}
			return b[body : body+size&^1], nil
		}
		off = body + size + size%2
	}
	return nil, errors.New("no data chunk")
}

// Read-out helpers: each returns prompt IDs to join.

var weekdayIDs = func() [7]string {
	var a [7]string
	for i := range a {
		a[i] = "weekday-" + strconv.Itoa(i)
	}
	return a
}()

// sayDate reads "Dienstag, dem dreizehnten April".
func sayDate(t time.Time) []string {
	return []string{weekdayIDs[t.Weekday()], "ord-" + strconv.Itoa(t.Day()), "month-" + strconv.Itoa(int(t.Month()))}
}

// sayTime reads "zehn Uhr fünfzehn" (minutes omitted on the hour).
func sayTime(t time.Time) []string {
	ids := []string{"num-" + strconv.Itoa(t.Hour()), "uhr"}
	if t.Minute() != 0 {
		ids = append(ids, "num-"+strconv.Itoa(t.Minute()))
	}
	return ids
}

// sayDigits reads a number digit by digit.
func sayDigits(s string) []string {
	ids := make([]string, 0, len(s))
	for _, r := range s {
		if r >= '0' && r <= '9' {
			ids = append(ids, "num-"+string(r))
		}
	}
	return ids
}

// sayCentre names a centre; an unknown centre is read as "Impfzentrum".
func (p *Prompts) sayCentre(id string) []string {
	if p.Has("centre-" + id) {
		return []string{"centre-" + id}
	}
	return []string{"centre"}
}

// sayRefusal reads a refusal by its code, or a generic sentence.
func (p *Prompts) sayRefusal(code string) []string {
	if p.Has("refusal-" + code) {
		return []string{"refusal-" + code}
	}
	return []string{"refusal-generic"}
}

// shortened returns prompts cut to at most d each (tests of timing).
func (p *Prompts) shortened(d time.Duration) *Prompts {
	n := int(d.Seconds()*8000) * 2
	q := &Prompts{pcm: map[string][]byte{}}
	for id, b := range p.pcm {
		q.pcm[id] = b[:min(len(b), n)]
	}
	return q
}
