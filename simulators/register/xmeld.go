package register

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The XMeld person search (datenabruf.personensuche.suchanfrage.1330) as XML
// over plain HTTP, without OSCI transport. The request is read by element
// names, whatever the namespace prefixes; the answer is a hit list after
// BMeldDAV §6. The real reply message number and the element that switches
// on the phonetic search are not in the reference; this simulator uses
// datenabruf.personensuche.trefferliste.1331 and
// steuerungsinformationen/phonetischeSuche (true|false).

const (
	xmeldNamespace   = "http://www.osci.de/xmeld2511a"
	xmeldRequestType = "datenabruf.personensuche.suchanfrage.1330"
	xmeldAnswerType  = "datenabruf.personensuche.trefferliste.1331"
	xmeldErrorType   = "datenabruf.personensuche.fehler.1339"
	maxXMeldHits     = 50
	maxXMeldBody     = 1 << 20
)

// xmeldRequest is what the simulator reads from a 1330 message.
type xmeldRequest struct {
	root        string
	messageUUID string
	family      string
	given       []string
	muni        string
	postal      string
	street      string
	birth       string // YYYY, YYYY-MM or YYYY-MM-DD
	gender      string
	phonetic    bool
}

func parseXMeld(body io.Reader) (*xmeldRequest, error) {
	dec := xml.NewDecoder(body)
	req := &xmeldRequest{}
	var stack []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not well-formed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				req.root = t.Name.Local
			}
			stack = append(stack, t.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			v := strings.TrimSpace(string(t))
			if v == "" || len(stack) == 0 {
				continue
			}
			path := strings.Join(stack, "/")
			has := func(suffix string) bool { return strings.HasSuffix(path, suffix) }
			switch {
			case has("identifikation.nachricht/nachrichtenUUID"):
				req.messageUUID = v
			case has("nachnameUndVornamen/nachname/name"), has("auswahldaten/familienname/name"):
				req.family = v
			case has("nachnameUndVornamen/vornamen/name"), has("auswahldaten/vornamen/name"):
				req.given = append(req.given, strings.Fields(v)...)
			case has("auswahldaten/anschrift/gemeindeschluessel/code"):
				req.muni = v
			case has("auswahldaten/anschrift/postleitzahl"):
				req.postal = v
			case has("auswahldaten/anschrift/strasse"), has("auswahldaten/anschrift/strassenname"):
				req.street = v
			case has("teilbekanntesDatum/jahrMonatTag"), has("teilbekanntesDatum/jahrMonat"), has("teilbekanntesDatum/jahr"):
				req.birth = v
			case has("auswahldaten/geschlecht/code"):
				req.gender = v
			case has("steuerungsinformationen/phonetischeSuche"):
				req.phonetic = v == "true" || v == "1"
			}
		}
	}
	return req, nil
}

// xmeldError answers a request that cannot be served.
func writeXMeldError(w http.ResponseWriter, status int, ref, code, text string) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	fmt.Fprintf(&b, `<xmeld:%s xmlns:xmeld="%s">`, xmeldErrorType, xmeldNamespace)
	writeHeader(&b, "1339", ref)
	b.WriteString(`<xmeld:fehler><code>`)
	_ = xml.EscapeText(&b, []byte(code))
	b.WriteString(`</code><text>`)
	_ = xml.EscapeText(&b, []byte(text))
	b.WriteString(`</text></xmeld:fehler>`)
	fmt.Fprintf(&b, `</xmeld:%s>`, xmeldErrorType)
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func writeHeader(b *bytes.Buffer, typ, ref string) {
	fmt.Fprintf(b, `<nachrichtenkopf.g2g><identifikation.nachricht><nachrichtenUUID>%s</nachrichtenUUID>`+
		`<nachrichtentyp listURI="urn:xoev-de:xmeld:codeliste:nachrichtentyp"><code>%s</code></nachrichtentyp>`+
		`<erstellungszeitpunkt>%s</erstellungszeitpunkt></identifikation.nachricht>`,
		newUUID(), typ, time.Now().UTC().Format(time.RFC3339))
	if ref != "" {
		b.WriteString(`<referenzUUID>`)
		_ = xml.EscapeText(b, []byte(ref))
		b.WriteString(`</referenzUUID>`)
	}
	b.WriteString(`<autor><kennung>ags:14000000</kennung><name>Melderegister Sachsen (Simulator)</name></autor></nachrichtenkopf.g2g>`)
}

