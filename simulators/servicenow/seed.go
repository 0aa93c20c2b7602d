package servicenow

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// State values of wm_task and wm_order. The real numbers are not published
// (external-apis.md 2.2); these are the ones this project uses
// (mappings/servicenow/mobile-visit.yaml), served in sys_choice so that a
// client reads them instead of hard-coding them.
const (
	stateDraft           = "1"
	statePendingDispatch = "10"
	stateScheduled       = "15"
	stateAssigned        = "16"
	stateAccepted        = "17"
	stateWorkInProgress  = "18"
	stateClosedComplete  = "3"
	stateClosedIncomplet = "4"
	stateCancelled       = "7"
)

var closedStates = map[string]bool{stateClosedComplete: true, stateClosedIncomplet: true, stateCancelled: true}

type choiceSeed struct{ value, label string }

var taskStates = []choiceSeed{
	{stateDraft, "Draft"}, {statePendingDispatch, "Pending Dispatch"}, {stateScheduled, "Scheduled"},
	{stateAssigned, "Assigned"}, {stateAccepted, "Accepted"}, {stateWorkInProgress, "Work In Progress"},
	{stateClosedComplete, "Closed Complete"}, {stateClosedIncomplet, "Closed Incomplete"}, {stateCancelled, "Cancelled"},
}

var orderStates = []choiceSeed{
	{stateDraft, "Draft"}, {statePendingDispatch, "Pending Dispatch"}, {stateAssigned, "Assigned"},
	{stateWorkInProgress, "Work In Progress"}, {stateClosedComplete, "Closed Complete"},
	{stateClosedIncomplet, "Closed Incomplete"}, {stateCancelled, "Cancelled"},
}

var products = []choiceSeed{
	{"comirnaty", "Comirnaty (BioNTech/Pfizer)"}, {"spikevax", "Spikevax (Moderna)"},
	{"vaxzevria", "Vaxzevria (AstraZeneca)"}, {"janssen", "COVID-19 Vaccine Janssen"},
}

// districtSeed is one of Saxony's 13 districts with the number of mobile
// teams based there (30 in all).
type districtSeed struct {
	ags, name string
	teams     int
}

var districtSeeds = []districtSeed{
	{"14511", "Chemnitz", 2}, {"14521", "Erzgebirgskreis", 2}, {"14522", "Mittelsachsen", 2},
	{"14523", "Vogtlandkreis", 2}, {"14524", "Zwickau", 2}, {"14612", "Dresden", 4},
	{"14625", "Bautzen", 2}, {"14626", "Görlitz", 2}, {"14627", "Meißen", 2},
	{"14628", "Sächsische Schweiz-Osterzgebirge", 2}, {"14713", "Leipzig", 4},
	{"14729", "Landkreis Leipzig", 2}, {"14730", "Nordsachsen", 2},
}

// careHomeSeed is a care home; names and addresses are invented but
// plausible, towns and postal codes real.
type careHomeSeed struct {
	district                int // index into districtSeeds
	name, street, zip, city string
	residents, staff        int
}

