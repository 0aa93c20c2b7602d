package register

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// kind is what is awkward about a resident, if anything.
type kind uint8

const (
	kindNormal    kind = iota // lives in Saxony, searchable
	kindDeceased              // carries a date of death
	kindMoved                 // moved out of Saxony (within Germany, abroad, or to an unknown address)
	kindBlocked               // Auskunftssperre (§51 BMG): never returned by a search
	kindAmbiguous             // shares family name, given names and birth date with another resident
)

var kindNames = [...]string{"normal", "deceased", "moved", "blocked", "ambiguous"}

func (k kind) String() string { return kindNames[k] }

func parseKind(s string) (kind, bool) {
	for i, n := range kindNames {
		if n == s {
			return kind(i), true
		}
	}
	return 0, false
}

// gender codes as stored.
const (
	genderFemale = iota
	genderMale
	genderOther // "divers"
	genderUnknown
)

var fhirGender = [...]string{"female", "male", "other", "unknown"}
var xmeldGender = [...]string{"w", "m", "d", "x"}

// nameEntry is one distinct name in a name table, with its search keys.
type nameEntry struct {
	text  string
	keys  nameKeys
	parts []nameKeys // the parts of a hyphenated or multi-word name; nil for one part
}

func newNameEntry(s string) nameEntry {
	e := nameEntry{text: s, keys: keysOf(s)}
	if f := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == ' ' }); len(f) > 1 {
		for _, p := range f {
			e.parts = append(e.parts, keysOf(p))
		}
	}
	return e
}

// population is the synthetic register, stored as parallel arrays (struct of
// arrays, about 21 bytes a resident including both indexes) so that four
// million residents fit in well under 200 MB and no resident needs a map
// entry or a pointer.
type population struct {
	seed uint64
	size int
	asOf time.Time // the register's reference date: ages, deaths and moves are relative to it
	idB  uint64    // offset of the ID permutation, from the seed

	families []nameEntry
	givens   []nameEntry // givens[0] is "no name"

	family, given1, given2 []uint16 // indexes into families and givens
	birth                  []uint16 // days since 1900-01-01
	attr                   []uint8  // bits 0-1 gender, bits 2-4 kind
	town                   []uint8  // index into towns
	postal                 []uint8  // index into the town's postal codes
	street                 []uint8  // index into streets
	house                  []uint8  // house number

	byBirth  []uint32 // resident indexes ordered by birth day
	dayStart []uint32 // byBirth[dayStart[d]:dayStart[d+1]] were born on day d
	byFamily []uint32 // resident indexes ordered by family name entry
	famStart []uint32 // byFamily[famStart[f]:famStart[f+1]] carry families[f]

	familyByBase map[string][]uint16 // base form of a family name or of one of its parts → entries
	familyByPhon map[string][]uint16 // phonetic code of the same → entries
}

var epoch = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

func dayOf(t time.Time) int { return int(t.Sub(epoch) / (24 * time.Hour)) }

func dateOfDay(d int) time.Time { return epoch.AddDate(0, 0, d) }

// ageWeights is the number of residents per single year of age in Saxony at
// the end of 2020, in thousands, by five-year band (0-4, 5-9, ..., 100-104):
// few born after 1990, many born in the 1960s, more women than men among the
// old.
var ageWeights = []float64{34, 36, 35, 30, 32, 38, 52, 52, 46, 44, 58, 66, 64, 55, 42, 48, 50, 27, 11, 3.3, 0.3}

// tables are the name tables and the weighted choices over them; they depend
// on the seed only through the double-barrelled family names.
type tables struct {
	famIndex   map[string]uint16
	givenIndex map[string]uint16
	groupCum   []int
	groups     []groupTable
	doubles    []uint16
	cohorts    []cohortTable
	distCum    []int
	townsOf    [][]int // per district: town indexes
	townCum    [][]int
	ageCum     []float64
}

