package match

import (
	"testing"
)

func TestKeysOfNamesFromSaxony(t *testing.T) {
	cases := []struct {
		name                         string
		fold, search, icao, phonetic string
	}{
		{"Müller", "müller", "muller", "mueller", "657"},
		{"WEISS", "weiss", "weiss", "weiss", "38"},
		{"Weiß", "weiss", "weiss", "weiss", "38"},
		{"Ćosić", "ćosić", "cosic", "cosic", "488"},
		{"Øzdemir", "øzdemir", "ozdemir", "oezdemir", "08267"},
		{"Nguyễn", "nguyễn", "nguyen", "nguyen", "646"},
		{"Šołta", "šołta", "solta", "solta", "852"},
		{"Schmidt-Weiß", "schmidt-weiss", "schmidtweiss", "schmidtweiss", "86238"},
		{"Þórsdóttir", "þórsdóttir", "thorsdottir", "thorsdottir", "278227"},
	}
	for _, c := range cases {
		k := KeysOf(c.name)
		if k.Fold != c.fold || k.Search != c.search || k.ICAO != c.icao || k.Phonetic != c.phonetic {
			t.Errorf("%s: got %+v, want fold %q search %q icao %q phonetic %q", c.name, k, c.fold, c.search, c.icao, c.phonetic)
		}
	}
}

func TestKoelnerPhoneticGroupsNamesThatSoundAlike(t *testing.T) {
	for _, group := range [][]string{
		{"Meier", "Mayer", "Maier", "Meyer"},
		{"Schmidt", "Schmitt", "Schmid"},
		{"Müller", "Mueller", "Muller", "Möller"},
		{"Christa", "Krista"},
	} {
		want := KoelnerPhonetik(group[0])
		for _, n := range group[1:] {
			if got := KoelnerPhonetik(n); got != want {
				t.Errorf("%s: %q, %s: %q", group[0], want, n, got)
			}
		}
	}
	if KoelnerPhonetik("Müller") == KoelnerPhonetik("Richter") {
		t.Error("Müller and Richter sound alike")
	}
}

func TestNFCAndDecomposedInputAreTheSameName(t *testing.T) {
	decomposed := "Mu\u0308ller" // u + combining diaeresis, as some keyboards send it
	if Name(decomposed, "Müller") != ScoreExact {
		t.Fatalf("decomposed Müller scores %v", Name(decomposed, "Müller"))
	}
}

