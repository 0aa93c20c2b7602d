package letter

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
	qrcode "github.com/skip2/go-qrcode"
)

// DIN 5008 Form B on A4, in millimetres from the top left corner.
const (
	pageWidth   = 210.0
	marginLeft  = 25.0 // text starts 25 mm from the left edge
	marginRight = 20.0
	textWidth   = pageWidth - marginLeft - marginRight

	// The address field: 45 mm from the top, 20 mm from the left, 85 x 45 mm;
	// its first 17.7 mm are the return and endorsement zone, the remaining
	// 27.3 mm the recipient (at most six lines).
	AddressFieldX      = 20.0
	AddressFieldY      = 45.0
	AddressFieldWidth  = 85.0
	AddressFieldHeight = 45.0
	addressZoneY       = AddressFieldY + 17.7
	addressIndent      = 5.0 // the lines start 5 mm inside the field

	infoBlockX = 125.0 // the information block, Form B: 125 mm from the left, 50 mm from the top
	infoBlockY = 50.0

	foldMark1 = 105.0 // Form B fold marks and the hole mark
	foldMark2 = 210.0
	holeMark  = 148.5

	subjectY = 103.46 // the subject line, Form B
)

type writer struct {
	pdf *fpdf.Fpdf
	l   *Letter
	cfg *Config
}

func (w *writer) font(style string, size float64) { w.pdf.SetFont(family, style, size) }

func (w *writer) footer() {
	p := w.pdf
	p.SetY(-15)
	w.font("", 7.5)
	p.SetTextColor(90, 90, 90)
	s := w.cfg.Sender
	p.CellFormat(textWidth/2, 4, fmt.Sprintf("Buchungsnummer %s", formatReference(w.l.Reference)), "", 0, "L", false, 0, "")
	p.CellFormat(textWidth/2, 4, fmt.Sprintf("Seite %d", p.PageNo()), "", 1, "R", false, 0, "")
	p.CellFormat(textWidth, 4, fmt.Sprintf("Hotline %s (kostenfrei) · %s", s.Hotline, s.Web), "", 0, "L", false, 0, "")
	p.SetTextColor(0, 0, 0)
}

// letter writes the first page(s): letterhead, window, info block, body.
func (w *writer) letter() {
	p, l, s := w.pdf, w.l, w.cfg.Sender
	p.AddPage()

	// Fold and hole marks on the left edge.
	p.SetLineWidth(0.2)
	p.SetDrawColor(120, 120, 120)
	p.Line(3, foldMark1, 8, foldMark1)
	p.Line(3, holeMark, 10, holeMark)
	p.Line(3, foldMark2, 8, foldMark2)
	p.SetDrawColor(0, 0, 0)

	// Letterhead.
	w.font("B", 13)
	p.SetXY(marginLeft, 15)
	p.CellFormat(textWidth, 6, s.Organisation, "", 1, "L", false, 0, "")
	w.font("", 10)
	p.SetX(marginLeft)
	p.CellFormat(textWidth, 5, s.Department, "", 1, "L", false, 0, "")
	p.SetLineWidth(0.3)
	p.Line(marginLeft, 30, pageWidth-marginRight, 30)

	// Return line at the foot of the return zone, then the recipient.
	x := AddressFieldX + addressIndent
	w.font("", 7)
	p.SetXY(x, addressZoneY-5)
	p.CellFormat(AddressFieldWidth-addressIndent, 3.5, s.ReturnLine, "B", 1, "L", false, 0, "")
	avail := AddressFieldWidth - addressIndent - 1
	lines := addressLines(l.Recipient)
	size := 10.0
	for size > 8.5 && maxWidth(p, lines, size) > avail {
		size -= 0.5
	}
	w.font("", size)
	// A line still too long wraps; the address zone holds six lines.
	var wrapped []string
	for _, line := range lines {
		wrapped = append(wrapped, p.SplitText(line, avail)...)
	}
	if len(wrapped) > 6 {
		wrapped = append(wrapped[:5:5], wrapped[len(wrapped)-1])
	}
	y := addressZoneY + 1
	for _, line := range wrapped {
		p.SetXY(x, y)
		p.CellFormat(AddressFieldWidth-addressIndent, 4.4, fitText(p, line, avail), "", 0, "L", false, 0, "")
		y += 4.4
	}

	// Information block with the reference and its QR code for check-in.
	info := [][2]string{
		{"Buchungsnummer", formatReference(l.Reference)},
		{"Hotline", s.Hotline},
		{"Internet", s.Web},
		{"Datum", l.Date.In(w.cfg.Location).Format("02.01.2006")},
	}
	y = infoBlockY
	const labelWidth = 26.0
	valueWidth := pageWidth - marginRight - infoBlockX - labelWidth
	for _, kv := range info {
		w.font("", 7.5)
		p.SetXY(infoBlockX, y)
		p.CellFormat(labelWidth, 4.5, kv[0], "", 0, "L", false, 0, "")
		size := 9.0
		for w.font("B", size); size > 6 && p.GetStringWidth(kv[1]) > valueWidth; w.font("B", size) {
			size -= 0.5
		}
		p.CellFormat(valueWidth, 4.5, kv[1], "", 0, "L", false, 0, "")
		y += 4.8
	}
	drawQR(p, l.Reference, infoBlockX, y+2, 22)
	w.font("", 6.5)
	p.SetXY(infoBlockX+24, y+6)
	p.MultiCell(pageWidth-marginRight-infoBlockX-24, 3.2, "Diesen Code zeigen Sie beim Einlass vor.", "", "L", false)

	// Subject and body.
	p.SetXY(marginLeft, subjectY)
	w.font("B", 11)
	p.MultiCell(textWidth, 5.5, subject(l.Kind), "", "L", false)
	p.Ln(4)
	w.body()
}

