// Package match decides whether a registration and a population register
// record describe the same person, the way people actually type names:
// Unicode NFC and case folding, the DIN 91379 search form and the ICAO 9303
// transliteration (ä as ae, ß as ss, diacritics dropped), Kölner Phonetik,
// hyphenated, multiple and swapped given names, an exact (or partially
// known) date of birth and the postal code as a tie-breaker. It is pure:
// no I/O, and it never keeps or logs the names it compares.
package match

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Person is what is compared: a registration or a register record.
type Person struct {
	Family string
	// Given holds the given names as recorded: one string with several
	// names separated by spaces, or one entry per name; hyphenated names
	// (Karl-Heinz) stay one name with parts.
	Given []string
	// Birth is YYYY-MM-DD, or YYYY-MM / YYYY when the register knows only
	// part of the date.
	Birth      string
	PostalCode string
	// Sex is f, m, d or x; empty when unknown.
	Sex string
}

// Weights of the score's components; they add up to 1.
const (
	WeightFamily = 0.35
	WeightGiven  = 0.30
	WeightBirth  = 0.20
	WeightPostal = 0.10
	WeightSex    = 0.05
)

// Scores of one name compared with another.
const (
	ScoreExact    = 1.0  // equal after NFC and case folding
	ScoreSearch   = 0.95 // equal in the DIN 91379 search form or the ICAO transliteration
	ScorePhonetic = 0.85 // equal Kölner Phonetik code
	ScorePart     = 0.9  // one part of a double name (Schmidt for Schmidt-Weiß)
	ScoreSwapped  = 0.95 // given names all there, in another order
	ScorePartial  = 0.9  // date of birth consistent with the register's partial date
	ScoreDaySwap  = 0.6  // day and month swapped
	// ScoreExtraName counts a further given name typed that the register
	// does not have (the first one must always be there).
	ScoreExtraName = 0.5
)

// Config holds the thresholds; they come from configuration.
type Config struct {
	// VerifyAt is the lowest score that verifies a resident, provided the
	// date of birth agrees (exactly or with a partial date). Default 0.85:
	// every name typed in a search form (ae for ä) with a changed postal
	// code still verifies; a phonetic family name with a changed postal
	// code does not.
	VerifyAt float64
	// ReviewAt is the lowest score that sends a resident to review as a
	// weak match; below it the candidate does not count. Default 0.6.
	ReviewAt float64
	// TieMargin: two candidates closer than this are a tie (ambiguous).
	// Default 0.03, below the postal code's weight, so that the postal code
	// breaks a tie between twins with the same name and date of birth.
	TieMargin float64
}

// SetDefaults fills zero fields.
func (c *Config) SetDefaults() {
	if c.VerifyAt == 0 {
		c.VerifyAt = 0.85
	}
	if c.ReviewAt == 0 {
		c.ReviewAt = 0.6
	}
	if c.TieMargin == 0 {
		c.TieMargin = 0.03
	}
}

// Validate reports a threshold out of order.
func (c Config) Validate() error {
	if !(0 < c.ReviewAt && c.ReviewAt <= c.VerifyAt && c.VerifyAt <= 1) {
		return fmt.Errorf("match: thresholds must satisfy 0 < ReviewAt (%v) <= VerifyAt (%v) <= 1", c.ReviewAt, c.VerifyAt)
	}
	if c.TieMargin < 0 || c.TieMargin >= WeightPostal+WeightSex {
		return errors.New("match: TieMargin must lie in 0..0.15")
	}
	return nil
}

// Score is the comparison of a registration with one candidate.
type Score struct {
	Total                             float64
	Family, Given, Birth, Postal, Sex float64
}

// Keys are the forms a name is compared in.
type Keys struct {
	// Fold: NFC, Unicode full case folding, single spaces (Weiß = WEISS).
	Fold string
	// Search: the DIN 91379 search form, base letters a-z only (ä→a,
	// ß→ss, ł→l, ø→o), separators dropped.
	Search string
	// ICAO: the ICAO 9303 transliteration (ä→ae, ö→oe, ü→ue, ß→ss, ø→oe,
	// å→aa), then the search form.
	ICAO string
	// Phonetic: the Kölner Phonetik code of the search form.
	Phonetic string
}

var folder = cases.Fold()

// Fold is NFC, full case folding and single spaces.
func Fold(s string) string {
	return strings.Join(strings.Fields(folder.String(norm.NFC.String(s))), " ")
}

// KeysOf computes every form of a name.
func KeysOf(name string) Keys {
	f := Fold(name)
	s := SearchForm(f)
	return Keys{Fold: f, Search: s, ICAO: ICAO(f), Phonetic: KoelnerPhonetik(s)}
}

