package mappings

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestConversions(t *testing.T) {
	tests := []struct {
		conv    string
		dir     direction
		in      any
		want    any    // when err is ""
		wantErr string // substring
	}{
		{"string", inbound, json.Number("12.50"), "12.50", ""},
		{"string", inbound, true, "true", ""},
		{"string", outbound, int64(7), "7", ""},
		{"string", inbound, map[string]any{}, nil, "want a string, number or boolean, got an object"},

		{"int", inbound, json.Number("42"), int64(42), ""},
		{"int", inbound, "42", int64(42), ""},
		{"int", inbound, "2021", int64(2021), ""},
		{"int", outbound, float64(3), int64(3), ""},
		{"int", inbound, float64(3.5), nil, "not a whole number"},
		{"int", inbound, "4x", nil, `"4x" is not a decimal number`},

		{"decimal-int", inbound, "1170.000", int64(1170), ""},
		{"decimal-int", inbound, "-6", int64(-6), ""},
		{"decimal-int", inbound, "2.500", nil, `"2.500" is not a whole number`},
		{"decimal-int", inbound, "1e3", nil, "not a decimal number"},
		{"decimal-int", inbound, " 6", nil, "not a decimal number"},
		{"decimal-int", inbound, "99999999999999999999", nil, "out of range"},
		{"decimal-int", outbound, int64(60), "60", ""},
		{"decimal-int", outbound, json.Number("60"), "60", ""},
		{"decimal-int", outbound, "sixty", nil, "not a decimal number"},

		{"decimal-float", inbound, "12.250", 12.25, ""},
		{"decimal-float", outbound, 12.25, "12.25", ""},
		{"decimal-float", outbound, int64(3), "3", ""},
		{"decimal-float", inbound, "12,25", nil, `"12,25" is not a decimal number`},

		{"bool", inbound, true, true, ""},
		{"bool", inbound, "false", false, ""},
		{"bool", outbound, "true", true, ""},
		{"bool", inbound, "yes", nil, "want true or false, got a string"},
		{"servicenow-bool", inbound, "true", true, ""},
		{"servicenow-bool", outbound, false, "false", ""},
		{"servicenow-bool", inbound, "1", nil, "want true or false"},

		{"odata-date", inbound, "/Date(1618301700000)/", "2021-04-13T08:15:00Z", ""},
		{"odata-date", inbound, "/Date(1618301700123)/", "2021-04-13T08:15:00.123Z", ""},
		{"odata-date", inbound, "/Date(1618301700000+0100)/", "2021-04-13T08:15:00Z", ""},
		{"odata-date", inbound, "/Date(-86400000)/", "1969-12-31T00:00:00Z", ""},
		{"odata-date", inbound, "/Date(abc)/", nil, `want "/Date(ms)/", got "/Date(abc)/"`},
		{"odata-date", inbound, "2021-04-13T08:15:00", nil, `want "/Date(ms)/"`},
		{"odata-date", inbound, json.Number("1618301700000"), nil, "want a string, got a number"},
		{"odata-date", outbound, "2021-04-13T10:15:00+02:00", "/Date(1618301700000)/", ""},
		{"odata-date", outbound, "13.04.2021", nil, "want an RFC 3339 time"},

		{"odata-day", inbound, "/Date(1618272000000)/", "2021-04-13", ""},
		{"odata-day", inbound, "/Date(1618268400000)/", "2021-04-12", ""},
		{"odata-day", outbound, "2021-04-13", "/Date(1618272000000)/", ""},
		{"odata-day", outbound, "2021-02-30", nil, `want a day YYYY-MM-DD, got "2021-02-30"`},

		{"servicenow-datetime", inbound, "2021-04-13 08:15:00", "2021-04-13T08:15:00Z", ""},
		{"servicenow-datetime", inbound, "2021-04-13T08:15:00Z", nil, `want "YYYY-MM-DD hh:mm:ss"`},
		{"servicenow-datetime", inbound, "2021-04-13 25:15:00", nil, `want "YYYY-MM-DD hh:mm:ss"`},
		{"servicenow-datetime", outbound, "2021-04-13T10:15:00+02:00", "2021-04-13 08:15:00", ""},
		{"servicenow-datetime", outbound, "2021-04-13T08:15:00.9Z", "2021-04-13 08:15:00", ""},

		{"german-date", inbound, "13.04.2021", "2021-04-13", ""},
		{"german-date", inbound, "1.4.2021", "2021-04-01", ""},
		{"german-date", inbound, "31.02.2021", nil, `want a German date dd.mm.yyyy, got "31.02.2021"`},
		{"german-date", inbound, "2021-04-13", nil, "want a German date"},
		{"german-date", outbound, "2021-04-01", "01.04.2021", ""},
		{"german-date", outbound, "01.04.2021", nil, "want a day YYYY-MM-DD"},

		{"date", inbound, "2021-04-13", "2021-04-13", ""},
		{"date", outbound, "2021-04-13", "2021-04-13", ""},
		{"date", inbound, "2021-4-13", nil, "want a day YYYY-MM-DD"},

		{"upper", inbound, "vac-comirnaty", "VAC-COMIRNATY", ""},
		{"lower", outbound, "SN12", "sn12", ""},
		{"trim", inbound, "  riesa \t", "riesa", ""},
		{"trim", inbound, json.Number("1"), nil, "want a string, got a number"},
	}
	for _, tt := range tests {
		c, ok := conversionByName(tt.conv)
		if !ok {
			t.Fatalf("conversion %q unknown", tt.conv)
		}
		f := c.inbound
		if tt.dir == outbound {
			f = c.outbound
		}
		got, err := f(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s %s %#v: error %v", tt.conv, tt.dir, tt.in, err)
		case tt.wantErr == "" && !reflect.DeepEqual(got, tt.want):
			t.Errorf("%s %s %#v = %#v, want %#v", tt.conv, tt.dir, tt.in, got, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s %s %#v: got %#v, %v; want error containing %q", tt.conv, tt.dir, tt.in, got, err, tt.wantErr)
		}
	}
}

func TestEveryConversionNameIsKnownAndRoundTrips(t *testing.T) {
	samples := map[string]any{
		"string": "x", "int": int64(3), "decimal-int": "3", "decimal-float": "2.5", "bool": true,
		"odata-date": "/Date(1618301700000)/", "odata-day": "/Date(1618272000000)/",
		"servicenow-datetime": "2021-04-13 08:15:00", "servicenow-bool": "true",
		"german-date": "13.04.2021", "date": "2021-04-13", "upper": "ABC", "lower": "abc", "trim": "abc",
	}
	for _, name := range conversionNames() {
		c, ok := conversionByName(name)
		if !ok {
			t.Errorf("conversion %q is listed but unknown", name)
			continue
		}
		sample, ok := samples[name]
		if !ok {
			t.Errorf("no round-trip sample for %q", name)
			continue
		}
		core, err := c.inbound(sample)
		if err != nil {
			t.Errorf("%s inbound %#v: %v", name, sample, err)
			continue
		}
		back, err := c.outbound(core)
		if err != nil || !reflect.DeepEqual(back, sample) {
			t.Errorf("%s: %#v -> %#v -> %#v, %v", name, sample, core, back, err)
		}
	}
	if _, ok := conversionByName("odata-dat"); ok {
		t.Error("a misspelt conversion is known")
	}
}
