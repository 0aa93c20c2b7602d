package register

import (
	"slices"
	"strings"
	"time"
)

// matchMode says how tolerant a name comparison is.
type matchMode int

const (
	// modeFold: the PDS non-fuzzy search. Names are equal after NFC and
	// case folding; a trailing * matches a prefix.
	modeFold matchMode = iota
	// modeSearchForm: the XMeld search without phonetics. Names are equal in
	// the DIN 91379 search form or the ICAO transliteration (Müller, Muller
	// and Mueller are one name).
	modeSearchForm
	// modeFuzzy: the PDS fuzzy search and the phonetic XMeld search. As
	// modeSearchForm, plus equal Kölner Phonetik codes (Meier, Mayer).
	modeFuzzy
)

// Component scores and weights of a match. A score of 1 is an exact match;
// the PDS sorts best first and so do we.
const (
	scoreSearchForm = 0.95 // equal in the search form or transliteration
	scorePhonetic   = 0.85 // equal Kölner Phonetik code
	scorePart       = 0.9  // one part of a double name (Schmidt for Schmidt-Weiß)
	scoreTransposed = 0.9  // family and given names swapped
	scoreSwappedDay = 0.6  // day and month of the birth date swapped
	scoreOldAddress = 0.8  // postal code of a previous address

	weightFamily = 0.35
	weightGiven  = 0.30
	weightBirth  = 0.20
	weightGender = 0.05
	weightPostal = 0.10

	// fuzzyThreshold is the lowest score a fuzzy search returns.
	fuzzyThreshold = 0.75
)

// nameQuery is one name of a search, with its keys.
type nameQuery struct {
	keys  nameKeys
	wild  bool       // non-fuzzy prefix match (trailing *)
	parts []nameKeys // parts of a hyphenated name
}

func newNameQuery(s string) nameQuery {
	q := nameQuery{}
	if strings.HasSuffix(s, "*") {
		q.wild = true
		s = strings.TrimSuffix(s, "*")
	}
	q.keys = keysOf(s)
	if f := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == ' ' }); len(f) > 1 {
		for _, p := range f {
			q.parts = append(q.parts, keysOf(p))
		}
	}
	return q
}

// searchQuery is a parsed search, from the FHIR or the XMeld interface.
type searchQuery struct {
	family     *nameQuery
	givens     []nameQuery // one per given-name token
	hasBirth   bool
	from, to   int // birth days, inclusive
	gender     int // -1: any
	postal     string
	postalWild bool
	muni       string // prefix of the Gemeindeschlüssel (XMeld)
	street     *nameQuery
	mode       matchMode
	transposed bool // also try family and given names swapped (PDS fuzzy)
	swapDay    bool // also try day and month swapped (PDS fuzzy, single day)
	history    bool // previous addresses count (PDS fuzzy or _history)
}

// hit is one resident found, with its score.
type hit struct {
	idx   int
	score float64
}

func match1(q *nameQuery, k *nameKeys, mode matchMode) float64 {
	if q.wild {
		if strings.HasPrefix(k.fold, q.keys.fold) {
			return 1
		}
		return 0
	}
	if k.fold == q.keys.fold {
		return 1
	}
	if mode == modeFold || q.keys.base == "" {
		return 0
	}
	if q.keys.base == k.base || q.keys.icao == k.icao || q.keys.base == k.icao || q.keys.icao == k.base {
		return scoreSearchForm
	}
	if mode == modeFuzzy && q.keys.phon != "" && q.keys.phon == k.phon {
		return scorePhonetic
	}
	return 0
}

