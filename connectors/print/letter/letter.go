// Package letter renders the campaign's letters (appointment confirmation,
// cancellation, changed appointment, waitlist offer, reminder) as one A4 PDF
// each, in German, laid out after DIN 5008 Form B with the recipient in the
// window of a DL envelope, in an embedded Unicode font so that every name in
// the register prints. It never fetches data or sends anything: it renders
// what it is given.
package letter

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
	"golang.org/x/text/unicode/norm"

	"github.com/vaxhub/vaxhub/deploy/campaign"
)

// Kind is what a letter is about.
type Kind string

// The kinds of letter.
const (
	Confirmation  Kind = "confirmation"
	Cancellation  Kind = "cancellation"
	Changed       Kind = "changed"
	WaitlistOffer Kind = "waitlist-offer"
	Reminder      Kind = "reminder"
)

// Kinds lists every kind, in the order samples are rendered.
var Kinds = []Kind{Confirmation, Cancellation, Changed, WaitlistOffer, Reminder}

// Requestable lists the kinds staff may ask for (POST /api/v1/letters): every
// kind but Changed, which is sent only when an appointment moves. The one
// list: the print connector checks requests against it, and cmd/vaxhub hands
// it to the API (api.Config.LetterKinds), which does not import this package.
var Requestable = []Kind{Confirmation, Cancellation, WaitlistOffer, Reminder}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// ErrInvalid marks a letter that cannot be rendered from what it was given.
var ErrInvalid = errors.New("letter: invalid")

// Address is a postal address as it goes in the window.
type Address struct {
	Name       string
	Street     string
	PostalCode string
	City       string
}

// Centre is the vaccination centre the letter is about.
type Centre struct {
	Name       string
	Street     string
	PostalCode string
	City       string
}

// Dose is one appointment of a series.
type Dose struct {
	Number  int
	Product string // product ID: comirnaty, spikevax, vaxzevria, janssen
	Start   time.Time
	End     time.Time
}

// Letter is everything one letter says.
type Letter struct {
	Kind      Kind
	Recipient Address
	// Reference is the booking reference, printed and as a QR code.
	Reference string
	Centre    Centre
	// Doses are the appointments the letter announces (for Cancellation:
	// the cancelled ones; for Changed: the new ones).
	Doses []Dose
	// Previous are the appointments before a change (Changed only).
	Previous []Dose
	// Reason is the cancellation reason code: resident, staff, rules.
	Reason string
	// Date is the date of the letter.
	Date time.Time
	// Attachments are file names in the renderer's attachment folder,
	// appended as further pages. Nil means the default for the kind
	// (DefaultAttachments); an empty, non-nil slice means none.
	Attachments []string
}

// DefaultAttachments are the enclosures of each kind, from
// deploy/campaign/saxony-2021/letters.
func DefaultAttachments(k Kind) []string {
	switch k {
	case Confirmation, WaitlistOffer:
		return []string{"merkblatt.md", "anamnese-einwilligung.md"}
	case Changed, Reminder:
		return []string{"anamnese-einwilligung.md"}
	}
	return []string{}
}

// Sender is the office that signs the letters and takes calls.
type Sender struct {
	Organisation string // letterhead, first line
	Department   string // letterhead, second line
	ReturnLine   string // the small return address above the recipient
	Hotline      string
	Web          string
	Signature    string
}

// DefaultSender is the Saxony 2021 campaign's office.
var DefaultSender = Sender{
	Organisation: "Freistaat Sachsen · Impfkampagne 2021",
	Department:   "Zentrale Terminvergabe der Impfzentren",
	ReturnLine:   "Impfkampagne Sachsen · Postfach 10 09 41 · 01079 Dresden",
	Hotline:      "0800 0899 089",
	Web:          "sachsen.impfterminvergabe.de",
	Signature:    "Ihr Team der Impfterminvergabe",
}

// Config configures a Renderer.
type Config struct {
	// Attachments holds the enclosures named by Letter.Attachments
	// (Markdown-like text, see attachments.go). Default: the embedded
	// deploy/campaign/saxony-2021/letters.
	Attachments fs.FS
	// Location formats the appointment times. Default Europe/Berlin.
	Location *time.Location
	// Sender defaults to DefaultSender.
	Sender Sender
}

func (c *Config) setDefaults() error {
	if c.Attachments == nil {
		sub, err := fs.Sub(campaign.Embedded(), "saxony-2021/letters")
		if err != nil {
			return fmt.Errorf("letter: embedded attachments: %w", err)
		}
		c.Attachments = sub
	}
	if c.Location == nil {
		loc, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			return fmt.Errorf("letter: time zone: %w", err)
		}
		c.Location = loc
	}
	if c.Sender == (Sender{}) {
		c.Sender = DefaultSender
	}
	return nil
}

