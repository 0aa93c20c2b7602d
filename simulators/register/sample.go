package register

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The /_sim/residents endpoints hand testers real records of the synthetic
// population, so that they can register people who exist (or who are
// deceased, moved out, blocked or ambiguous, on request).

type populationStats struct {
	Seed        uint64         `json:"seed"`
	Size        int            `json:"size"`
	AsOf        string         `json:"as_of"`
	GeneratedMS int64          `json:"generated_ms"`
	Kinds       map[string]int `json:"kinds"`
	Districts   []districtStat `json:"districts"`
	Aged80Plus  int            `json:"aged_80_plus"`
	FamilyNames int            `json:"family_names"`
	GivenNames  int            `json:"given_names"`
}

type districtStat struct {
	AGS       string `json:"ags"`
	Name      string `json:"name"`
	Residents int    `json:"residents"`
}

func (p *population) stats() populationStats {
	st := populationStats{Seed: p.seed, Size: p.size, AsOf: p.asOf.Format(time.DateOnly), Kinds: map[string]int{},
		FamilyNames: len(p.families), GivenNames: len(p.givens) - 1}
	var kinds [len(kindNames)]int
	dist := make([]int, len(districts))
	cut80 := dayOf(p.asOf.AddDate(-80, 0, 0))
	for i := 0; i < p.size; i++ {
		kinds[p.kindOf(i)]++
		dist[towns[p.town[i]].District]++
		if int(p.birth[i]) <= cut80 {
			st.Aged80Plus++
		}
	}
	for k, n := range kinds {
		st.Kinds[kindNames[k]] = n
	}
	for d, n := range dist {
		st.Districts = append(st.Districts, districtStat{districts[d].AGS, districts[d].Name, n})
	}
	return st
}

func (s *Simulator) statsHandler(w http.ResponseWriter, r *http.Request) {
	st := s.stats
	st.GeneratedMS = s.generated.Milliseconds()
	writeJSON(w, http.StatusOK, "application/json", st)
}

// sampleResident is one record as /_sim/residents/sample shows it.
type sampleResident struct {
	ID              string   `json:"id"`
	Kind            string   `json:"kind"`
	Status          string   `json:"status"`
	Family          string   `json:"family"`
	Given           []string `json:"given"`
	Gender          string   `json:"gender"`
	BirthDate       string   `json:"birth_date"`
	Age             int      `json:"age"`
	Street          string   `json:"street"`
	HouseNumber     string   `json:"house_number"`
	PostalCode      string   `json:"postal_code"`
	City            string   `json:"city"`
	MunicipalityKey string   `json:"municipality_key"`
	District        string   `json:"district"`
	DistrictAGS     string   `json:"district_ags"`
	DeceasedDate    string   `json:"deceased_date,omitempty"`
	MovedOn         string   `json:"moved_on,omitempty"`
	MovedTo         *movedTo `json:"moved_to,omitempty"`
	SameAs          []string `json:"same_name_and_birth_date,omitempty"`
	Search          string   `json:"fhir_search"`
	Patient         string   `json:"fhir_read"`
}

type movedTo struct {
	Line       string `json:"line"`
	PostalCode string `json:"postal_code"`
	City       string `json:"city"`
	State      string `json:"state,omitempty"`
	Country    string `json:"country"`
}

type sampleAnswer struct {
	Seed      uint64           `json:"seed"`
	Size      int              `json:"size"`
	AsOf      string           `json:"as_of"`
	Count     int              `json:"count"`
	Residents []sampleResident `json:"residents"`
}

const maxSample = 1000

