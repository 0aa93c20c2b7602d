package register

// The geography of the synthetic population: Saxony's 13 districts
// (Kreise, with their real 5-digit AGS and resident counts of 31 December
// 2020 from the Statistisches Landesamt, rounded), a few towns in each with
// their postal codes, and the places outside Saxony that people move to.
//
// The 8-digit municipality keys of the three district-free cities
// (14511000, 14612000, 14713000) are real; those of the other towns are
// plausible (district key plus a three-digit number) but not checked
// against the Gemeindeverzeichnis.

// district is one Saxon Kreis or kreisfreie Stadt.
type district struct {
	AGS        string // 5-digit Kreisschlüssel
	Name       string
	Population int // residents, end of 2020
}

// town is a municipality with the postal codes used for its residents.
type town struct {
	District int    // index into districts
	Key      string // 8-digit Gemeindeschlüssel (AGS)
	Name     string
	Weight   int      // share of the district's residents, relative
	Postal   []string // postal codes, drawn uniformly
}

var districts = []district{
	{"14511", "Chemnitz", 243105},
	{"14521", "Erzgebirgskreis", 334948},
	{"14522", "Mittelsachsen", 302863},
	{"14523", "Vogtlandkreis", 224986},
	{"14524", "Zwickau", 314615},
	{"14612", "Dresden", 556227},
	{"14625", "Bautzen", 297925},
	{"14626", "Görlitz", 251328},
	{"14627", "Meißen", 240969},
	{"14628", "Sächsische Schweiz-Osterzgebirge", 244574},
	{"14713", "Leipzig", 597493},
	{"14729", "Landkreis Leipzig", 257991},
	{"14730", "Nordsachsen", 197673},
}

var towns = []town{
	// Chemnitz
	{0, "14511000", "Chemnitz", 100, []string{"09111", "09112", "09113", "09114", "09116", "09117", "09119", "09120", "09122", "09123", "09125", "09126", "09127", "09128", "09130", "09131"}},
	// Erzgebirgskreis
	{1, "14521020", "Annaberg-Buchholz", 20, []string{"09456"}},
	{1, "14521035", "Aue-Bad Schlema", 20, []string{"08280", "08301"}},
	{1, "14521390", "Marienberg", 13, []string{"09496"}},
	{1, "14521590", "Stollberg/Erzgeb.", 11, []string{"09366"}},
	{1, "14521570", "Schwarzenberg/Erzgeb.", 16, []string{"08340"}},
	{1, "14521500", "Olbernhau", 7, []string{"09526"}},
	{1, "14521690", "Zschopau", 9, []string{"09405"}},
	{1, "14521310", "Lößnitz", 8, []string{"08294"}},
	// Mittelsachsen
	{2, "14522180", "Freiberg", 40, []string{"09599"}},
	{2, "14522110", "Döbeln", 24, []string{"04720"}},
	{2, "14522420", "Mittweida", 15, []string{"09648"}},
	{2, "14522170", "Flöha", 11, []string{"09557"}},
	{2, "14522240", "Hainichen", 9, []string{"09661"}},
	{2, "14522510", "Rochlitz", 6, []string{"09306"}},
	{2, "14522190", "Frankenberg/Sa.", 14, []string{"09669"}},
	// Vogtlandkreis
	{3, "14523320", "Plauen", 64, []string{"08523", "08525", "08527", "08529"}},
	{3, "14523340", "Reichenbach im Vogtland", 20, []string{"08468"}},
	{3, "14523020", "Auerbach/Vogtl.", 18, []string{"08209"}},
	{3, "14523300", "Oelsnitz/Vogtl.", 10, []string{"08606"}},
	{3, "14523410", "Treuen", 8, []string{"08233"}},
	{3, "14523160", "Klingenthal", 8, []string{"08248"}},
	// Zwickau
	{4, "14524330", "Zwickau", 88, []string{"08056", "08058", "08060", "08062", "08064", "08066"}},
	{4, "14524020", "Crimmitschau", 18, []string{"08451"}},
	{4, "14524310", "Werdau", 20, []string{"08412"}},
	{4, "14524060", "Glauchau", 22, []string{"08371"}},
	{4, "14524150", "Limbach-Oberfrohna", 23, []string{"09212"}},
	{4, "14524170", "Meerane", 13, []string{"08393"}},
	{4, "14524080", "Hohenstein-Ernstthal", 14, []string{"09337"}},
	// Dresden
	{5, "14612000", "Dresden", 100, []string{"01067", "01069", "01097", "01099", "01108", "01109", "01127", "01129", "01139", "01156", "01157", "01159", "01169", "01187", "01189", "01217", "01219", "01237", "01239", "01257", "01259", "01277", "01279", "01307", "01309", "01324", "01326", "01328"}},
	// Bautzen
	{6, "14625020", "Bautzen", 38, []string{"02625"}},
	{6, "14625240", "Hoyerswerda", 32, []string{"02977"}},
	{6, "14625270", "Kamenz", 14, []string{"01917"}},
	{6, "14625470", "Radeberg", 18, []string{"01454"}},
	{6, "14625060", "Bischofswerda", 11, []string{"01877"}},
	// Görlitz
	{7, "14626110", "Görlitz", 55, []string{"02826", "02827", "02828"}},
	{7, "14626610", "Zittau", 25, []string{"02763"}},
	{7, "14626310", "Löbau", 15, []string{"02708"}},
	{7, "14626590", "Weißwasser/O.L.", 16, []string{"02943"}},
	{7, "14626420", "Niesky", 9, []string{"02906"}},
	{7, "14626085", "Ebersbach-Neugersdorf", 12, []string{"02730"}},
	// Meißen
	{8, "14627140", "Meißen", 28, []string{"01662"}},
	{8, "14627230", "Riesa", 30, []string{"01587", "01589"}},
	{8, "14627210", "Radebeul", 34, []string{"01445"}},
	{8, "14627030", "Coswig", 21, []string{"01640"}},
	{8, "14627060", "Großenhain", 18, []string{"01558"}},
	// Sächsische Schweiz-Osterzgebirge
	{9, "14628270", "Pirna", 38, []string{"01796"}},
	{9, "14628110", "Freital", 39, []string{"01705"}},
	{9, "14628060", "Dippoldiswalde", 14, []string{"01744"}},
	{9, "14628150", "Heidenau", 16, []string{"01809"}},
	{9, "14628330", "Sebnitz", 10, []string{"01855"}},
	{9, "14628020", "Bad Schandau", 4, []string{"01814"}},
	// Leipzig
	{10, "14713000", "Leipzig", 100, []string{"04103", "04105", "04107", "04109", "04129", "04155", "04157", "04158", "04159", "04177", "04178", "04179", "04205", "04207", "04209", "04229", "04249", "04275", "04277", "04279", "04288", "04289", "04299", "04315", "04317", "04318", "04319", "04328", "04329", "04347", "04349", "04356", "04357"}},
	// Landkreis Leipzig
	{11, "14729040", "Borna", 19, []string{"04552"}},
	{11, "14729270", "Markkleeberg", 25, []string{"04416"}},
	{11, "14729160", "Grimma", 28, []string{"04668"}},
	{11, "14729410", "Wurzen", 16, []string{"04808"}},
	{11, "14729260", "Markranstädt", 15, []string{"04420"}},
	{11, "14729430", "Zwenkau", 9, []string{"04442"}},
	// Nordsachsen
	{12, "14730300", "Torgau", 20, []string{"04860"}},
	{12, "14730070", "Delitzsch", 25, []string{"04509"}},
	{12, "14730090", "Eilenburg", 15, []string{"04838"}},
	{12, "14730230", "Oschatz", 14, []string{"04758"}},
	{12, "14730270", "Schkeuditz", 18, []string{"04435"}},
	{12, "14730020", "Belgern-Schildau", 7, []string{"04874"}},
}