// nameScore compares a query name with a name entry, also part by part
// (except in a non-fuzzy family-name search, where only a wildcard matches
// the start of a double name).
func nameScore(q *nameQuery, e *nameEntry, mode matchMode, parts bool) float64 {
	s := match1(q, &e.keys, mode)
	if s == 1 || !parts {
		return s
	}
	f := 1.0
	if mode != modeFold {
		f = scorePart
	}
	for k := range e.parts {
		s = max(s, f*match1(q, &e.parts[k], mode))
	}
	if s == 0 && len(q.parts) > 1 {
		// A hyphenated query name against separate names: every part must match.
		worst := 1.0
		for k := range q.parts {
			pq := nameQuery{keys: q.parts[k]}
			worst = min(worst, match1(&pq, &e.keys, mode))
		}
		s = f * worst
	}
	return s
}

// givenScore compares the query's given-name tokens with a resident's
// given names: every token must match one of them (or one part of a
// hyphenated one); the score is their mean. Missing given names on the
// query side (only the first of two) cost nothing.
func givenScore(tokens []nameQuery, g []*nameEntry, mode matchMode) float64 {
	if len(tokens) == 0 {
		return 1
	}
	total := 0.0
	for k := range tokens {
		best := 0.0
		for _, e := range g {
			best = max(best, nameScore(&tokens[k], e, mode, true))
		}
		if best == 0 && len(tokens[k].parts) > 1 {
			worst := 1.0
			for _, pk := range tokens[k].parts {
				pq := nameQuery{keys: pk}
				b := 0.0
				for _, e := range g {
					b = max(b, nameScore(&pq, e, mode, true))
				}
				worst = min(worst, b)
			}
			best = worst
		}
		if best == 0 {
			return 0
		}
		total += best
	}
	return total / float64(len(tokens))
}

// score rates resident i against q; ok is false if it does not match.
func (p *population) score(q *searchQuery, i int) (float64, bool) {
	fam := &p.families[p.family[i]]
	gv := [2]*nameEntry{&p.givens[p.given1[i]], nil}
	givens := gv[:1]
	if g2 := p.given2[i]; g2 != 0 {
		gv[1] = &p.givens[g2]
		givens = gv[:2]
	}
	total, weight := 0.0, 0.0

	// Birth date.
	if q.hasBirth {
		b := int(p.birth[i])
		c := 0.0
		if b >= q.from && b <= q.to {
			c = 1
		} else if q.swapDay && b == swapDayMonth(q.from) {
			c = scoreSwappedDay
		}
		if c == 0 {
			return 0, false
		}
		total += weightBirth * c
		weight += weightBirth
	}

	// Gender: a filter in a non-fuzzy search, a score in a fuzzy one; the
	// same for the postal code.
	if q.gender >= 0 {
		if p.genderOf(i) == q.gender {
			total += weightGender
		} else if q.mode != modeFuzzy {
			return 0, false
		}
		weight += weightGender
	}

	// Address: municipality, postal code, street.
	tn := &towns[p.town[i]]
	if q.muni != "" && !strings.HasPrefix(tn.Key, q.muni) {
		return 0, false
	}
	if q.postal != "" {
		c := 0.0
		cur, old := tn.Postal[p.postal[i]], ""
		if p.kindOf(i) == kindMoved {
			cur, old = "", cur
			if d := p.movedTo(i); d != nil {
				cur = d.Postal
			}
		}
		switch {
		case q.postalWild && cur != "" && strings.HasPrefix(cur, q.postal), !q.postalWild && cur == q.postal:
			c = 1
		case q.history && old != "" && (q.postalWild && strings.HasPrefix(old, q.postal) || old == q.postal):
			c = scoreOldAddress
		}
		if c == 0 && q.mode != modeFuzzy {
			return 0, false
		}
		total += weightPostal * c
		weight += weightPostal
	}
	if q.street != nil && nameScore(q.street, &streetEntries[p.street[i]], q.mode, false) == 0 {
		return 0, false
	}

	// Names, as given and (fuzzy) transposed.
	var nf, ng float64
	if q.family != nil {
		nf = nameScore(q.family, fam, q.mode, q.mode != modeFold || q.family.wild)
	}
	ng = givenScore(q.givens, givens, q.mode)
	ok := (q.family == nil || nf > 0) && ng > 0
	if q.transposed && q.family != nil && len(q.givens) > 0 {
		tf := 0.0
		for _, e := range givens {
			tf = max(tf, nameScore(q.family, e, q.mode, true))
		}
		tg := givenScore(q.givens, []*nameEntry{fam}, q.mode)
		if tf > 0 && tg > 0 && scoreTransposed*(weightFamily*tf+weightGiven*tg) > weightFamily*nf+weightGiven*ng {
			nf, ng, ok = scoreTransposed*tf, scoreTransposed*tg, true
		}
	}
	if !ok {
		return 0, false
	}
	if q.family != nil {
		total += weightFamily * nf
		weight += weightFamily
	}
	if len(q.givens) > 0 {
		total += weightGiven * ng
		weight += weightGiven
	}
	s := total / weight
	if q.mode == modeFuzzy && s < fuzzyThreshold {
		return 0, false
	}
	return float64(int(s*10000+0.5)) / 10000, true
}