// TestHardPairs is the table of how people type names that the register
// holds otherwise, and what the matcher makes of them.
func TestHardPairs(t *testing.T) {
	reg := func(family string, given []string, birth, postal, sex string) Person {
		return Person{Family: family, Given: given, Birth: birth, PostalCode: postal, Sex: sex}
	}
	müller := reg("Müller", []string{"Hans", "Peter"}, "1950-04-12", "01099", "m")
	cases := []struct {
		name       string
		typed      Person
		candidates []Person
		want       Outcome
		best       int
		minScore   float64
	}{
		{"exact", reg("Müller", []string{"Hans Peter"}, "1950-04-12", "01099", "m"), []Person{müller}, Match, 0, 1},
		{"umlaut typed as ae", reg("Mueller", []string{"Hans"}, "1950-04-12", "01099", "m"), []Person{müller}, Match, 0, 0.98},
		{"umlaut dropped", reg("Muller", []string{"Hans"}, "1950-04-12", "01099", "m"), []Person{müller}, Match, 0, 0.98},
		{"upper case", reg("MÜLLER", []string{"HANS", "PETER"}, "1950-04-12", "01099", "m"), []Person{müller}, Match, 0, 1},
		{"missing second given name", reg("Müller", []string{"Hans"}, "1950-04-12", "01099", "m"), []Person{müller}, Match, 0, 1},
		{"swapped given names", reg("Müller", []string{"Peter Hans"}, "1950-04-12", "01099", "m"), []Person{müller}, Match, 0, 0.98},
		{"second given name only", reg("Müller", []string{"Peter"}, "1950-04-12", "01099", "m"), []Person{müller}, Match, 0, 0.98},
		{"hyphenated given name written apart",
			reg("Schulze", []string{"Karl Heinz"}, "1941-02-03", "09111", "m"),
			[]Person{reg("Schulze", []string{"Karl-Heinz"}, "1941-02-03", "09111", "m")}, Match, 0, 0.98},
		{"hyphenated given name, first part only",
			reg("Schulze", []string{"Karl"}, "1941-02-03", "09111", "m"),
			[]Person{reg("Schulze", []string{"Karl-Heinz"}, "1941-02-03", "09111", "m")}, Match, 0, 0.96},
		{"double family name, one part",
			reg("Schmidt", []string{"Mandy"}, "1978-11-30", "04109", "f"),
			[]Person{reg("Schmidt-Weiß", []string{"Mandy"}, "1978-11-30", "04109", "f")}, Match, 0, 0.96},
		{"double family name without hyphen, ß as ss",
			reg("Schmidt Weiss", []string{"Mandy"}, "1978-11-30", "04109", "f"),
			[]Person{reg("Schmidt-Weiß", []string{"Mandy"}, "1978-11-30", "04109", "f")}, Match, 0, 0.98},
		{"ß typed as ss", reg("Weiss", []string{"Gertrud"}, "1931-07-01", "01662", "f"),
			[]Person{reg("Weiß", []string{"Gertrud"}, "1931-07-01", "01662", "f")}, Match, 0, 1},
		{"ß typed as s", reg("Weis", []string{"Gertrud"}, "1931-07-01", "01662", "f"),
			[]Person{reg("Weiß", []string{"Gertrud"}, "1931-07-01", "01662", "f")}, Match, 0, 0.94},
		{"diacritics dropped", reg("Cosic", []string{"Zoe"}, "1999-01-15", "09112", "f"),
			[]Person{reg("Ćosić", []string{"Zoë"}, "1999-01-15", "09112", "f")}, Match, 0, 0.96},
		{"Vietnamese name without tones", reg("Nguyen", []string{"Thi", "Lan"}, "1985-06-06", "04315", "f"),
			[]Person{reg("Nguyễn", []string{"Thị Lan"}, "1985-06-06", "04315", "f")}, Match, 0, 0.96},
		{"ø as oe", reg("Oezdemir", []string{"Emre"}, "1990-02-02", "01067", "m"),
			[]Person{reg("Øzdemir", []string{"Emre"}, "1990-02-02", "01067", "m")}, Match, 0, 0.98},
		{"phonetic spelling, same postal code", reg("Mayer", []string{"Christa"}, "1937-08-14", "08523", "f"),
			[]Person{reg("Meier", []string{"Christa"}, "1937-08-14", "08523", "f")}, Match, 0, 0.94},
		{"phonetic spelling and moved: weak", reg("Mayer", []string{"Krista"}, "1937-08-14", "01099", "f"),
			[]Person{reg("Meier", []string{"Christa"}, "1937-08-14", "08523", "f")}, Weak, 0, 0.75},
		{"moved within the state (new postal code)", reg("Müller", []string{"Hans"}, "1950-04-12", "04109", "m"), []Person{müller}, Match, 0, 0.9},
		{"partial date of birth in the register",
			reg("Richter", []string{"Ronny"}, "1972-05-09", "09599", "m"),
			[]Person{reg("Richter", []string{"Ronny"}, "1972", "09599", "m")}, Match, 0, 0.97},
		{"day and month swapped: weak", reg("Müller", []string{"Hans"}, "1950-12-04", "01099", "m"), []Person{müller}, Weak, 0, 0.9},
		{"other date of birth", reg("Müller", []string{"Hans"}, "1951-04-12", "01099", "m"), []Person{müller}, Weak, 0, 0.6},
		{"a further given name the register lacks", reg("Müller", []string{"Hans Jürgen"}, "1950-04-12", "01099", "m"),
			[]Person{reg("Müller", []string{"Hans"}, "1950-04-12", "01099", "m")}, Match, 0, 0.9},
		{"another given name", reg("Müller", []string{"Klaus"}, "1950-04-12", "01099", "m"), []Person{müller}, None, -1, 0},
		{"twins with the same birth date, postal code breaks the tie",
			reg("Böhme", []string{"Anna"}, "1944-03-03", "02625", "f"),
			[]Person{reg("Böhme", []string{"Anna"}, "1944-03-03", "02763", "f"), reg("Böhme", []string{"Anna"}, "1944-03-03", "02625", "f")},
			Match, 1, 1},
		{"twins with the same birth date and postal code",
			reg("Böhme", []string{"Anna"}, "1944-03-03", "02625", "f"),
			[]Person{reg("Böhme", []string{"Anna"}, "1944-03-03", "02625", "f"), reg("Böhme", []string{"Anna", "Marie"}, "1944-03-03", "02625", "f")},
			Ambiguous, 0, 1},
		{"twins, neither at the typed postal code",
			reg("Böhme", []string{"Anna"}, "1944-03-03", "01099", "f"),
			[]Person{reg("Böhme", []string{"Anna"}, "1944-03-03", "02625", "f"), reg("Böhme", []string{"Anna"}, "1944-03-03", "02763", "f")},
			Ambiguous, 0, 0.9},
		{"twin brother and sister: given names decide",
			reg("Böhme", []string{"Paul"}, "1944-03-03", "02625", "m"),
			[]Person{reg("Böhme", []string{"Paula"}, "1944-03-03", "02625", "f"), reg("Böhme", []string{"Paul"}, "1944-03-03", "02625", "m")},
			Match, 1, 1},
		{"nobody", reg("Müller", []string{"Hans"}, "1950-04-12", "01099", "m"), nil, None, -1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Choose(Config{}, c.typed, c.candidates)
			if d.Outcome != c.want || d.Best != c.best {
				t.Fatalf("got %s (best %d, score %+v), want %s (best %d)", d.Outcome, d.Best, d.Score, c.want, c.best)
			}
			if d.Best >= 0 && d.Score.Total < c.minScore {
				t.Errorf("score %+v below %v", d.Score, c.minScore)
			}
		})
	}
}

func TestThresholdsComeFromConfiguration(t *testing.T) {
	typed := Person{Family: "Müller", Given: []string{"Hans"}, Birth: "1950-04-12", PostalCode: "04109", Sex: "m"}
	cand := []Person{{Family: "Müller", Given: []string{"Hans"}, Birth: "1950-04-12", PostalCode: "01099", Sex: "m"}}
	if d := Choose(Config{}, typed, cand); d.Outcome != Match {
		t.Fatalf("default thresholds: %s", d.Outcome)
	}
	if d := Choose(Config{VerifyAt: 0.95}, typed, cand); d.Outcome != Weak {
		t.Fatalf("VerifyAt 0.95: %s (score %v)", d.Outcome, d.Score.Total)
	}
	if err := (Config{VerifyAt: 0.5, ReviewAt: 0.7, TieMargin: 0.01}).Validate(); err == nil {
		t.Fatal("ReviewAt above VerifyAt accepted")
	}
}