// Renderer renders letters. It is safe for concurrent use.
type Renderer struct {
	cfg         Config
	attachments map[string]string // name -> text, read once
}

// New checks cfg and reads the attachments, so that a missing enclosure fails
// at start-up rather than on the first letter.
func New(cfg Config) (*Renderer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	r := &Renderer{cfg: cfg, attachments: map[string]string{}}
	entries, err := fs.ReadDir(cfg.Attachments, ".")
	if err != nil {
		return nil, fmt.Errorf("letter: attachments: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "README.md" || !(strings.HasSuffix(e.Name(), ".md") || strings.HasSuffix(e.Name(), ".txt")) {
			continue
		}
		b, err := fs.ReadFile(cfg.Attachments, e.Name())
		if err != nil {
			return nil, fmt.Errorf("letter: attachment %s: %w", e.Name(), err)
		}
		r.attachments[e.Name()] = norm.NFC.String(string(b))
	}
	for _, k := range Kinds {
		for _, a := range DefaultAttachments(k) {
			if _, ok := r.attachments[a]; !ok {
				return nil, fmt.Errorf("letter: default attachment %s of %s letters is missing", a, k)
			}
		}
	}
	return r, nil
}

// Document is one rendered letter.
type Document struct {
	PDF   []byte
	Pages int
	// LetterPages is the number of pages before the enclosures.
	LetterPages int
}

//go:embed fonts/DejaVuSans.ttf
var fontRegular []byte

//go:embed fonts/DejaVuSans-Bold.ttf
var fontBold []byte

const family = "DejaVu"

// Validate reports the first thing missing from l.
func (l *Letter) Validate() error {
	switch {
	case !l.Kind.Valid():
		return fmt.Errorf("%w: unknown kind %q", ErrInvalid, l.Kind)
	case strings.TrimSpace(l.Recipient.Name) == "":
		return fmt.Errorf("%w: recipient has no name", ErrInvalid)
	case l.Recipient.PostalCode == "" || l.Recipient.City == "":
		return fmt.Errorf("%w: recipient address has no postal code or city", ErrInvalid)
	case l.Reference == "":
		return fmt.Errorf("%w: no booking reference", ErrInvalid)
	case len(l.Doses) == 0:
		return fmt.Errorf("%w: no appointment", ErrInvalid)
	case l.Kind == Changed && len(l.Previous) == 0:
		return fmt.Errorf("%w: a changed-appointment letter needs the previous appointment", ErrInvalid)
	case l.Date.IsZero():
		return fmt.Errorf("%w: no date", ErrInvalid)
	}
	return nil
}

// Render renders one letter and its enclosures as one PDF.
func (r *Renderer) Render(l Letter) (*Document, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	l.Recipient.Name = norm.NFC.String(l.Recipient.Name)
	l.Recipient.Street = norm.NFC.String(l.Recipient.Street)
	l.Recipient.City = norm.NFC.String(l.Recipient.City)
	atts := l.Attachments
	if atts == nil {
		atts = DefaultAttachments(l.Kind)
	}
	for _, a := range atts {
		if _, ok := r.attachments[a]; !ok {
			return nil, fmt.Errorf("%w: attachment %q is not in the letters folder", ErrInvalid, a)
		}
	}

	pdf := fpdf.NewCustom(&fpdf.InitType{OrientationStr: "P", UnitStr: "mm", SizeStr: "A4"})
	pdf.SetCompression(true)
	pdf.SetCreationDate(l.Date)
	pdf.SetModificationDate(l.Date)
	pdf.SetCatalogSort(true)
	pdf.SetCreator("vaxhub connectors/print/letter", true)
	pdf.SetTitle(subject(l.Kind)+" "+l.Reference, true)
	pdf.SetLang("de-DE")
	pdf.AddUTF8FontFromBytes(family, "", fontRegular)
	pdf.AddUTF8FontFromBytes(family, "B", fontBold)
	pdf.SetMargins(marginLeft, 20, marginRight)
	pdf.SetAutoPageBreak(true, 25)
	w := &writer{pdf: pdf, l: &l, cfg: &r.cfg}
	pdf.SetFooterFunc(w.footer)

	w.letter()
	letterPages := pdf.PageNo()
	for _, a := range atts {
		w.enclosure(r.attachments[a])
	}
	if err := pdf.Error(); err != nil {
		return nil, fmt.Errorf("letter: render %s %s: %w", l.Kind, l.Reference, err)
	}
	pages := pdf.PageNo()
	var buf bytes.Buffer
	buf.Grow(64 << 10)
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("letter: write PDF %s %s: %w", l.Kind, l.Reference, err)
	}
	return &Document{PDF: buf.Bytes(), Pages: pages, LetterPages: letterPages}, nil
}

// FileName is a file name for the letter's PDF.
func (l *Letter) FileName() string {
	return fmt.Sprintf("%s-%s.pdf", l.Kind, l.Reference)
}
