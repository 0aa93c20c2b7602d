package mappings

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// conversion turns a value from the outside system's representation into the
// core's (inbound) and back (outbound). The name says which outside format is
// meant; conversions without one (int, trim, ...) do the same both ways.
type conversion struct {
	name     string
	inbound  func(any) (any, error)
	outbound func(any) (any, error)
}

const (
	dayLayout        = "2006-01-02"
	germanDayLayout  = "02.01.2006"
	germanDayParse   = "2.1.2006" // also accepts 1.4.2021
	serviceNowLayout = "2006-01-02 15:04:05"
)

var (
	// decimalText is how SAP sends Edm.Decimal: "12", "12.000", "-1.5".
	decimalText = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)
	// odataDate is OData v2 JSON's Edm.DateTime "/Date(ms)/" and
	// Edm.DateTimeOffset "/Date(ms+0100)/"; ms count from the epoch in UTC.
	odataDate = regexp.MustCompile(`^/Date\((-?[0-9]+)(?:[+-][0-9]{4})?\)/$`)
)

// conversionNames lists every conversion, for documentation and tests.
func conversionNames() []string {
	return []string{
		"string", "int", "decimal-int", "decimal-float", "bool",
		"odata-date", "odata-day", "servicenow-datetime", "servicenow-bool",
		"german-date", "date", "upper", "lower", "trim",
	}
}

func conversionByName(name string) (conversion, bool) {
	c := conversion{name: name}
	switch name {
	case "string":
		c.inbound, c.outbound = toString, toString
	case "int":
		c.inbound, c.outbound = toInt, toInt
	case "decimal-int":
		c.inbound, c.outbound = toInt, intToDecimal
	case "decimal-float":
		c.inbound, c.outbound = toFloat, floatToDecimal
	case "bool":
		c.inbound, c.outbound = toBool, toBool
	case "servicenow-bool":
		c.inbound, c.outbound = toBool, boolToText
	case "odata-date":
		c.inbound, c.outbound = odataToTime, timeToOData
	case "odata-day":
		c.inbound, c.outbound = odataToDay, dayToOData
	case "servicenow-datetime":
		c.inbound, c.outbound = serviceNowToTime, timeToServiceNow
	case "german-date":
		c.inbound, c.outbound = germanToDay, dayToGerman
	case "date":
		c.inbound, c.outbound = checkDay, checkDay
	case "upper":
		c.inbound = stringFunc(strings.ToUpper)
		c.outbound = c.inbound
	case "lower":
		c.inbound = stringFunc(strings.ToLower)
		c.outbound = c.inbound
	case "trim":
		c.inbound = stringFunc(strings.TrimSpace)
		c.outbound = c.inbound
	default:
		return conversion{}, false
	}
	return c, true
}

func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number, int, int32, int64, float64:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

func wantString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("want a string, got %s", describe(v))
	}
	return s, nil
}

func stringFunc(f func(string) string) func(any) (any, error) {
	return func(v any) (any, error) {
		s, err := wantString(v)
		if err != nil {
			return nil, err
		}
		return f(s), nil
	}
}

func toString(v any) (any, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	case int:
		return strconv.Itoa(v), nil
	case int32:
		return strconv.FormatInt(int64(v), 10), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	default:
		return nil, fmt.Errorf("want a string, number or boolean, got %s", describe(v))
	}
}

// toInt accepts a number or a decimal string whose fraction is zero
// ("12.000") and returns an int64.
func toInt(v any) (any, error) {
	switch v := v.(type) {
	case int:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case int64:
		return v, nil
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return nil, fmt.Errorf("%v is not a whole number", v)
		}
		return int64(v), nil
	case json.Number:
		return decimalToInt(v.String())
	case string:
		return decimalToInt(v)
	default:
		return nil, fmt.Errorf("want a number, got %s", describe(v))
	}
}

func decimalToInt(s string) (any, error) {
	if !decimalText.MatchString(s) {
		return nil, fmt.Errorf("%q is not a decimal number", s)
	}
	whole, frac, _ := strings.Cut(s, ".")
	if strings.Trim(frac, "0") != "" {
		return nil, fmt.Errorf("%q is not a whole number", s)
	}
	i, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%q is out of range", s)
	}
	return i, nil
}