func maxWidth(p *fpdf.Fpdf, lines []string, size float64) float64 {
	p.SetFont(family, "", size)
	m := 0.0
	for _, l := range lines {
		m = max(m, p.GetStringWidth(l))
	}
	return m
}

// fitText shortens s with an ellipsis until it fits w; only a name too long
// even at the smallest size reaches this.
func fitText(p *fpdf.Fpdf, s string, w float64) string {
	if p.GetStringWidth(s) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 1 && p.GetStringWidth(string(r)+"…") > w {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

func addressLines(a Address) []string {
	lines := []string{a.Name}
	if a.Street != "" {
		lines = append(lines, a.Street)
	}
	return append(lines, strings.TrimSpace(a.PostalCode+" "+a.City))
}

func subject(k Kind) string {
	switch k {
	case Confirmation:
		return "Bestätigung Ihrer Termine für die Schutzimpfung gegen COVID-19"
	case Cancellation:
		return "Absage Ihres Impftermins"
	case Changed:
		return "Änderung Ihres Impftermins"
	case WaitlistOffer:
		return "Ein Impftermin für Sie – von der Warteliste"
	case Reminder:
		return "Erinnerung an Ihren Impftermin"
	}
	return string(k)
}

// para writes a paragraph of body text.
func (w *writer) para(text string) {
	w.font("", 10)
	w.pdf.SetX(marginLeft)
	w.pdf.MultiCell(textWidth, 5, text, "", "L", false)
	w.pdf.Ln(2.5)
}

func (w *writer) bullets(items []string) {
	w.font("", 10)
	for _, it := range items {
		w.pdf.SetX(marginLeft + 2)
		w.pdf.CellFormat(4, 5, "•", "", 0, "L", false, 0, "")
		w.pdf.MultiCell(textWidth-6, 5, it, "", "L", false)
	}
	w.pdf.Ln(2.5)
}

// doses writes a small table of appointments.
func (w *writer) doses(ds []Dose, struck bool) {
	p := w.pdf
	for _, d := range ds {
		w.font("B", 10)
		p.SetX(marginLeft + 2)
		label := fmt.Sprintf("%d. Impfung", d.Number)
		if len(ds) == 1 && d.Number == 1 && productDoses(d.Product) == 1 {
			label = "Impfung"
		}
		p.CellFormat(28, 5.5, label, "", 0, "L", false, 0, "")
		w.font("", 10)
		text := w.when(d) + " · " + productName(d.Product)
		if struck {
			text = w.when(d) + " (abgesagt)"
		}
		p.MultiCell(textWidth-30, 5.5, text, "", "L", false)
	}
	p.Ln(2.5)
}

func (w *writer) centre() {
	c := w.l.Centre
	w.font("", 10)
	lines := []string{c.Name}
	if c.Street != "" {
		lines = append(lines, c.Street)
	}
	lines = append(lines, strings.TrimSpace(c.PostalCode+" "+c.City))
	for _, s := range lines {
		w.pdf.SetX(marginLeft + 30)
		w.pdf.CellFormat(textWidth-30, 5, s, "", 1, "L", false, 0, "")
	}
	w.pdf.Ln(2.5)
}

func (w *writer) body() {
	l, s := w.l, w.cfg.Sender
	w.para("Guten Tag " + l.Recipient.Name + ",")
	cancelHint := fmt.Sprintf("Wenn Sie einen Termin nicht wahrnehmen können, sagen Sie ihn bitte rechtzeitig ab, damit ein anderer Mensch geimpft werden kann: telefonisch unter %s (kostenfrei) oder unter %s mit Ihrer Buchungsnummer %s.", s.Hotline, s.Web, formatReference(l.Reference))
	bring := []string{
		"dieses Schreiben mit dem QR-Code (oder Ihre Buchungsnummer)",
		"einen amtlichen Lichtbildausweis (Personalausweis oder Reisepass)",
		"Ihre Krankenversichertenkarte und, falls vorhanden, Ihren Impfausweis",
		"den beiliegenden Anamnese- und Einwilligungsbogen, ausgefüllt und unterschrieben",
		"falls Sie wegen einer Vorerkrankung oder Ihres Berufs berechtigt sind: den Nachweis (ärztliches Zeugnis oder Bescheinigung des Arbeitgebers)",
		"eine medizinische Maske (FFP2 oder OP-Maske)",
	}
	switch l.Kind {
	case Confirmation, WaitlistOffer:
		intro := "wir bestätigen"
		if l.Kind == WaitlistOffer {
			w.para("Sie stehen auf unserer Warteliste. Im Impfzentrum ist ein Platz frei geworden, und wir haben ihn für Sie gebucht.")
			intro = "Wir bestätigen"
		}
		if len(l.Doses) > 1 {
			w.para(intro + " Ihre Termine für die Schutzimpfung gegen COVID-19. Für einen vollständigen Impfschutz brauchen Sie beide Impfungen:")
		} else {
			w.para(intro + " Ihren Termin für die Schutzimpfung gegen COVID-19:")
		}
		w.doses(l.Doses, false)
		w.para("Ort der Impfung:")
		w.centre()
		w.para("Bitte kommen Sie pünktlich, frühestens zehn Minuten vor Ihrem Termin. Bringen Sie bitte mit:")
		w.bullets(bring)
		w.para(cancelHint)
	case Cancellation:
		w.para(fmt.Sprintf("%s Folgende Termine im %s finden nicht statt:", cancelReason(l.Reason), l.Centre.Name))
		w.doses(l.Doses, true)
		w.para(fmt.Sprintf("Sie können jederzeit einen neuen Termin vereinbaren: telefonisch unter %s (kostenfrei) oder unter %s.", s.Hotline, s.Web))
	case Changed:
		w.para("Ihr Impftermin hat sich geändert, zum Beispiel weil sich die Impfempfehlung für den Abstand zwischen den Impfungen geändert hat. Ihre bisherigen Termine:")
		w.doses(l.Previous, true)
		w.para("Ihre neuen Termine:")
		w.doses(l.Doses, false)
		w.para("Ort der Impfung:")
		w.centre()
		w.para("Ihre Buchungsnummer bleibt gleich. Bitte bringen Sie die Unterlagen mit, die in unserer Terminbestätigung genannt sind, und den beiliegenden Anamnese- und Einwilligungsbogen.")
		w.para(cancelHint)
	case Reminder:
		w.para("wir erinnern Sie an Ihren nächsten Impftermin:")
		w.doses(l.Doses[:1], false)
		w.para("Ort der Impfung:")
		w.centre()
		w.para("Bitte bringen Sie mit:")
		w.bullets(bring)
		w.para(cancelHint)
	}
	w.para("Mit freundlichen Grüßen")
	w.para(s.Signature)
	w.font("", 8)
	w.pdf.SetX(marginLeft)
	w.pdf.MultiCell(textWidth, 4, "Dieses Schreiben wurde maschinell erstellt und ist ohne Unterschrift gültig.", "", "L", false)
}

func cancelReason(code string) string {
	switch code {
	case "resident":
		return "wie von Ihnen gewünscht haben wir Ihre Impftermine abgesagt."
	case "rules":
		return "wegen einer Änderung der Impfempfehlung mussten wir Ihre Impftermine leider absagen."
	default:
		return "leider mussten wir Ihre Impftermine absagen."
	}
}

var (
	weekdays = [...]string{"Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"}
	months   = [...]string{"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"}
)

// GermanDate formats t as "Montag, 19. April 2021".
func GermanDate(t time.Time) string {
	return fmt.Sprintf("%s, %d. %s %d", weekdays[t.Weekday()], t.Day(), months[t.Month()-1], t.Year())
}

func (w *writer) when(d Dose) string {
	start := d.Start.In(w.cfg.Location)
	s := GermanDate(start) + ", " + start.Format("15:04")
	if !d.End.IsZero() {
		s += "–" + d.End.In(w.cfg.Location).Format("15:04")
	}
	return s + " Uhr"
}

func productName(id string) string {
	switch id {
	case "comirnaty":
		return "Comirnaty (BioNTech/Pfizer)"
	case "spikevax":
		return "Spikevax (Moderna)"
	case "vaxzevria":
		return "Vaxzevria (AstraZeneca)"
	case "janssen":
		return "COVID-19 Vaccine Janssen (Johnson & Johnson)"
	}
	return id
}

func productDoses(id string) int {
	if id == "janssen" {
		return 1
	}
	return 2
}

// formatReference groups a reference for reading aloud: 1234 5678 90.
func formatReference(ref string) string {
	if len(ref) != 10 {
		return ref
	}
	return ref[:4] + " " + ref[4:8] + " " + ref[8:]
}

// drawQR draws the QR code of content as filled squares (vector, no image)
// with its top left corner at x, y and the given size in millimetres.
func drawQR(p *fpdf.Fpdf, content string, x, y, size float64) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		p.SetError(fmt.Errorf("qr code: %w", err))
		return
	}
	q.DisableBorder = true
	bm := q.Bitmap()
	n := float64(len(bm))
	m := size / n
	p.SetFillColor(0, 0, 0)
	for row, cells := range bm {
		for col := 0; col < len(cells); {
			if !cells[col] {
				col++
				continue
			}
			run := col
			for run < len(cells) && cells[run] {
				run++
			}
			p.Rect(x+float64(col)*m, y+float64(row)*m, float64(run-col)*m, m, "F")
			col = run
		}
	}
}