// letterBase maps letters that do not decompose in Unicode to their base
// letters, as the DIN 91379 search form does.
var letterBase = map[rune]string{
	'ß': "ss", 'ẞ': "ss", 'ø': "o", 'Ø': "o", 'ł': "l", 'Ł': "l", 'đ': "d", 'Đ': "d", 'ð': "d", 'ı': "i",
	'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe", 'þ': "th", 'Þ': "th", 'ŋ': "n", 'ħ': "h", 'ŧ': "t",
	'ĸ': "k", 'ſ': "s", 'ŀ': "l", 'ƒ': "f", 'ǝ': "e", 'ə': "e", 'ĳ': "ij",
}

// letterICAO maps the letters that ICAO 9303 writes with two letters.
var letterICAO = map[rune]string{
	'ä': "ae", 'ö': "oe", 'ü': "ue", 'å': "aa", 'ø': "oe", 'æ': "ae", 'œ': "oe", 'ß': "ss", 'þ': "th", 'ĳ': "ij",
}

// SearchForm reduces a name to the letters a-z (DIN 91379 search form):
// diacritics dropped, special letters to their base letters, everything
// that is not a letter (spaces, hyphens, apostrophes) dropped.
func SearchForm(name string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(Fold(name)) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case unicode.Is(unicode.Mn, r):
		default:
			if s, ok := letterBase[r]; ok {
				b.WriteString(s)
			} else if l := unicode.ToLower(r); unicode.IsLetter(r) && l >= 'a' && l <= 'z' {
				b.WriteRune(l)
			}
		}
	}
	return b.String()
}

// ICAO transliterates a name after ICAO 9303 and then reduces it to a-z.
func ICAO(name string) string {
	var b strings.Builder
	for _, r := range norm.NFC.String(Fold(name)) {
		if s, ok := letterICAO[r]; ok {
			b.WriteString(s)
			continue
		}
		b.WriteString(SearchForm(string(r)))
	}
	return b.String()
}

