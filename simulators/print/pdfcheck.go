package print

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
)

// The print house's checks: a PDF, A4 portrait pages, not too many, and text
// in the address window of the first page (DIN 5008 Form B: 20 mm from the
// left, 45 mm from the top, 85 x 45 mm, of which the lower 27.3 mm hold the
// recipient). The parser is deliberately small: it reads classic PDFs
// (objects in the file body, no object streams), which is what simple
// generators such as fpdf write; anything it cannot read is unprintable, as
// at a cautious print house.

// Check is the outcome of checking one PDF.
type Check struct {
	Pages  int
	Issues []string // empty: printable
}

const (
	a4Width, a4Height = 595.28, 841.89 // points
	sizeTolerance     = 2.0
	mm                = 72 / 25.4
)

// the recipient zone of the window, in PDF points from the bottom left
var (
	windowLeft   = 20 * mm
	windowRight  = 105 * mm
	windowTop    = a4Height - (45+17.7)*mm + 2 // a baseline may sit a little above the zone's top edge
	windowBottom = a4Height - 90*mm
)

var (
	reObject   = regexp.MustCompile(`(?s)(\d+)\s+(\d+)\s+obj\b(.*?)\bendobj`)
	rePage     = regexp.MustCompile(`/Type\s*/Page\b`)
	rePages    = regexp.MustCompile(`/Type\s*/Pages\b`)
	reMediaBox = regexp.MustCompile(`/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]`)
	reKids     = regexp.MustCompile(`/Kids\s*\[([^\]]*)\]`)
	reRef      = regexp.MustCompile(`(\d+)\s+\d+\s+R`)
	reContents = regexp.MustCompile(`/Contents\s*(\[[^\]]*\]|\d+\s+\d+\s+R)`)
	reParent   = regexp.MustCompile(`/Parent\s+(\d+)\s+\d+\s+R`)
)

// CheckPDF checks b as a print house would, allowing at most maxPages pages.
func CheckPDF(b []byte, maxPages int) Check {
	var c Check
	if !bytes.HasPrefix(b, []byte("%PDF-")) {
		c.Issues = append(c.Issues, "the file is not a PDF (no %PDF- header)")
		return c
	}
	if !bytes.Contains(b[max(0, len(b)-1024):], []byte("%%EOF")) {
		c.Issues = append(c.Issues, "the PDF is truncated (no %%EOF at the end)")
		return c
	}
	objs := map[int][]byte{}
	for _, m := range reObject.FindAllSubmatch(b, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		objs[n] = m[3]
	}
	var pages []int
	var root = -1
	for n, o := range objs {
		d := dictPart(o)
		if rePages.Match(d) && !reParent.Match(d) {
			root = n
		}
	}
	if root >= 0 {
		pages = collectPages(objs, root, 0)
	}
	if len(pages) == 0 {
		c.Issues = append(c.Issues, "no pages found (a PDF with object streams or an unusual structure cannot be read here)")
		return c
	}
	c.Pages = len(pages)
	if c.Pages > maxPages {
		c.Issues = append(c.Issues, fmt.Sprintf("the letter has %d pages; at most %d are allowed", c.Pages, maxPages))
	}
	for i, p := range pages {
		w, h, ok := mediaBox(objs, p)
		if !ok {
			c.Issues = append(c.Issues, fmt.Sprintf("page %d has no MediaBox", i+1))
			continue
		}
		if math.Abs(w-a4Width) > sizeTolerance || math.Abs(h-a4Height) > sizeTolerance {
			c.Issues = append(c.Issues, fmt.Sprintf("page %d is %.0f x %.0f pt, not A4 portrait (595 x 842 pt)", i+1, w, h))
		}
	}
	runs, err := windowText(objs, pages[0])
	switch {
	case err != nil:
		c.Issues = append(c.Issues, "the first page cannot be read: "+err.Error())
	case runs < 2:
		c.Issues = append(c.Issues, "the address window on the first page is empty (DIN 5008: 20 mm from the left, 62.7 to 90 mm from the top)")
	}
	return c
}

// dictPart is the object up to its stream, if any.
func dictPart(o []byte) []byte {
	if i := bytes.Index(o, []byte("stream")); i >= 0 {
		return o[:i]
	}
	return o
}

func collectPages(objs map[int][]byte, n, depth int) []int {
	if depth > 32 {
		return nil
	}
	d := dictPart(objs[n])
	if rePage.Match(d) {
		return []int{n}
	}
	k := reKids.FindSubmatch(d)
	if k == nil {
		return nil
	}
	var out []int
	for _, r := range reRef.FindAllSubmatch(k[1], -1) {
		id, _ := strconv.Atoi(string(r[1]))
		out = append(out, collectPages(objs, id, depth+1)...)
	}
	return out
}

