package letter

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// SampleName is the sample resident's name: long, and accented in ways a
// font without full Latin coverage gets wrong.
const SampleName = "Zoë Aurélie Nguyễn-Ćosić Weiß-Øvergård"

// Sample returns a letter of kind k for the sample resident, with times in
// loc (nil: Europe/Berlin).
func Sample(k Kind, loc *time.Location) Letter {
	if loc == nil {
		loc, _ = time.LoadLocation("Europe/Berlin")
	}
	d1 := time.Date(2021, 4, 19, 9, 15, 0, 0, loc)
	d2 := time.Date(2021, 5, 17, 9, 15, 0, 0, loc)
	doses := []Dose{
		{Number: 1, Product: "comirnaty", Start: d1, End: d1.Add(15 * time.Minute)},
		{Number: 2, Product: "comirnaty", Start: d2, End: d2.Add(15 * time.Minute)},
	}
	l := Letter{
		Kind:      k,
		Recipient: Address{Name: SampleName, Street: "Straße des 17. Juni 12c, Hinterhaus", PostalCode: "01587", City: "Riesa"},
		Reference: "4711081502",
		Centre:    Centre{Name: "Impfzentrum Riesa (WT Energiesysteme Arena)", Street: "Am Sportzentrum 5", PostalCode: "01589", City: "Riesa"},
		Doses:     doses,
		Date:      time.Date(2021, 4, 12, 10, 0, 0, 0, loc),
	}
	switch k {
	case Cancellation:
		l.Reason = "rules"
	case Changed:
		l.Previous = doses
		moved := d2.AddDate(0, 0, 14)
		l.Doses = []Dose{doses[0], {Number: 2, Product: "comirnaty", Start: moved, End: moved.Add(15 * time.Minute)}}
	}
	return l
}

// Samples renders one letter of each kind for the sample resident into dir
// (created if need be), as <kind>-<reference>.pdf. It is `vaxhub letters
// sample DIR`.
func Samples(dir string) error {
	r, err := New(Config{})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("letter: samples: %w", err)
	}
	for _, k := range Kinds {
		l := Sample(k, r.cfg.Location)
		doc, err := r.Render(l)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, l.FileName()), doc.PDF, 0o644); err != nil {
			return fmt.Errorf("letter: samples: %w", err)
		}
	}
	return nil
}