// swapDayMonth returns the day with day and month exchanged, or -1.
func swapDayMonth(d int) int {
	t := dateOfDay(d)
	if t.Day() > 12 || t.Day() == int(t.Month()) {
		return -1
	}
	return dayOf(time.Date(t.Year(), time.Month(t.Day()), int(t.Month()), 0, 0, 0, 0, time.UTC))
}

// familyCandidates lists the family-name entries that q.family can match
// in q.mode, from the table-level indexes (no scan of the residents).
func (p *population) familyCandidates(q *searchQuery) []uint16 {
	f := q.family
	var out []uint16
	if q.mode == modeFold {
		for i := range p.families {
			if match1(f, &p.families[i].keys, modeFold) > 0 {
				out = append(out, uint16(i))
			}
		}
		return out
	}
	keys := append([]nameKeys{f.keys}, f.parts...)
	for _, k := range keys {
		out = append(out, p.familyByBase[k.base]...)
		out = append(out, p.familyByBase[k.icao]...)
		if q.mode == modeFuzzy {
			out = append(out, p.familyByPhon[k.phon]...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// search returns every resident that matches q, best first, never one with
// an information block.
func (p *population) search(q *searchQuery) []hit {
	var hits []hit
	try := func(i int) {
		if p.kindOf(i) == kindBlocked {
			return
		}
		if s, ok := p.score(q, i); ok {
			hits = append(hits, hit{i, s})
		}
	}
	byDay := -1
	if q.hasBirth {
		from, to := max(q.from, 0), min(q.to, len(p.dayStart)-2)
		if from <= to {
			byDay = int(p.dayStart[to+1] - p.dayStart[from])
		} else {
			byDay = 0
		}
	}
	var fams []uint16
	byFam := -1
	// The family-name index cannot serve a search that may find the family
	// name among the given names (transposed), nor a short wildcard.
	if q.family != nil && !q.transposed && !(q.family.wild && len(q.family.keys.fold) < 3) {
		fams = p.familyCandidates(q)
		byFam = 0
		for _, f := range fams {
			byFam += int(p.famStart[f+1] - p.famStart[f])
		}
	}
	switch {
	case byDay >= 0 && (byFam < 0 || byDay <= byFam):
		from, to := max(q.from, 0), min(q.to, len(p.dayStart)-2)
		if from <= to {
			for _, i := range p.byBirth[p.dayStart[from]:p.dayStart[to+1]] {
				try(int(i))
			}
		}
		if q.swapDay && q.from == q.to {
			if d := swapDayMonth(q.from); d >= 0 && d < len(p.dayStart)-1 {
				for _, i := range p.byBirth[p.dayStart[d]:p.dayStart[d+1]] {
					try(int(i))
				}
			}
		}
	case byFam >= 0:
		for _, f := range fams {
			for _, i := range p.byFamily[p.famStart[f]:p.famStart[f+1]] {
				try(int(i))
			}
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		return a.idx - b.idx
	})
	return hits
}