func intToDecimal(v any) (any, error) {
	i, err := toInt(v)
	if err != nil {
		return nil, err
	}
	return strconv.FormatInt(i.(int64), 10), nil
}

func toFloat(v any) (any, error) {
	var s string
	switch v := v.(type) {
	case int:
		return float64(v), nil
	case int32:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case float64:
		return v, nil
	case json.Number:
		s = v.String()
	case string:
		s = v
	default:
		return nil, fmt.Errorf("want a number, got %s", describe(v))
	}
	if !decimalText.MatchString(s) {
		return nil, fmt.Errorf("%q is not a decimal number", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("%q is out of range", s)
	}
	return f, nil
}

func floatToDecimal(v any) (any, error) {
	f, err := toFloat(v)
	if err != nil {
		return nil, err
	}
	return strconv.FormatFloat(f.(float64), 'f', -1, 64), nil
}

// toBool accepts a boolean or the strings "true" and "false" (ServiceNow).
func toBool(v any) (any, error) {
	switch v {
	case true, "true":
		return true, nil
	case false, "false":
		return false, nil
	}
	return nil, fmt.Errorf("want true or false, got %s", describe(v))
}

func boolToText(v any) (any, error) {
	b, err := toBool(v)
	if err != nil {
		return nil, err
	}
	return strconv.FormatBool(b.(bool)), nil
}

// parseOData reads "/Date(ms)/" or "/Date(ms+0100)/". The milliseconds are
// UTC in both forms; the offset only says where the time was local, so it
// does not change the instant and is not kept.
func parseOData(v any) (time.Time, error) {
	s, err := wantString(v)
	if err != nil {
		return time.Time{}, err
	}
	m := odataDate.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, fmt.Errorf(`want "/Date(ms)/", got %q`, s)
	}
	ms, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is out of range", s)
	}
	return time.UnixMilli(ms).UTC(), nil
}

func odataToTime(v any) (any, error) {
	t, err := parseOData(v)
	if err != nil {
		return nil, err
	}
	return t.Format(time.RFC3339Nano), nil
}

func odataToDay(v any) (any, error) {
	t, err := parseOData(v)
	if err != nil {
		return nil, err
	}
	return t.Format(dayLayout), nil
}

func odataText(t time.Time) string { return fmt.Sprintf("/Date(%d)/", t.UnixMilli()) }

func parseRFC3339(v any) (time.Time, error) {
	s, err := wantString(v)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want an RFC 3339 time, got %q", s)
	}
	return t, nil
}

func timeToOData(v any) (any, error) {
	t, err := parseRFC3339(v)
	if err != nil {
		return nil, err
	}
	return odataText(t), nil
}

func parseDay(v any) (time.Time, error) {
	s, err := wantString(v)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(dayLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want a day YYYY-MM-DD, got %q", s)
	}
	return t, nil
}

func dayToOData(v any) (any, error) {
	t, err := parseDay(v)
	if err != nil {
		return nil, err
	}
	return odataText(t), nil
}

func checkDay(v any) (any, error) {
	t, err := parseDay(v)
	if err != nil {
		return nil, err
	}
	return t.Format(dayLayout), nil
}

// serviceNowToTime reads ServiceNow's "2021-04-13 08:15:00", which the Table
// API gives in UTC.
func serviceNowToTime(v any) (any, error) {
	s, err := wantString(v)
	if err != nil {
		return nil, err
	}
	t, err := time.ParseInLocation(serviceNowLayout, s, time.UTC)
	if err != nil {
		return nil, fmt.Errorf("want \"YYYY-MM-DD hh:mm:ss\", got %q", s)
	}
	return t.Format(time.RFC3339Nano), nil
}

func timeToServiceNow(v any) (any, error) {
	t, err := parseRFC3339(v)
	if err != nil {
		return nil, err
	}
	return t.UTC().Format(serviceNowLayout), nil
}

func germanToDay(v any) (any, error) {
	s, err := wantString(v)
	if err != nil {
		return nil, err
	}
	t, err := time.Parse(germanDayParse, s)
	if err != nil {
		return nil, fmt.Errorf("want a German date dd.mm.yyyy, got %q", s)
	}
	return t.Format(dayLayout), nil
}

func dayToGerman(v any) (any, error) {
	t, err := parseDay(v)
	if err != nil {
		return nil, err
	}
	return t.Format(germanDayLayout), nil
}