type groupTable struct {
	famIdx       []uint16
	famCum       []int
	male, female []uint16
	second       int
}

type cohortTable struct {
	until        int
	male, female []uint16
}

func cumulative(ws []int) []int {
	c := make([]int, len(ws))
	t := 0
	for i, w := range ws {
		t += w
		c[i] = t
	}
	return c
}

// pick draws an index from cumulative weights.
func pick(rng *rand.Rand, cum []int) int {
	x := rng.IntN(cum[len(cum)-1])
	lo, hi := 0, len(cum)-1
	for lo < hi {
		m := (lo + hi) / 2
		if cum[m] > x {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

func (p *population) addFamily(t *tables, name string) uint16 {
	if i, ok := t.famIndex[name]; ok {
		return i
	}
	i := uint16(len(p.families))
	p.families = append(p.families, newNameEntry(name))
	t.famIndex[name] = i
	return i
}

func (p *population) addGiven(t *tables, name string) uint16 {
	if i, ok := t.givenIndex[name]; ok {
		return i
	}
	i := uint16(len(p.givens))
	p.givens = append(p.givens, newNameEntry(name))
	t.givenIndex[name] = i
	return i
}

func (p *population) buildTables() *tables {
	t := &tables{famIndex: map[string]uint16{}, givenIndex: map[string]uint16{}}
	p.givens = []nameEntry{{}}
	var gw []int
	for _, g := range nameGroups {
		gt := groupTable{second: g.Second}
		var ws []int
		for _, f := range g.Families {
			name, w := f, 1
			if k := strings.LastIndexByte(f, ':'); k > 0 {
				name = f[:k]
				w, _ = strconv.Atoi(f[k+1:])
			}
			gt.famIdx = append(gt.famIdx, p.addFamily(t, name))
			ws = append(ws, w)
		}
		gt.famCum = cumulative(ws)
		for _, n := range g.Male {
			gt.male = append(gt.male, p.addGiven(t, n))
		}
		for _, n := range g.Female {
			gt.female = append(gt.female, p.addGiven(t, n))
		}
		t.groups = append(t.groups, gt)
		gw = append(gw, g.Weight)
	}
	t.groupCum = cumulative(gw)
	for _, c := range germanCohorts {
		ct := cohortTable{until: c.Until}
		for _, n := range c.Male {
			ct.male = append(ct.male, p.addGiven(t, n))
		}
		for _, n := range c.Female {
			ct.female = append(ct.female, p.addGiven(t, n))
		}
		t.cohorts = append(t.cohorts, ct)
	}
	// Double-barrelled family names (Schmidt-Weiß), drawn from the German
	// names with a generator of their own so that the tables above do not
	// depend on the seed.
	rng := rand.New(rand.NewPCG(p.seed, 0xd0b1e))
	de := t.groups[0]
	for range 300 {
		a, b := de.famIdx[pick(rng, de.famCum)], de.famIdx[pick(rng, de.famCum)]
		if a == b {
			continue
		}
		t.doubles = append(t.doubles, p.addFamily(t, p.families[a].text+"-"+p.families[b].text))
	}
	var dw []int
	t.townsOf = make([][]int, len(districts))
	t.townCum = make([][]int, len(districts))
	for _, d := range districts {
		dw = append(dw, d.Population)
	}
	t.distCum = cumulative(dw)
	tw := make([][]int, len(districts))
	for i, tn := range towns {
		t.townsOf[tn.District] = append(t.townsOf[tn.District], i)
		tw[tn.District] = append(tw[tn.District], tn.Weight)
	}
	for d := range districts {
		t.townCum[d] = cumulative(tw[d])
	}
	total := 0.0
	for a := 0; a < 5*len(ageWeights); a++ {
		total += ageWeights[a/5]
		t.ageCum = append(t.ageCum, total)
	}

	p.familyByBase = map[string][]uint16{}
	p.familyByPhon = map[string][]uint16{}
	for i, f := range p.families {
		keys := append([]nameKeys{f.keys}, f.parts...)
		seen := map[string]bool{}
		for _, k := range keys {
			for _, s := range []string{"b" + k.base, "b" + k.icao, "p" + k.phon} {
				if seen[s] || len(s) == 1 {
					continue
				}
				seen[s] = true
				if s[0] == 'b' {
					p.familyByBase[s[1:]] = append(p.familyByBase[s[1:]], uint16(i))
				} else {
					p.familyByPhon[s[1:]] = append(p.familyByPhon[s[1:]], uint16(i))
				}
			}
		}
	}
	return t
}

const chunkSize = 1 << 16

// generate builds a population of size residents from seed, as of asOf.
// The result depends only on seed, size and asOf, not on the number of
// CPUs: every chunk of residents has its own generator.
func generate(seed uint64, size int, asOf time.Time) (*population, error) {
	if size < 1 || size > 20_000_000 {
		return nil, fmt.Errorf("register: size %d outside 1..20000000", size)
	}
	p := &population{seed: seed, size: size, asOf: asOf}
	p.idB = splitmix(seed^0x5eed) % idSpace
	t := p.buildTables()
	if len(p.families) > 65535 || len(p.givens) > 65535 {
		return nil, fmt.Errorf("register: name tables too large")
	}
	p.family = make([]uint16, size)
	p.given1 = make([]uint16, size)
	p.given2 = make([]uint16, size)
	p.birth = make([]uint16, size)
	p.attr = make([]uint8, size)
	p.town = make([]uint8, size)
	p.postal = make([]uint8, size)
	p.street = make([]uint8, size)
	p.house = make([]uint8, size)

	chunks := (size + chunkSize - 1) / chunkSize
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				p.generateChunk(t, c)
			}
		}()
	}
	for c := range chunks {
		next <- c
	}
	close(next)
	wg.Wait()

	p.byBirth, p.dayStart = countingIndex(p.birth, dayOf(asOf)+1)
	p.byFamily, p.famStart = countingIndex(p.family, len(p.families))
	return p, nil
}

