package simclock

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ParseDuration is time.ParseDuration plus whole days ("7d").
func ParseDuration(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && strconv.Itoa(n) == days {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	return time.ParseDuration(v)
}

// AdvanceBy reads how far an admin request asks to move the clock:
// ?by=24h, ?to=TIME, or the JSON body {"by":"7d"} or {"to":"TIME"}. parseTime
// reads a "to" time (each simulator accepts its system's formats). The error
// is meant for the caller (400): the clock never goes back.
func (c *Clock) AdvanceBy(r *http.Request, parseTime func(string) (time.Time, error)) (time.Duration, error) {
	var in struct {
		By string `json:"by"`
		To string `json:"to"`
	}
	in.By, in.To = r.URL.Query().Get("by"), r.URL.Query().Get("to")
	if in.By == "" && in.To == "" {
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("bad body: %w", err)
		}
	}
	switch {
	case in.By != "" && in.To != "":
		return 0, errors.New(`give "by" or "to", not both`)
	case in.By != "":
		d, err := ParseDuration(in.By)
		if err != nil || d < 0 {
			return 0, fmt.Errorf(`"by" %q: want a duration such as "36h", "7d" or "90m"`, in.By)
		}
		return d, nil
	case in.To != "":
		t, err := parseTime(in.To)
		if err != nil {
			return 0, fmt.Errorf(`"to" %q: want a time such as "2021-02-01T00:00:00Z"`, in.To)
		}
		now := c.Now()
		if t.Before(now) {
			return 0, fmt.Errorf(`"to" %s is before the simulated time %s: the clock never goes back`, in.To, now.Format(time.RFC3339))
		}
		return t.Sub(now), nil
	}
	return 0, errors.New(`send {"by":"24h"} or {"to":"2021-02-01T00:00:00Z"}`)
}
