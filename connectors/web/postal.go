package web

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/vaxhub/vaxhub/core/domain"
)

//go:embed data/plz-sachsen.csv
var postalCSV string

// postalArea is the approximate place of a three-digit postal-code prefix.
type postalArea struct {
	Prefix          string
	Lat, Lon        float64
	DistrictAGS     string
	MunicipalityKey string
	Name            string
}

// postalAreas maps a postal-code prefix to its area (Saxony only).
type postalAreas map[string]postalArea

func loadPostalAreas() (postalAreas, error) {
	r := csv.NewReader(strings.NewReader(postalCSV))
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("web: postal table: %w", err)
	}
	out := postalAreas{}
	for i, row := range rows {
		if i == 0 {
			continue // header
		}
		if len(row) != 6 || len(row[0]) != 3 {
			return nil, fmt.Errorf("web: postal table line %d: want 6 fields and a 3-digit prefix", i+1)
		}
		lat, err1 := strconv.ParseFloat(row[1], 64)
		lon, err2 := strconv.ParseFloat(row[2], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("web: postal table line %d: bad coordinates", i+1)
		}
		out[row[0]] = postalArea{Prefix: row[0], Lat: lat, Lon: lon, DistrictAGS: row[3], MunicipalityKey: row[4], Name: row[5]}
	}
	return out, nil
}

// lookup returns the area of a five-digit postal code.
func (p postalAreas) lookup(code string) (postalArea, bool) {
	code = strings.TrimSpace(code)
	if len(code) != 5 {
		return postalArea{}, false
	}
	a, ok := p[code[:3]]
	return a, ok
}

// municipalityKey is the representative municipality key for a postal code;
// outside Saxony it is "00000000", which the rules read as "not resident".
func (p postalAreas) municipalityKey(code string) string {
	if a, ok := p.lookup(code); ok {
		return a.MunicipalityKey
	}
	return "00000000"
}

// nearbyCentre is a centre with its approximate distance.
type nearbyCentre struct {
	domain.Centre
	Km    int
	Known bool // the distance could be estimated
}

// nearest sorts centres by approximate distance from the postal code: the
// great-circle distance between the prefix areas of the code and of each
// centre's own postal code. Unknown codes keep the centres' order.
func (p postalAreas) nearest(code string, centres []domain.Centre) []nearbyCentre {
	from, ok := p.lookup(code)
	out := make([]nearbyCentre, 0, len(centres))
	for _, c := range centres {
		n := nearbyCentre{Centre: c}
		if to, ok2 := p.lookup(c.PostalCode); ok && ok2 {
			n.Km, n.Known = int(math.Round(haversineKm(from.Lat, from.Lon, to.Lat, to.Lon))), true
		}
		out = append(out, n)
	}
	if ok {
		slices.SortStableFunc(out, func(a, b nearbyCentre) int {
			switch {
			case a.Known != b.Known:
				if a.Known {
					return -1
				}
				return 1
			case a.Km != b.Km:
				return a.Km - b.Km
			}
			return strings.Compare(a.Name, b.Name)
		})
	}
	return out
}

func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Sqrt(a))
}