var careHomeSeeds = []careHomeSeed{
	{0, "Seniorenzentrum Chemnitz-Kaßberg", "Weststraße 41", "09112", "Chemnitz", 96, 58},
	{0, "Pflegeheim Chemnitz-Sonnenberg", "Fürstenstraße 120", "09130", "Chemnitz", 72, 44},
	{0, "Haus am Küchwald", "Leipziger Straße 180", "09114", "Chemnitz", 110, 63},
	{1, "Seniorenheim Annaberg-Buchholz", "Buchholzer Straße 12", "09456", "Annaberg-Buchholz", 84, 50},
	{1, "Pflegeheim Aue Zeller Berg", "Zeller Berg 5", "08280", "Aue-Bad Schlema", 68, 41},
	{1, "Seniorenresidenz Marienberg", "Zschopauer Straße 30", "09496", "Marienberg", 55, 34},
	{2, "Seniorenheim Freiberg Friedeburg", "Dresdner Straße 201", "09599", "Freiberg", 90, 52},
	{2, "Pflegeheim Döbeln am Bürgergarten", "Bahnhofstraße 44", "04720", "Döbeln", 64, 39},
	{2, "Seniorenzentrum Mittweida", "Rochlitzer Straße 66", "09648", "Mittweida", 58, 36},
	{3, "Pflegeheim Plauen-Preißelpöhl", "Pausaer Straße 90", "08525", "Plauen", 102, 60},
	{3, "Seniorenheim Reichenbach", "Zwickauer Straße 15", "08468", "Reichenbach im Vogtland", 70, 42},
	{3, "Haus Vogtlandblick Auerbach", "Göltzschtalstraße 3", "08209", "Auerbach/Vogtl.", 48, 30},
	{4, "Seniorenzentrum Zwickau-Marienthal", "Marienthaler Straße 140", "08060", "Zwickau", 118, 70},
	{4, "Pflegeheim Glauchau am Gründelpark", "Lungwitzer Straße 8", "08371", "Glauchau", 66, 40},
	{4, "Seniorenheim Werdau", "Uferstraße 22", "08412", "Werdau", 52, 33},
	{5, "Seniorenheim Dresden-Johannstadt", "Pfotenhauerstraße 60", "01307", "Dresden", 124, 74},
	{5, "Pflegeheim Dresden-Gorbitz", "Leutewitzer Ring 21", "01169", "Dresden", 98, 59},
	{5, "Seniorenzentrum Dresden-Klotzsche", "Königsbrücker Landstraße 155", "01109", "Dresden", 86, 51},
	{5, "Haus an der Elbe Dresden-Pieschen", "Leipziger Straße 95", "01127", "Dresden", 77, 46},
	{5, "Pflegeheim Dresden-Prohlis", "Prohliser Allee 10", "01239", "Dresden", 105, 62},
	{6, "Seniorenheim Bautzen-Gesundbrunnen", "Dr.-Peter-Jordan-Straße 12", "02625", "Bautzen", 88, 53},
	{6, "Pflegeheim Hoyerswerda Neustadt", "Albert-Schweitzer-Straße 4", "02977", "Hoyerswerda", 79, 47},
	{6, "Seniorenresidenz Kamenz", "Macherstraße 40", "01917", "Kamenz", 50, 31},
	{7, "Pflegeheim Görlitz-Rauschwalde", "Reichenbacher Straße 70", "02827", "Görlitz", 92, 55},
	{7, "Seniorenheim Zittau am Weinaupark", "Weinaustraße 18", "02763", "Zittau", 71, 43},
	{7, "Haus Lausitz Löbau", "Äußere Zittauer Straße 25", "02708", "Löbau", 54, 34},
	{8, "Seniorenheim Riesa-Weida", "Weidaer Straße 33", "01587", "Riesa", 83, 50},
	{8, "Pflegeheim Meißen-Cölln", "Dresdner Straße 48", "01662", "Meißen", 74, 45},
	{8, "Seniorenzentrum Radebeul-Ost", "Hauptstraße 11", "01445", "Radebeul", 69, 42},
	{9, "Pflegeheim Pirna-Copitz", "Hauptstraße 28", "01796", "Pirna", 81, 49},
	{9, "Seniorenheim Freital-Deuben", "Dresdner Straße 160", "01705", "Freital", 76, 46},
	{9, "Haus am Wilisch Dippoldiswalde", "Altenberger Straße 9", "01744", "Dippoldiswalde", 45, 29},
	{10, "Seniorenheim Leipzig-Grünau", "Stuttgarter Allee 24", "04209", "Leipzig", 130, 77},
	{10, "Pflegeheim Leipzig-Connewitz", "Bornaische Straße 52", "04277", "Leipzig", 95, 57},
	{10, "Seniorenzentrum Leipzig-Gohlis", "Georg-Schumann-Straße 110", "04155", "Leipzig", 108, 64},
	{10, "Haus am Rosental Leipzig", "Waldstraße 70", "04105", "Leipzig", 87, 52},
	{10, "Pflegeheim Leipzig-Paunsdorf", "Goldsternstraße 15", "04329", "Leipzig", 99, 59},
	{11, "Seniorenheim Borna", "Deutzener Straße 6", "04552", "Borna", 62, 38},
	{11, "Pflegeheim Grimma an der Mulde", "Leipziger Straße 71", "04668", "Grimma", 73, 44},
	{11, "Seniorenresidenz Markkleeberg", "Koburger Straße 35", "04416", "Markkleeberg", 57, 35},
	{12, "Seniorenheim Torgau Brückenkopf", "Straße der Jugend 16", "04860", "Torgau", 67, 41},
	{12, "Pflegeheim Delitzsch Nord", "Dübener Straße 50", "04509", "Delitzsch", 60, 37},
	{12, "Seniorenzentrum Eilenburg", "Torgauer Straße 27", "04838", "Eilenburg", 53, 33},
}