func elem(b *bytes.Buffer, name, v string) {
	if v == "" {
		return
	}
	fmt.Fprintf(b, "<%s>", name)
	_ = xml.EscapeText(b, []byte(v))
	fmt.Fprintf(b, "</%s>", name)
}

// xmeldSearch answers POST /xmeld (a 1330 person search) with a hit list.
func (s *Simulator) xmeldSearch(w http.ResponseWriter, r *http.Request) {
	req, err := parseXMeld(io.LimitReader(r.Body, maxXMeldBody))
	if err != nil {
		writeXMeldError(w, http.StatusBadRequest, "", "syntax", err.Error())
		return
	}
	if req.root != xmeldRequestType {
		writeXMeldError(w, http.StatusBadRequest, req.messageUUID, "nachrichtentyp",
			fmt.Sprintf("root element %q is not %s", req.root, xmeldRequestType))
		return
	}
	if !uuidPattern.MatchString(req.messageUUID) {
		writeXMeldError(w, http.StatusBadRequest, req.messageUUID, "nachrichtenUUID",
			"nachrichtenkopf.g2g/identifikation.nachricht/nachrichtenUUID must be a UUID")
		return
	}
	q, msg := xmeldQuery(req)
	if msg != "" {
		writeXMeldError(w, http.StatusBadRequest, req.messageUUID, "unzureichendeSuchdaten", msg)
		return
	}
	hits := s.pop.search(q)
	if len(hits) > maxXMeldHits {
		writeXMeldError(w, http.StatusOK, req.messageUUID, "zuVieleTreffer",
			fmt.Sprintf("more than %d hits; narrow the search", maxXMeldHits))
		return
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	fmt.Fprintf(&b, `<xmeld:%s xmlns:xmeld="%s">`, xmeldAnswerType, xmeldNamespace)
	writeHeader(&b, "1331", req.messageUUID)
	fmt.Fprintf(&b, `<xmeld:anzahlTreffer>%d</xmeld:anzahlTreffer>`, len(hits))
	for _, h := range hits {
		writeTreffer(&b, s.pop.resident(h.idx))
	}
	fmt.Fprintf(&b, `</xmeld:%s>`, xmeldAnswerType)
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// writeTreffer writes one hit: the items of BMeldDAV §6 and its flags.
func writeTreffer(b *bytes.Buffer, r *resident) {
	b.WriteString(`<xmeld:treffer>`)
	elem(b, "xmeld:ordnungsmerkmal", r.ID)
	b.WriteString(`<xmeld:familienname>`)
	elem(b, "name", r.Family)
	b.WriteString(`</xmeld:familienname><xmeld:vornamen>`)
	elem(b, "name", strings.Join(r.Given, " "))
	b.WriteString(`</xmeld:vornamen><xmeld:geburtsdatum><teilbekanntesDatum>`)
	elem(b, "jahrMonatTag", r.Birth.Format(time.DateOnly))
	b.WriteString(`</teilbekanntesDatum></xmeld:geburtsdatum>`)
	fmt.Fprintf(b, `<xmeld:geschlecht listVersionID="1"><code>%s</code></xmeld:geschlecht>`, xmeldGender[r.Gender])
	// The current main address: the Saxon one unless moved to a known place.
	b.WriteString(`<xmeld:anschrift>`)
	if r.MovedTo != nil {
		elem(b, "strasseUndHausnummer", r.NewLine)
		elem(b, "postleitzahl", r.MovedTo.Postal)
		elem(b, "wohnort", r.MovedTo.City)
		if r.MovedTo.Key != "" {
			fmt.Fprintf(b, `<gemeindeschluessel><code>%s</code></gemeindeschluessel>`, r.MovedTo.Key)
		}
		elem(b, "staat", r.MovedTo.Country)
	} else {
		elem(b, "strasse", r.Street)
		elem(b, "hausnummer", strconv.Itoa(r.House))
		elem(b, "postleitzahl", r.Postal)
		elem(b, "wohnort", r.Town.Name)
		fmt.Fprintf(b, `<gemeindeschluessel><code>%s</code></gemeindeschluessel>`, r.Town.Key)
		elem(b, "staat", "DE")
	}
	b.WriteString(`</xmeld:anschrift>`)
	switch r.status() {
	case "deceased":
		fmt.Fprintf(b, `<xmeld:verstorben sterbedatum="%s">true</xmeld:verstorben>`, r.Deceased.Format(time.DateOnly))
	case "moved-within-germany":
		fmt.Fprintf(b, `<xmeld:verzogen art="innerhalbDeutschlands" datum="%s">true</xmeld:verzogen>`, r.MovedOn.Format(time.DateOnly))
	case "moved-abroad":
		fmt.Fprintf(b, `<xmeld:verzogen art="insAusland" datum="%s">true</xmeld:verzogen>`, r.MovedOn.Format(time.DateOnly))
	case "moved-unknown":
		fmt.Fprintf(b, `<xmeld:verzogen art="unbekannt" datum="%s">true</xmeld:verzogen>`, r.MovedOn.Format(time.DateOnly))
	}
	b.WriteString(`</xmeld:treffer>`)
}

// xmeldQuery checks the minimum search data of BMeldDAV §4 and builds the
// search; msg says what is missing.
func xmeldQuery(req *xmeldRequest) (*searchQuery, string) {
	if req.family == "" || len(req.given) == 0 {
		return nil, "a person search needs the family name and at least one given name (DSMeld 0101, 0301)"
	}
	if req.muni == "" {
		return nil, "a person search needs the Gemeindeschlüssel of the address or Wohnort (DSMeld 1201)"
	}
	if req.street == "" && req.birth == "" && req.gender == "" {
		return nil, "with only a Wohnort, give at least one of Straße, Geburtsdatum, Geschlecht (BMeldDAV §4)"
	}
	muni := strings.TrimSpace(req.muni)
	if strings.Trim(muni, "0123456789") != "" || len(muni) < 2 || len(muni) > 8 {
		return nil, fmt.Sprintf("gemeindeschluessel %q is not an AGS", req.muni)
	}
	// A key of a whole Land (14000000) or district (14625000) searches all
	// its municipalities; a 2- or 5-digit key does the same.
	switch {
	case len(muni) == 8 && strings.HasSuffix(muni, "000000"):
		muni = muni[:2]
	case len(muni) == 8 && strings.HasSuffix(muni, "000"):
		muni = muni[:5]
	}
	q := &searchQuery{gender: -1, mode: modeSearchForm, postal: strings.TrimSpace(req.postal), muni: muni, history: true}
	if req.phonetic {
		q.mode = modeFuzzy
	}
	fq := newNameQuery(req.family)
	q.family = &fq
	for _, g := range req.given {
		q.givens = append(q.givens, newNameQuery(g))
	}
	if req.street != "" {
		st := req.street
		if l := strings.ToLower(st); strings.HasSuffix(l, "str.") || strings.HasSuffix(l, "str") {
			st = st[:strings.LastIndex(l, "str")] + "straße"
		}
		sq := newNameQuery(st)
		q.street = &sq
	}
	if req.birth != "" {
		f, t, ok := parseDateParam(req.birth)
		if !ok {
			return nil, fmt.Sprintf("geburtsdatum %q is not YYYY, YYYY-MM or YYYY-MM-DD", req.birth)
		}
		q.hasBirth, q.from, q.to = true, f, t
	}
	if req.gender != "" {
		q.gender = -1
		for k, c := range xmeldGender {
			if req.gender == c {
				q.gender = k
			}
		}
		if q.gender < 0 {
			return nil, fmt.Sprintf("geschlecht %q is not one of m, w, d, x", req.gender)
		}
	}
	return q, ""
}
