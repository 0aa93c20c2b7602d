package servicenow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/vaxhub/vaxhub/connectors/httpclient"
)

// ErrMalformed marks an answer that is not what the Table API promises.
var ErrMalformed = errors.New("servicenow: malformed Table API answer")

// tablePath is the v2 Table API: an empty result is 200 {"result":[]}, not 404.
const tablePath = "/api/now/v2/table/"

// snTime is the Table API's time format (UTC).
const snTime = "2006-01-02 15:04:05"

// record is one Table API record, decoded with UseNumber.
type record = map[string]any

// tableAPI speaks the ServiceNow Table API through the resilient client.
type tableAPI struct{ cl *httpclient.Client }

func decodeResult(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var env struct {
		Result json.RawMessage `json:"result"`
	}
	if err := dec.Decode(&env); err != nil || len(env.Result) == 0 {
		return fmt.Errorf("%w: no result in %q", ErrMalformed, truncate(body))
	}
	d := json.NewDecoder(bytes.NewReader(env.Result))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// list reads every record of table matching query, page by page, and calls
// fn per page.
func (t *tableAPI) list(ctx context.Context, table, query string, pageSize int, fields string, fn func([]record) error) error {
	for offset := 0; ; {
		q := url.Values{}
		q.Set("sysparm_query", query)
		q.Set("sysparm_limit", strconv.Itoa(pageSize))
		q.Set("sysparm_offset", strconv.Itoa(offset))
		q.Set("sysparm_suppress_pagination_header", "true")
		q.Set("sysparm_no_count", "true")
		if fields != "" {
			q.Set("sysparm_fields", fields)
		}
		resp, err := t.cl.Do(ctx, httpclient.Request{Method: http.MethodGet, Path: tablePath + table, Query: q})
		if err != nil {
			return fmt.Errorf("servicenow: read %s: %w", table, err)
		}
		var recs []record
		if err := decodeResult(resp.Body, &recs); err != nil {
			return fmt.Errorf("servicenow: read %s: %w", table, err)
		}
		if err := fn(recs); err != nil {
			return err
		}
		if len(recs) < pageSize {
			return nil
		}
		offset += len(recs)
	}
}

// find returns the records of table matching query (at most 100).
func (t *tableAPI) find(ctx context.Context, table, query string) ([]record, error) {
	var out []record
	err := t.list(ctx, table, query, 100, "", func(rs []record) error { out = append(out, rs...); return errStop })
	if errors.Is(err, errStop) {
		err = nil
	}
	return out, err
}

var errStop = errors.New("stop")

func (t *tableAPI) write(ctx context.Context, method, path string, body map[string]any) (record, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", httpclient.ErrPermanent, err)
	}
	resp, err := t.cl.Do(ctx, httpclient.Request{Method: method, Path: path, Body: b,
		Header: http.Header{"Content-Type": {"application/json"}}})
	if err != nil {
		return nil, err
	}
	var rec record
	if err := decodeResult(resp.Body, &rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// create inserts one record and returns it as stored.
func (t *tableAPI) create(ctx context.Context, table string, body map[string]any) (record, error) {
	return t.write(ctx, http.MethodPost, tablePath+table, body)
}

// patch updates fields of one record.
func (t *tableAPI) patch(ctx context.Context, table, sysID string, body map[string]any) (record, error) {
	return t.write(ctx, http.MethodPatch, tablePath+table+"/"+sysID, body)
}

// remove deletes one record; a record already gone is fine.
func (t *tableAPI) remove(ctx context.Context, table, sysID string) error {
	_, err := t.cl.Do(ctx, httpclient.Request{Method: http.MethodDelete, Path: tablePath + table + "/" + sysID})
	var se *httpclient.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return nil
	}
	return err
}

// str reads a string field of a record ("" when missing); a reference read
// without its link is the sys_id itself, with it the "value".
func str(r record, field string) string {
	switch v := r[field].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case map[string]any:
		s, _ := v["value"].(string)
		return s
	}
	return ""
}

// parseSNTime reads "YYYY-MM-DD hh:mm:ss" (UTC).
func parseSNTime(s string) (time.Time, error) { return time.ParseInLocation(snTime, s, time.UTC) }

// groupCache maps the planner's teams (sys_user_group) between sys_id and
// group code (u_code), read once and again on a miss.
type groupCache struct {
	mu     sync.Mutex
	byCode map[string]string
	byID   map[string]string
}

func (c *Connector) loadGroups(ctx context.Context) error {
	byCode, byID := map[string]string{}, map[string]string{}
	err := c.api.list(ctx, "sys_user_group", "ORDERBYu_code", 500, "sys_id,u_code", func(rs []record) error {
		for _, r := range rs {
			id, code := str(r, "sys_id"), str(r, "u_code")
			if id != "" && code != "" {
				byCode[code], byID[id] = id, code
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.groups.mu.Lock()
	c.groups.byCode, c.groups.byID = byCode, byID
	c.groups.mu.Unlock()
	return nil
}

// groupID returns the sys_id of the team with code, ok false when the
// planner has no such team.
func (c *Connector) groupID(ctx context.Context, code string) (string, bool, error) {
	return c.groupLookup(ctx, code, func(g *groupCache) map[string]string { return g.byCode })
}

// groupCode returns the code of the team with sys_id.
func (c *Connector) groupCode(ctx context.Context, sysID string) (string, bool, error) {
	return c.groupLookup(ctx, sysID, func(g *groupCache) map[string]string { return g.byID })
}

func (c *Connector) groupLookup(ctx context.Context, key string, m func(*groupCache) map[string]string) (string, bool, error) {
	if key == "" {
		return "", false, nil
	}
	for attempt := 0; attempt < 2; attempt++ {
		c.groups.mu.Lock()
		v, ok := m(&c.groups)[key]
		loaded := m(&c.groups) != nil
		c.groups.mu.Unlock()
		if ok {
			return v, true, nil
		}
		if loaded && attempt > 0 {
			break
		}
		if err := c.loadGroups(ctx); err != nil {
			return "", false, err
		}
	}
	return "", false, nil
}