// slug turns a name into a care home code: lower case, ASCII, hyphens
// ("Seniorenheim Riesa-Weida" -> "seniorenheim-riesa-weida").
func slug(name string) string {
	r := strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "Ä", "ae", "Ö", "oe", "Ü", "ue", "ß", "ss")
	s := strings.ToLower(r.Replace(name))
	var b strings.Builder
	dash := false
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// seedUser is sys_created_by of seeded records.
const seedUser = "admin"

// seed fills sys_choice, cmn_location and sys_user_group. Seeded records
// have the same sys_ids on every start.
func (s *Simulator) seed(now time.Time) {
	ch := s.tables[tChoice]
	addChoices := func(tbl, element string, cs []choiceSeed) {
		for i, c := range cs {
			ch.insert(map[string]string{
				"sys_id": stableSysID(tChoice, tbl+"."+element+"."+c.value), "name": tbl, "element": element,
				"value": c.value, "label": c.label, "sequence": strconv.Itoa(i * 10), "language": "en", "inactive": "false",
			}, now, seedUser)
		}
	}
	addChoices(tTask, "state", taskStates)
	addChoices(tOrder, "state", orderStates)
	addChoices(tVaccination, "u_product", products)

	locs := s.tables[tLocation]
	districtIDs := make([]string, len(districtSeeds))
	for i, d := range districtSeeds {
		r := locs.insert(map[string]string{
			"sys_id": stableSysID(tLocation, "district-"+d.ags), "name": d.name, "cmn_location_type": "district",
			"state": "Sachsen", "country": "DE", "u_code": "district-" + d.ags, "u_district": d.name, "u_district_ags": d.ags,
		}, now, seedUser)
		districtIDs[i] = r.id()
	}
	for _, h := range careHomeSeeds {
		d := districtSeeds[h.district]
		code := slug(h.name)
		locs.insert(map[string]string{
			"sys_id": stableSysID(tLocation, code), "name": h.name, "cmn_location_type": "care_home",
			"parent": districtIDs[h.district], "street": h.street, "zip": h.zip, "city": h.city,
			"state": "Sachsen", "country": "DE", "u_code": code, "u_district": d.name, "u_district_ags": d.ags,
			"u_residents": strconv.Itoa(h.residents), "u_staff": strconv.Itoa(h.staff),
		}, now, seedUser)
	}

	groups := s.tables[tGroup]
	n := 0
	for _, d := range districtSeeds {
		for k := 0; k < d.teams; k++ {
			n++
			code := fmt.Sprintf("MT%02d", n)
			groups.insert(map[string]string{
				"sys_id": stableSysID(tGroup, code), "name": fmt.Sprintf("Mobiles Impfteam %02d %s", n, d.name),
				"description": "Mobile vaccination team for care homes, district " + d.name, "active": "true",
				"type": "mobile_team", "u_code": code, "u_district": d.name, "u_district_ags": d.ags,
				"email": strings.ToLower(code) + "@impfteams.sachsen.example",
			}, now, seedUser)
		}
	}
}
