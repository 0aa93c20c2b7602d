package letter_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/print/letter"
)

func needPoppler(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"pdftotext", "pdfinfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH: install the Debian package poppler-utils (apt-get install poppler-utils) to run the PDF content tests; .ci/run installs it", tool)
		}
	}
}

func writePDF(t *testing.T, pdf []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "letter.pdf")
	if err := os.WriteFile(p, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pdfText is what pdftotext reads from the PDF, pages separated by form feeds.
func pdfText(t *testing.T, path string, args ...string) string {
	t.Helper()
	out, err := exec.Command("pdftotext", append(append(args, "-enc", "UTF-8"), path, "-")...).Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

type info struct {
	pages      int
	pageSize   string
	title, lng string
}

func pdfInfo(t *testing.T, path string) info {
	t.Helper()
	out, err := exec.Command("pdfinfo", path).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfinfo: %v\n%s", err, out)
	}
	var in info
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Pages":
			in.pages, _ = strconv.Atoi(v)
		case "Page size":
			in.pageSize = v
		case "Title":
			in.title = v
		}
	}
	return in
}

func renderer(t testing.TB) *letter.Renderer {
	t.Helper()
	r, err := letter.New(letter.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func berlin(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// collapse joins what pdftotext split over lines, so that phrases can be
// found whatever the line breaks.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestEveryKindPrintsNameDatesAndReferenceOnA4(t *testing.T) {
	needPoppler(t)
	r := renderer(t)
	loc := berlin(t)
	const name = "Zoë Nguyễn-Ćosić Weiß"
	for _, k := range letter.Kinds {
		t.Run(string(k), func(t *testing.T) {
			l := letter.Sample(k, loc)
			l.Recipient.Name = name
			doc, err := r.Render(l)
			if err != nil {
				t.Fatal(err)
			}
			path := writePDF(t, doc.PDF)
			in := pdfInfo(t, path)
			if in.pages != doc.Pages {
				t.Errorf("pdfinfo counts %d pages, the renderer says %d", in.pages, doc.Pages)
			}
			if !strings.Contains(in.pageSize, "595.28 x 841.89") {
				t.Errorf("page size %q, want A4 (595.28 x 841.89 pts)", in.pageSize)
			}
			text := pdfText(t, path)
			flat := collapse(text)
			want := []string{name, "Guten Tag " + name + ",", "4711 0815 02", "01587 Riesa", "Montag, 19. April 2021, 09:15", "12.04.2021"}
			switch k {
			case letter.Confirmation, letter.WaitlistOffer:
				want = append(want, "Montag, 17. Mai 2021, 09:15", "Am Sportzentrum 5", "Lichtbildausweis", "Merkblatt zur Schutzimpfung", "Anamnese- und Einwilligungsbogen")
			case letter.Changed:
				want = append(want, "Montag, 31. Mai 2021, 09:15", "Ihre neuen Termine")
			case letter.Cancellation:
				want = append(want, "(abgesagt)", "Impfempfehlung")
			}
			for _, w := range want {
				if !strings.Contains(flat, w) {
					t.Errorf("%s letter: %q is not in the text pdftotext reads:\n%s", k, w, text)
				}
			}
		})
	}
}

func TestPageCountIsLetterPlusEnclosures(t *testing.T) {
	needPoppler(t)
	r := renderer(t)
	cases := []struct {
		kind        letter.Kind
		attachments []string
		pages       int
	}{
		{letter.Confirmation, nil, 3},        // letter, information sheet, form
		{letter.Confirmation, []string{}, 1}, // no enclosures
		{letter.Cancellation, nil, 1},        // nothing enclosed
		{letter.Reminder, nil, 2},            // letter and form
		{letter.Changed, []string{"merkblatt.md", "merkblatt.md"}, 3},
	}
	for _, c := range cases {
		l := letter.Sample(c.kind, nil)
		l.Attachments = c.attachments
		doc, err := r.Render(l)
		if err != nil {
			t.Fatal(err)
		}
		in := pdfInfo(t, writePDF(t, doc.PDF))
		if in.pages != c.pages || doc.Pages != c.pages || doc.LetterPages != 1 {
			t.Errorf("%s with %v: pdfinfo %d pages, renderer %d (letter %d), want %d", c.kind, c.attachments, in.pages, doc.Pages, doc.LetterPages, c.pages)
		}
	}
}

// TestAddressSitsInTheWindow reads the text inside the DIN 5008 Form B
// address field (20 mm from the left, 45 mm from the top, 85 x 45 mm) with
// pdftotext's crop box: the recipient is there, and nothing of the body.
func TestAddressSitsInTheWindow(t *testing.T) {
	needPoppler(t)
	l := letter.Sample(letter.Confirmation, nil)
	doc, err := renderer(t).Render(l)
	if err != nil {
		t.Fatal(err)
	}
	pt := func(mm float64) int { return int(mm * 72 / 25.4) }
	x, y := pt(letter.AddressFieldX), pt(letter.AddressFieldY)
	w, h := pt(letter.AddressFieldWidth), pt(letter.AddressFieldHeight)
	window := pdfText(t, writePDF(t, doc.PDF), "-f", "1", "-l", "1", "-x", strconv.Itoa(x), "-y", strconv.Itoa(y), "-W", strconv.Itoa(w), "-H", strconv.Itoa(h))
	flat := collapse(window)
	for _, want := range []string{letter.SampleName, "Straße des 17. Juni 12c, Hinterhaus", "01587 Riesa", "Postfach"} {
		if !strings.Contains(flat, want) {
			t.Errorf("%q is not in the address window; the window reads %q", want, flat)
		}
	}
	if strings.Contains(flat, "Guten Tag") || strings.Contains(flat, "Buchungsnummer") {
		t.Errorf("the window shows more than the address: %q", flat)
	}
}

func TestTooLongNameShrinksButStaysInTheWindow(t *testing.T) {
	needPoppler(t)
	l := letter.Sample(letter.Cancellation, nil)
	l.Recipient.Name = "Maria-Magdalena Wilhelmine Friederike Clementine von Lüttichau-Großschönau"
	doc, err := renderer(t).Render(l)
	if err != nil {
		t.Fatal(err)
	}
	text := collapse(pdfText(t, writePDF(t, doc.PDF), "-f", "1", "-l", "1", "-x", "56", "-y", "127", "-W", "241", "-H", "128"))
	if !strings.Contains(text, "Lüttichau-Großschönau") {
		t.Errorf("long name not in the window: %q", text)
	}
}

func TestDecomposedNamePrintsComposed(t *testing.T) {
	needPoppler(t)
	l := letter.Sample(letter.Reminder, nil)
	l.Recipient.Name = "Zoe\u0308 Nguye\u0302\u0303n" // NFD, as some registers deliver it
	doc, err := renderer(t).Render(l)
	if err != nil {
		t.Fatal(err)
	}
	if text := pdfText(t, writePDF(t, doc.PDF)); !strings.Contains(text, "Zoë Nguyễn") {
		t.Errorf("NFD name not printed composed:\n%s", text)
	}
}

func TestInvalidLettersAreRefused(t *testing.T) {
	r := renderer(t)
	cases := map[string]func(*letter.Letter){
		"unknown kind":        func(l *letter.Letter) { l.Kind = "invitation" },
		"no name":             func(l *letter.Letter) { l.Recipient.Name = " " },
		"no city":             func(l *letter.Letter) { l.Recipient.City = "" },
		"no reference":        func(l *letter.Letter) { l.Reference = "" },
		"no appointment":      func(l *letter.Letter) { l.Doses = nil },
		"unknown enclosure":   func(l *letter.Letter) { l.Attachments = []string{"nope.md"} },
		"change without past": func(l *letter.Letter) { l.Kind = letter.Changed; l.Previous = nil },
	}
	for name, mutate := range cases {
		l := letter.Sample(letter.Confirmation, nil)
		mutate(&l)
		if _, err := r.Render(l); !errors.Is(err, letter.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}

func TestSamplesWritesOneLetterOfEachKind(t *testing.T) {
	dir := t.TempDir()
	if err := letter.Samples(dir); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pdf"))
	if len(files) != len(letter.Kinds) {
		t.Fatalf("samples wrote %v, want %d PDFs", files, len(letter.Kinds))
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !bytes.HasPrefix(b, []byte("%PDF-")) {
			t.Errorf("%s is not a PDF", f)
		}
	}
}

func TestRenderingIsRepeatable(t *testing.T) {
	r := renderer(t)
	a, err := r.Render(letter.Sample(letter.Confirmation, nil))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := r.Render(letter.Sample(letter.Confirmation, nil))
	// The PDF ID and dates come from the letter, so the same letter gives the same bytes.
	re := regexp.MustCompile(`/ID \[[^]]*\]`)
	if !bytes.Equal(re.ReplaceAll(a.PDF, nil), re.ReplaceAll(b.PDF, nil)) {
		t.Error("the same letter rendered twice gives different PDFs")
	}
}

func BenchmarkRenderConfirmation(b *testing.B) {
	r := renderer(b)
	l := letter.Sample(letter.Confirmation, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(l); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderConfirmationParallel(b *testing.B) {
	r := renderer(b)
	l := letter.Sample(letter.Confirmation, nil)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Render(l); err != nil {
				b.Error(err)
			}
		}
	})
}