// countingIndex orders resident indexes by key (stable) and returns the
// order and the start of each key's run.
func countingIndex(keys []uint16, n int) (order, start []uint32) {
	start = make([]uint32, n+1)
	for _, k := range keys {
		start[int(k)+1]++
	}
	for i := 1; i <= n; i++ {
		start[i] += start[i-1]
	}
	pos := make([]uint32, n)
	copy(pos, start[:n])
	order = make([]uint32, len(keys))
	for i, k := range keys {
		order[pos[k]] = uint32(i)
		pos[k]++
	}
	return order, start
}

func (p *population) generateChunk(t *tables, c int) {
	rng := rand.New(rand.NewPCG(p.seed, uint64(c)+1))
	lo, hi := c*chunkSize, min((c+1)*chunkSize, p.size)
	asOfDay := dayOf(p.asOf)
	ageTotal := t.ageCum[len(t.ageCum)-1]
	for i := lo; i < hi; i++ {
		x := rng.Float64() * ageTotal
		age := 0
		for age < len(t.ageCum)-1 && t.ageCum[age] <= x {
			age++
		}
		b := asOfDay - 1 - int(float64(age)*365.2425) - rng.IntN(365)
		p.birth[i] = uint16(b)
		byear := dateOfDay(b).Year()

		pf := 0.49
		switch {
		case age >= 80:
			pf = 0.66
		case age >= 60:
			pf = 0.55
		}
		g := genderMale
		switch u := rng.Float64(); {
		case u < 0.0001:
			g = genderOther
		case u < pf:
			g = genderFemale
		}

		grp := pick(rng, t.groupCum)
		gt := &t.groups[grp]
		fam := gt.famIdx[pick(rng, gt.famCum)]
		if grp == 0 && age >= 25 && rng.IntN(100) < 3 {
			fam = t.doubles[rng.IntN(len(t.doubles))]
		}
		list := gt.male
		if grp == 0 {
			ct := &t.cohorts[len(t.cohorts)-1]
			for k := range t.cohorts {
				if byear <= t.cohorts[k].until {
					ct = &t.cohorts[k]
					break
				}
			}
			list = ct.male
			if g == genderFemale || (g == genderOther && rng.IntN(2) == 0) {
				list = ct.female
			}
		} else if g == genderFemale {
			list = gt.female
		}
		g1 := list[rng.IntN(len(list))]
		var g2 uint16
		if rng.IntN(100) < gt.second {
			if g2 = list[rng.IntN(len(list))]; g2 == g1 {
				g2 = 0
			}
		}

		d := pick(rng, t.distCum)
		tn := t.townsOf[d][pick(rng, t.townCum[d])]
		p.family[i], p.given1[i], p.given2[i] = fam, g1, g2
		p.town[i] = uint8(tn)
		p.postal[i] = uint8(rng.IntN(len(towns[tn].Postal)))
		p.street[i] = uint8(rng.IntN(len(streets)))
		p.house[i] = uint8(1 + rng.IntN(120))

		k := kindNormal
		switch u := rng.Float64(); {
		case u < 0.005:
			k = kindBlocked
		case u < 0.015:
			k = kindMoved
		default:
			var pd float64
			switch {
			case age >= 85:
				pd = 0.08
			case age >= 75:
				pd = 0.03
			case age >= 65:
				pd = 0.012
			case age >= 50:
				pd = 0.0035
			default:
				pd = 0.0002
			}
			if rng.Float64() < pd {
				k = kindDeceased
			}
		}
		// About one resident in a thousand is the second of a pair sharing
		// family name, given names, gender and birth date (0.2 % in pairs).
		if rng.IntN(1000) == 0 && i > lo && k == kindNormal && p.kindOf(i-1) == kindNormal {
			p.family[i], p.given1[i], p.given2[i], p.birth[i] = p.family[i-1], p.given1[i-1], p.given2[i-1], p.birth[i-1]
			g = int(p.attr[i-1] & 3)
			k = kindAmbiguous
			p.attr[i-1] = p.attr[i-1]&3 | uint8(kindAmbiguous)<<2
		}
		p.attr[i] = uint8(g) | uint8(k)<<2
	}
}