// streets are drawn for every address, in and outside Saxony.
var streets = []string{
	"Hauptstraße", "Bahnhofstraße", "Schulstraße", "Dorfstraße", "Gartenstraße",
	"Lindenstraße", "Goethestraße", "Schillerstraße", "Bergstraße", "Ringstraße",
	"Friedrich-Engels-Straße", "Straße der Einheit", "Am Markt", "Kirchgasse",
	"Rosa-Luxemburg-Straße", "Lößnitzstraße", "Weißeritzstraße", "Schloßstraße",
	"Große Meißner Straße", "Königsbrücker Straße", "Äußere Weberstraße",
	"Wiesenstraße", "Waldstraße", "Feldstraße", "Mühlgasse", "Am Anger",
	"Thomas-Müntzer-Straße", "Ernst-Thälmann-Straße", "August-Bebel-Straße",
	"Karl-Liebknecht-Straße", "Leipziger Straße", "Dresdner Straße",
	"Chemnitzer Straße", "Zwickauer Straße", "Plauensche Straße",
	"Freiberger Straße", "Pirnaer Landstraße", "Bautzner Straße", "Zittauer Straße",
	"Gutenbergstraße", "Rathausplatz", "Fichtestraße", "Jahnstraße", "Amselweg",
	"Birkenweg", "Eichendorffstraße", "Heinrich-Heine-Straße", "Lessingstraße",
	"Sonnenstraße", "Talstraße", "Uferstraße", "Zum Sportplatz", "Weinbergstraße",
	"Obere Straße", "Untere Dorfstraße", "Neue Gasse", "Pestalozzistraße",
	"Clara-Zetkin-Straße", "Grünstraße", "Fröbelstraße",
}

// destination is where a resident who moved out of Saxony now lives.
type destination struct {
	City    string
	Postal  string
	Key     string // 8-digit AGS, empty abroad
	State   string // ISO 3166-2 subdivision, empty abroad
	Country string // ISO 3166-1 alpha-2
}

var destinations = []destination{
	{"Berlin", "10115", "11000000", "DE-BE", "DE"},
	{"Berlin", "10245", "11000000", "DE-BE", "DE"},
	{"München", "80331", "09162000", "DE-BY", "DE"},
	{"Hamburg", "20095", "02000000", "DE-HH", "DE"},
	{"Halle (Saale)", "06108", "15002000", "DE-ST", "DE"},
	{"Erfurt", "99084", "16051000", "DE-TH", "DE"},
	{"Nürnberg", "90402", "09564000", "DE-BY", "DE"},
	{"Frankfurt am Main", "60311", "06412000", "DE-HE", "DE"},
	{"Köln", "50667", "05315000", "DE-NW", "DE"},
	{"Stuttgart", "70173", "08111000", "DE-BW", "DE"},
	{"Wien", "1010", "", "", "AT"},
	{"Praha", "110 00", "", "", "CZ"},
	{"Wrocław", "50-001", "", "", "PL"},
	{"Zürich", "8001", "", "", "CH"},
}

// stateSaxony is the ISO 3166-2 code of every Saxon address.
const stateSaxony = "DE-SN"