// sample answers GET /_sim/residents/sample?n=&district=&min_age=&max_age=&kind=&page=.
// The same query gives the same residents; page moves on to others.
func (s *Simulator) sample(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	bad := func(format string, a ...any) {
		writeJSON(w, http.StatusBadRequest, "application/json", map[string]string{"error": fmt.Sprintf(format, a...)})
	}
	for k := range v {
		switch k {
		case "n", "district", "min_age", "max_age", "kind", "page":
		default:
			bad("unknown parameter %q (known: n, district, min_age, max_age, kind, page)", k)
			return
		}
	}
	num := func(name string, def, lo, hi int) (int, bool) {
		s := v.Get(name)
		if s == "" {
			return def, true
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			bad("%s must be a whole number in %d..%d, not %q", name, lo, hi, s)
			return 0, false
		}
		return n, true
	}
	n, ok := num("n", 10, 1, maxSample)
	if !ok {
		return
	}
	minAge, ok := num("min_age", 0, 0, 120)
	if !ok {
		return
	}
	maxAge, ok := num("max_age", 120, 0, 120)
	if !ok {
		return
	}
	page, ok := num("page", 0, 0, 1_000_000)
	if !ok {
		return
	}
	k := kindNormal
	anyKind := false
	switch ks := v.Get("kind"); ks {
	case "", "normal":
	case "any":
		anyKind = true
	default:
		if k, ok = parseKind(ks); !ok {
			bad("kind must be one of normal, deceased, moved, blocked, ambiguous, any; not %q", ks)
			return
		}
	}
	dist := -1
	if d := v.Get("district"); d != "" {
		for i, di := range districts {
			if d == di.AGS || strings.EqualFold(d, di.Name) || foldName(d) == foldName(di.Name) {
				dist = i
			}
		}
		if dist < 0 {
			bad("unknown district %q: use a 5-digit AGS (14612) or a name (Dresden)", d)
			return
		}
	}

	p := s.pop
	// Birth days that qualify: min_age and max_age at the register's date.
	latest := dayOf(p.asOf.AddDate(-minAge, 0, 0))
	earliest := dayOf(p.asOf.AddDate(-maxAge-1, 0, 1))
	ans := sampleAnswer{Seed: p.seed, Size: p.size, AsOf: p.asOf.Format(time.DateOnly), Residents: []sampleResident{}}

	// Walk the residents in a fixed pseudo-random order that depends on the
	// query, so that the same query gives the same sample.
	h := splitmix(p.seed ^ uint64(k)<<8 ^ uint64(dist+1)<<16 ^ uint64(minAge)<<24 ^ uint64(maxAge)<<32 ^ uint64(page)<<40 ^ uint64(n)<<52)
	if anyKind {
		h = splitmix(h)
	}
	size := uint64(p.size)
	step := size*618/1000 + 1
	for gcd(step, size) != 1 {
		step++
	}
	pos := h % size
	for scanned := uint64(0); scanned < size && len(ans.Residents) < n; scanned++ {
		i := int(pos)
		pos = (pos + step) % size
		if !anyKind && p.kindOf(i) != k {
			continue
		}
		if b := int(p.birth[i]); b > latest || b < earliest {
			continue
		}
		if dist >= 0 && int(towns[p.town[i]].District) != dist {
			continue
		}
		same := p.sameNameAndBirth(i)
		if k == kindNormal && !anyKind && len(same) > 0 {
			continue // a normal sample must be unique in the register
		}
		ans.Residents = append(ans.Residents, s.sampleOf(i, same))
	}
	ans.Count = len(ans.Residents)
	writeJSON(w, http.StatusOK, "application/json", ans)
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// sameNameAndBirth lists the other residents with the same birth date and
// the same family and first given name in the search form: the ones a
// search for i cannot tell apart from it.
func (p *population) sameNameAndBirth(i int) []int {
	d := int(p.birth[i])
	fk := &p.families[p.family[i]].keys
	gk := &p.givens[p.given1[i]].keys
	var out []int
	for _, j32 := range p.byBirth[p.dayStart[d]:p.dayStart[d+1]] {
		j := int(j32)
		if j == i || p.kindOf(j) == kindBlocked {
			continue
		}
		if p.families[p.family[j]].keys.base == fk.base && p.givens[p.given1[j]].keys.base == gk.base {
			out = append(out, j)
		}
	}
	return out
}

func (s *Simulator) sampleOf(i int, same []int) sampleResident {
	r := s.pop.resident(i)
	out := sampleResident{
		ID: r.ID, Kind: r.Kind.String(), Status: r.status(), Family: r.Family, Given: r.Given,
		Gender: fhirGender[r.Gender], BirthDate: r.Birth.Format(time.DateOnly), Age: ageAt(r.Birth, s.pop.asOf),
		Street: r.Street, HouseNumber: strconv.Itoa(r.House), PostalCode: r.Postal, City: r.Town.Name,
		MunicipalityKey: r.Town.Key, District: r.District.Name, DistrictAGS: r.District.AGS,
		Patient: "/Patient/" + r.ID,
	}
	if !r.Deceased.IsZero() {
		out.DeceasedDate = r.Deceased.Format(time.DateOnly)
	}
	if !r.MovedOn.IsZero() {
		out.MovedOn = r.MovedOn.Format(time.DateOnly)
		if d := r.MovedTo; d != nil {
			out.MovedTo = &movedTo{Line: r.NewLine, PostalCode: d.Postal, City: d.City, State: d.State, Country: d.Country}
		}
	}
	for _, j := range same {
		out.SameAs = append(out.SameAs, s.pop.id(j))
	}
	q := url.Values{}
	q.Set("family", r.Family)
	q.Set("given", strings.Join(r.Given, " "))
	q.Set("birthdate", "eq"+out.BirthDate)
	out.Search = "/Patient?" + q.Encode()
	return out
}