// mediaBox finds the page's MediaBox, inherited from its parents if need be.
func mediaBox(objs map[int][]byte, n int) (w, h float64, ok bool) {
	for range 32 {
		d := dictPart(objs[n])
		if m := reMediaBox.FindSubmatch(d); m != nil {
			v := make([]float64, 4)
			for i := range v {
				v[i], _ = strconv.ParseFloat(string(m[i+1]), 64)
			}
			return v[2] - v[0], v[3] - v[1], true
		}
		p := reParent.FindSubmatch(d)
		if p == nil {
			return 0, 0, false
		}
		n, _ = strconv.Atoi(string(p[1]))
	}
	return 0, 0, false
}

// windowText counts the text runs shown in the recipient zone of page n.
func windowText(objs map[int][]byte, n int) (int, error) {
	d := dictPart(objs[n])
	m := reContents.FindSubmatch(d)
	if m == nil {
		return 0, nil
	}
	runs := 0
	for _, r := range reRef.FindAllSubmatch(m[1], -1) {
		id, _ := strconv.Atoi(string(r[1]))
		data, err := streamData(objs[id])
		if err != nil {
			return 0, fmt.Errorf("content stream %d: %w", id, err)
		}
		runs += countWindowRuns(data)
	}
	return runs, nil
}

func streamData(o []byte) ([]byte, error) {
	i := bytes.Index(o, []byte("stream"))
	j := bytes.LastIndex(o, []byte("endstream"))
	if i < 0 || j < i {
		return nil, fmt.Errorf("no stream")
	}
	data := o[i+len("stream") : j]
	data = bytes.TrimPrefix(data, []byte("\r"))
	data = bytes.TrimPrefix(data, []byte("\n"))
	if bytes.Contains(o[:i], []byte("/FlateDecode")) {
		zr, err := zlib.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		out, err := io.ReadAll(io.LimitReader(zr, 16<<20))
		if err != nil && err != io.ErrUnexpectedEOF {
			return nil, err
		}
		return out, nil
	}
	return data, nil
}

// countWindowRuns interprets just enough of a content stream (BT, Td, TD,
// Tm, T*, Tj, TJ, ', ") to tell where non-empty text is shown.
func countWindowRuns(cs []byte) int {
	var stack []float64
	var x, y, lx, ly float64
	var lastString bool
	runs := 0
	show := func() {
		if lastString && x >= windowLeft-1 && x < windowRight && y >= windowBottom && y <= windowTop {
			runs++
		}
	}
	for i := 0; i < len(cs); {
		c := cs[i]
		switch {
		case c == '(':
			depth, j := 1, i+1
			empty := true
			for j < len(cs) && depth > 0 {
				switch cs[j] {
				case '\\':
					j++
				case '(':
					depth++
				case ')':
					depth--
				}
				if depth > 0 {
					empty = false
				}
				j++
			}
			lastString = lastString || !empty
			i = j
		case c == '<' && i+1 < len(cs) && cs[i+1] != '<':
			j := bytes.IndexByte(cs[i:], '>')
			if j < 0 {
				return runs
			}
			lastString = lastString || j > 1
			i += j + 1
		case c == '%':
			for i < len(cs) && cs[i] != '\n' && cs[i] != '\r' {
				i++
			}
		case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(cs) && (cs[j] == '.' || (cs[j] >= '0' && cs[j] <= '9')) {
				j++
			}
			v, _ := strconv.ParseFloat(string(cs[i:j]), 64)
			stack = append(stack, v)
			i = j
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '\'' || c == '"' || c == '*':
			j := i + 1
			for j < len(cs) && ((cs[j] >= 'a' && cs[j] <= 'z') || (cs[j] >= 'A' && cs[j] <= 'Z') || cs[j] == '*') {
				j++
			}
			switch op := string(cs[i:j]); op {
			case "BT":
				x, y, lx, ly = 0, 0, 0, 0
			case "Td", "TD":
				if len(stack) >= 2 {
					lx += stack[len(stack)-2]
					ly += stack[len(stack)-1]
					x, y = lx, ly
				}
			case "Tm":
				if len(stack) >= 6 {
					lx, ly = stack[len(stack)-2], stack[len(stack)-1]
					x, y = lx, ly
				}
			case "Tj", "TJ", "'", "\"":
				show()
			}
			stack = stack[:0]
			lastString = false
			i = j
		case c == '/':
			j := i + 1
			for j < len(cs) && !isDelim(cs[j]) {
				j++
			}
			i = j
		default:
			i++
		}
	}
	return runs
}

func isDelim(c byte) bool {
	switch c {
	case ' ', '\n', '\r', '\t', '\f', 0, '/', '(', ')', '<', '>', '[', ']', '{', '}', '%':
		return true
	}
	return false
}