func (p *population) kindOf(i int) kind  { return kind(p.attr[i] >> 2 & 7) }
func (p *population) genderOf(i int) int { return int(p.attr[i] & 3) }

// splitmix is a 64-bit mixer for per-resident details that need no storage
// (date of death, date and destination of a move).
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (p *population) detail(i int, salt uint64) uint64 {
	return splitmix(p.seed ^ uint64(i)*0x2545f4914f6cdd1d ^ salt<<56)
}

// Register IDs are ten digits: nine from an affine permutation of the
// resident's index (so neighbours do not get neighbouring IDs) and a Luhn
// check digit. They decode back to the index without a map.
const (
	idSpace = 900_000_000
	idMul   = 479_001_599 // prime, coprime with idSpace
)

var idMulInv = modInverse(idMul, idSpace)

func modInverse(a, m int64) uint64 {
	g, x, _ := extGCD(a, m)
	if g != 1 {
		panic("register: multiplier not invertible")
	}
	return uint64(((x % m) + m) % m)
}

func extGCD(a, b int64) (int64, int64, int64) {
	if b == 0 {
		return a, 1, 0
	}
	g, x, y := extGCD(b, a%b)
	return g, y, x - (a/b)*y
}

func luhn(digits string) byte {
	sum := 0
	for k := 0; k < len(digits); k++ {
		d := int(digits[len(digits)-1-k] - '0')
		if k%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

func (p *population) id(i int) string {
	n := (uint64(i)*idMul+p.idB)%idSpace + 100_000_000
	s := strconv.FormatUint(n, 10)
	return s + string(luhn(s))
}

// index decodes an ID; ok is false for a malformed or unknown one.
func (p *population) index(id string) (int, bool) {
	if len(id) != 10 {
		return 0, false
	}
	for k := 0; k < 10; k++ {
		if id[k] < '0' || id[k] > '9' {
			return 0, false
		}
	}
	if luhn(id[:9]) != id[9] {
		return 0, false
	}
	n, _ := strconv.ParseUint(id[:9], 10, 64)
	if n < 100_000_000 {
		return 0, false
	}
	n -= 100_000_000
	i := ((n + idSpace - p.idB) % idSpace * idMulInv) % idSpace
	if i >= uint64(p.size) {
		return 0, false
	}
	return int(i), true
}

// resident is one register record, materialised for an answer.
type resident struct {
	idx      int
	ID       string
	Family   string
	Given    []string
	Gender   int
	Birth    time.Time
	Kind     kind
	Town     *town
	District *district
	Postal   string
	Street   string
	House    int
	Deceased time.Time    // zero unless deceased
	MovedOn  time.Time    // zero unless moved out
	MovedTo  *destination // nil if moved to an unknown address
	NewLine  string       // street and number at the destination
}

func (r *resident) status() string {
	switch {
	case r.Kind == kindDeceased:
		return "deceased"
	case r.Kind == kindMoved && r.MovedTo == nil:
		return "moved-unknown"
	case r.Kind == kindMoved && r.MovedTo.Country != "DE":
		return "moved-abroad"
	case r.Kind == kindMoved:
		return "moved-within-germany"
	}
	return "resident"
}

func (r *resident) line() string { return r.Street + " " + strconv.Itoa(r.House) }

func (p *population) resident(i int) *resident {
	tn := &towns[p.town[i]]
	r := &resident{
		idx:      i,
		ID:       p.id(i),
		Family:   p.families[p.family[i]].text,
		Gender:   p.genderOf(i),
		Birth:    dateOfDay(int(p.birth[i])),
		Kind:     p.kindOf(i),
		Town:     tn,
		District: &districts[tn.District],
		Postal:   tn.Postal[p.postal[i]],
		Street:   streets[p.street[i]],
		House:    int(p.house[i]),
	}
	r.Given = append(r.Given, p.givens[p.given1[i]].text)
	if g2 := p.given2[i]; g2 != 0 {
		r.Given = append(r.Given, p.givens[g2].text)
	}
	asOf := dayOf(p.asOf)
	switch r.Kind {
	case kindDeceased:
		// Died in the two years before the register's date.
		from := max(int(p.birth[i])+1, asOf-730)
		r.Deceased = dateOfDay(from + int(p.detail(i, 1)%uint64(asOf-from)))
	case kindMoved:
		from := max(int(p.birth[i])+1, asOf-5*365)
		r.MovedOn = dateOfDay(from + int(p.detail(i, 2)%uint64(asOf-from)))
		if r.MovedTo = p.movedTo(i); r.MovedTo != nil {
			h := p.detail(i, 3)
			r.NewLine = streets[h/1000%uint64(len(streets))] + " " + strconv.Itoa(int(1+h/100000%90))
		}
	}
	return r
}

// movedTo is where resident i moved, nil for an unknown address (one in
// ten of those who moved out).
func (p *population) movedTo(i int) *destination {
	h := p.detail(i, 3)
	if h%10 == 0 {
		return nil
	}
	return &destinations[h/10%uint64(len(destinations))]
}

// streetEntries are the streets with their search keys (XMeld searches by street).
var streetEntries = func() []nameEntry {
	out := make([]nameEntry, len(streets))
	for i, s := range streets {
		out[i] = newNameEntry(s)
	}
	return out
}()

// ageAt is the age in whole years on day at.
func ageAt(birth, at time.Time) int {
	a := at.Year() - birth.Year()
	if at.Month() < birth.Month() || at.Month() == birth.Month() && at.Day() < birth.Day() {
		a--
	}
	return a
}