// KoelnerPhonetik codes a name with the Kölner Phonetik (Postel 1969):
// German names that sound alike (Meier, Mayer, Maier) get the same digits.
func KoelnerPhonetik(name string) string {
	s := SearchForm(name)
	if s == "" {
		return ""
	}
	at := func(i int) byte {
		if i < 0 || i >= len(s) {
			return 0
		}
		return s[i]
	}
	in := func(c byte, set string) bool { return c != 0 && strings.IndexByte(set, c) >= 0 }
	codes := make([]byte, 0, len(s)+2)
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
			codes = append(codes, map[bool]byte{true: '3', false: '1'}[next == 'h'])
		case c == 'd' || c == 't':
			codes = append(codes, map[bool]byte{true: '8', false: '2'}[in(next, "csz")])
		case in(c, "fvw"):
			codes = append(codes, '3')
		case in(c, "gkq"):
			codes = append(codes, '4')
		case c == 'c':
			if (i == 0 && in(next, "ahkloqrux")) || (i > 0 && !in(prev, "sz") && in(next, "ahkoqux")) {
				codes = append(codes, '4')
			} else {
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
		if c == last {
			continue
		}
		last = c
		if c == '-' || c == '0' && len(out) > 0 {
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

// Name compares two single names (no parts): 1 equal, 0.95 in search form
// or transliteration, 0.85 phonetically, else 0.
func Name(a, b string) float64 {
	ka, kb := KeysOf(a), KeysOf(b)
	switch {
	case ka.Fold == "" || kb.Fold == "":
		return 0
	case ka.Fold == kb.Fold:
		return ScoreExact
	case ka.Search == kb.Search || ka.ICAO == kb.ICAO || ka.Search == kb.ICAO || ka.ICAO == kb.Search:
		return ScoreSearch
	case ka.Phonetic != "" && ka.Phonetic == kb.Phonetic:
		return ScorePhonetic
	}
	return 0
}

// parts splits a name at hyphens and spaces.
func parts(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '‐' || unicode.IsSpace(r) })
}

// Family compares family names: whole, then written together
// (Schmidt-Weiß = Schmidt Weiß = SchmidtWeiss), then one part of a double
// name at 0.9 of the part's score.
func Family(typed, register string) float64 {
	best := Name(typed, register)
	if best == ScoreExact {
		return best
	}
	if s := Name(strings.Join(parts(typed), ""), strings.Join(parts(register), "")); s > best {
		best = s
	}
	pt, pr := parts(typed), parts(register)
	if len(pt) > 1 || len(pr) > 1 {
		for _, a := range pt {
			for _, b := range pr {
				if s := Name(a, b) * ScorePart; s > best {
					best = s
				}
			}
		}
	}
	return best
}

// givenNames splits given names into names (at spaces); a hyphenated name
// stays one name.
func givenNames(given []string) []string {
	var out []string
	for _, g := range given {
		out = append(out, strings.Fields(g)...)
	}
	return out
}

// Given compares the given names typed with the register's: the first typed
// name must find one of the register's (a hyphenated one whole, written
// together or one part of it), a further typed name the register lacks
// counts half; names the register has and the registration lacks cost
// nothing (a missing second given name); the names in another order cost a
// little.
func Given(typed, register []string) float64 {
	t, r := givenNames(typed), givenNames(register)
	if len(t) == 0 || len(r) == 0 {
		return 0
	}
	// Written together or apart: "Karl Heinz" typed for "Karl-Heinz".
	if s := Name(strings.Join(t, ""), strings.Join(parts(strings.Join(r, " ")), "")); s > 0 && len(t) > 1 {
		return s
	}
	sum := 0.0
	firstAt := -1
	for i, a := range t {
		best, at := 0.0, -1
		for j, b := range r {
			s := Name(a, b)
			if s < ScoreExact {
				if w := Name(strings.Join(parts(a), ""), strings.Join(parts(b), "")); w > s {
					s = w
				}
			}
			if p := parts(b); len(p) > 1 && s < ScoreExact {
				for _, bp := range p {
					if ps := Name(a, bp) * ScorePart; ps > s {
						s = ps
					}
				}
			}
			if s > best {
				best, at = s, j
			}
		}
		if best == 0 {
			if i == 0 {
				return 0 // the first given name unknown to the register: not this person
			}
			best = ScoreExtraName // a further given name the register lacks
		}
		if i == 0 {
			firstAt = at
		}
		sum += best
	}
	score := sum / float64(len(t))
	if firstAt > 0 {
		score *= ScoreSwapped
	}
	return score
}

// Birth compares the typed date of birth (YYYY-MM-DD) with the register's,
// which may be partial (YYYY-MM, YYYY): 1 equal, 0.9 consistent with a
// partial date, 0.6 day and month swapped, else 0.
func Birth(typed, register string) float64 {
	switch {
	case typed == "" || register == "":
		return 0
	case typed == register:
		return 1
	case len(register) < len(typed) && strings.HasPrefix(typed, register):
		return ScorePartial
	case len(typed) == 10 && len(register) == 10 && typed[:5] == register[:5] &&
		typed[5:7] == register[8:10] && typed[8:10] == register[5:7]:
		return ScoreDaySwap
	}
	return 0
}

// Compare scores a registration against one register record.
func Compare(typed, register Person) Score {
	s := Score{
		Family: Family(typed.Family, register.Family),
		Given:  Given(typed.Given, register.Given),
		Birth:  Birth(typed.Birth, register.Birth),
	}
	if typed.PostalCode != "" && typed.PostalCode == register.PostalCode {
		s.Postal = 1
	}
	switch {
	case typed.Sex == "" || register.Sex == "" || typed.Sex == "x" || register.Sex == "x":
		s.Sex = 0.5
	case typed.Sex == register.Sex:
		s.Sex = 1
	}
	s.Total = WeightFamily*s.Family + WeightGiven*s.Given + WeightBirth*s.Birth + WeightPostal*s.Postal + WeightSex*s.Sex
	s.Total = float64(int(s.Total*10000+0.5)) / 10000
	return s
}

// Outcome is what the comparison with every candidate says.
type Outcome string

// The outcomes.
const (
	Match     Outcome = "match"     // one candidate, strong and clearly ahead
	Ambiguous Outcome = "ambiguous" // several candidates fit about equally well
	Weak      Outcome = "weak"      // the best candidate is not strong enough
	None      Outcome = "none"      // no candidate fits
)

// Decision is the result of Choose.
type Decision struct {
	Outcome Outcome
	// Best is the index of the best candidate (-1 with None).
	Best int
	// Score of the best candidate.
	Score Score
	// Considered is how many candidates reached ReviewAt.
	Considered int
}

// Choose compares a registration with every candidate and decides. A match
// needs the best score at VerifyAt or above, the date of birth agreeing
// (exact or partial), and no other candidate within TieMargin.
func Choose(cfg Config, typed Person, candidates []Person) Decision {
	cfg.SetDefaults()
	type scored struct {
		i int
		s Score
	}
	var ok []scored
	for i, c := range candidates {
		s := Compare(typed, c)
		if s.Total >= cfg.ReviewAt && s.Family > 0 && s.Given > 0 {
			ok = append(ok, scored{i, s})
		}
	}
	if len(ok) == 0 {
		return Decision{Outcome: None, Best: -1}
	}
	slices.SortStableFunc(ok, func(a, b scored) int { return cmp.Compare(b.s.Total, a.s.Total) })
	d := Decision{Best: ok[0].i, Score: ok[0].s, Considered: len(ok)}
	switch {
	case len(ok) > 1 && ok[0].s.Total-ok[1].s.Total < cfg.TieMargin:
		d.Outcome = Ambiguous
	case ok[0].s.Total >= cfg.VerifyAt && ok[0].s.Birth >= ScorePartial:
		d.Outcome = Match
	default:
		d.Outcome = Weak
	}
	return d
}
