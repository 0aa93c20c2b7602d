package register

import (
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// nameKeys are the forms a name is compared in.
//
//   - fold: NFC and Unicode full case folding ("Weiß" and "WEISS" are
//     equal); what a non-fuzzy search compares.
//   - base: a search form after DIN 91379: every Latin letter reduced to its
//     base letters a-z (ä to a, ß to ss, ł to l, ø to o), separators dropped.
//   - icao: the ICAO 9303 transliteration (ä to ae, ö to oe, ü to ue,
//     ß to ss, å to aa, ø to oe), then the base form.
//   - phon: the Kölner Phonetik code of base.
type nameKeys struct {
	fold, base, icao, phon string
}

func keysOf(s string) nameKeys {
	f := foldName(s)
	b := baseForm(f)
	return nameKeys{fold: f, base: b, icao: icaoForm(f), phon: koelnerPhonetik(b)}
}

// foldName is NFC, full case folding and single spaces.
func foldName(s string) string {
	s = cases.Fold().String(norm.NFC.String(strings.TrimSpace(s)))
	return strings.Join(strings.Fields(s), " ")
}

// letterBase maps letters that Unicode does not decompose to their base
// letters, as the DIN 91379 search form does.
var letterBase = map[rune]string{
	'ß': "ss", 'ẞ': "ss", 'ø': "o", 'ł': "l", 'đ': "d", 'ð': "d", 'ı': "i",
	'æ': "ae", 'œ': "oe", 'þ': "th", 'ŋ': "n", 'ħ': "h", 'ŧ': "t", 'ĸ': "k",
	'ſ': "s", 'ŀ': "l", 'ƒ': "f", 'ǝ': "e", 'ə': "e",
}

// letterICAO maps the letters that ICAO 9303 transliterates to two
// letters; everything else falls back to the base form.
var letterICAO = map[rune]string{
	'ä': "ae", 'ö': "oe", 'ü': "ue", 'å': "aa", 'ø': "oe", 'æ': "ae",
	'œ': "oe", 'ß': "ss", 'þ': "th", 'ĳ': "ij",
}

// baseForm reduces a folded name to a-z only.
func baseForm(folded string) string {
	var b strings.Builder
	b.Grow(len(folded))
	for _, r := range norm.NFD.String(folded) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case unicode.Is(unicode.Mn, r):
		default:
			if s, ok := letterBase[r]; ok {
				b.WriteString(s)
			} else if unicode.IsLetter(r) {
				if l := unicode.ToLower(r); l >= 'a' && l <= 'z' {
					b.WriteRune(l)
				}
			}
		}
	}
	return b.String()
}

// icaoForm transliterates a folded name after ICAO 9303.
func icaoForm(folded string) string {
	var b strings.Builder
	b.Grow(len(folded) + 4)
	for _, r := range folded {
		if s, ok := letterICAO[r]; ok {
			b.WriteString(s)
			continue
		}
		if r >= 'a' && r <= 'z' {
			b.WriteRune(r)
			continue
		}
		b.WriteString(baseForm(string(r)))
	}
	return b.String()
}

// koelnerPhonetik codes a base-form name (a-z) with the Kölner Phonetik
// (Postel 1969): similar-sounding German names get the same digits.
func koelnerPhonetik(s string) string {
	if s == "" {
		return ""
	}
	codes := make([]byte, 0, len(s)+2)
	at := func(i int) byte {
		if i < 0 || i >= len(s) {
			return 0
		}
		return s[i]
	}
	in := func(c byte, set string) bool { return c != 0 && strings.IndexByte(set, c) >= 0 }
	for i := 0; i < len(s); i++ {
		c, prev, next := s[i], at(i-1), at(i+1)
		switch {
		case in(c, "aeijouy"):
			codes = append(codes, '0')
		case c == 'h':
			codes = append(codes, '-')
		case c == 'b':
			codes = append(codes, '1')
		case c == 'p':
			if next == 'h' {
				codes = append(codes, '3')
			} else {
				codes = append(codes, '1')
			}
		case c == 'd' || c == 't':
			if in(next, "csz") {
				codes = append(codes, '8')
			} else {
				codes = append(codes, '2')
			}
		case in(c, "fvw"):
			codes = append(codes, '3')
		case in(c, "gkq"):
			codes = append(codes, '4')
		case c == 'c':
			switch {
			case i == 0 && in(next, "ahkloqrux"):
				codes = append(codes, '4')
			case i > 0 && !in(prev, "sz") && in(next, "ahkoqux"):
				codes = append(codes, '4')
			default:
				codes = append(codes, '8')
			}
		case c == 'x':
			if in(prev, "ckq") {
				codes = append(codes, '8')
			} else {
				codes = append(codes, '4', '8')
			}
		case c == 'l':
			codes = append(codes, '5')
		case c == 'm' || c == 'n':
			codes = append(codes, '6')
		case c == 'r':
			codes = append(codes, '7')
		case c == 's' || c == 'z':
			codes = append(codes, '8')
		}
	}
	out := make([]byte, 0, len(codes))
	var last byte
	for _, c := range codes {
		if c == '-' {
			continue
		}
		if c == last {
			continue
		}
		last = c
		if c == '0' && len(out) > 0 {
			continue
		}
		out = append(out, c)
	}
	return string(out)
}
