package letter

import (
	"strings"
)

// enclosure renders an attachment, starting on a new page. The text is a
// small subset of Markdown, enough for an information sheet and a form:
//
//	# Heading            bold, large
//	## Subheading        bold
//	- item               bullet
//	[ ] item             a box to tick
//	Label: ____          a line to write on (any run of three or more "_")
//	\newpage             a page break (a line of its own)
//	blank line           paragraph break
func (w *writer) enclosure(text string) {
	p := w.pdf
	p.AddPage()
	p.SetY(20)
	var para []string
	flush := func() {
		if len(para) == 0 {
			return
		}
		w.font("", 9.5)
		p.SetX(marginLeft)
		p.MultiCell(textWidth, 4.6, strings.Join(para, " "), "", "L", false)
		p.Ln(2)
		para = para[:0]
	}
	for _, raw := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line := strings.TrimRight(raw, " \t")
		switch {
		case line == "":
			flush()
		case line == `\newpage`:
			flush()
			p.AddPage()
			p.SetY(20)
		case strings.HasPrefix(line, "# "):
			flush()
			w.font("B", 14)
			p.SetX(marginLeft)
			p.MultiCell(textWidth, 7, strings.TrimPrefix(line, "# "), "", "L", false)
			p.Ln(2)
		case strings.HasPrefix(line, "## "):
			flush()
			p.Ln(1)
			w.font("B", 10.5)
			p.SetX(marginLeft)
			p.MultiCell(textWidth, 5.5, strings.TrimPrefix(line, "## "), "", "L", false)
			p.Ln(0.5)
		case strings.HasPrefix(line, "- "):
			flush()
			w.font("", 9.5)
			p.SetX(marginLeft + 2)
			p.CellFormat(4, 4.6, "•", "", 0, "L", false, 0, "")
			p.MultiCell(textWidth-6, 4.6, strings.TrimPrefix(line, "- "), "", "L", false)
		case strings.HasPrefix(line, "[ ] "):
			flush()
			w.font("", 9.5)
			x, y := marginLeft+2, p.GetY()
			p.SetLineWidth(0.25)
			p.Rect(x, y+0.9, 3, 3, "D")
			p.SetX(x + 5)
			p.MultiCell(textWidth-7, 4.8, strings.TrimPrefix(line, "[ ] "), "", "L", false)
		case strings.Contains(line, "___"):
			flush()
			label := strings.TrimSpace(line[:strings.Index(line, "___")])
			w.font("", 9.5)
			p.SetX(marginLeft)
			lw := p.GetStringWidth(label) + 2
			p.CellFormat(lw, 7, label, "", 0, "L", false, 0, "")
			y := p.GetY() + 6
			p.SetLineWidth(0.2)
			p.Line(marginLeft+lw, y, pageWidth-marginRight, y)
			p.Ln(8)
		default:
			para = append(para, strings.TrimSpace(line))
		}
	}
	flush()
}
