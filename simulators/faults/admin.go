package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// View is the JSON answer of the admin endpoints: the active faults at the
// top level (the same shape PUT and POST accept), every custom fault with
// its state, and the counters.
type View struct {
	Faults
	Custom []CustomState `json:"custom"`
	Stats  Stats         `json:"stats"`
}

// CustomState describes one registered custom fault.
type CustomState struct {
	Name string `json:"name"`
	Help string `json:"help,omitempty"`
	On   bool   `json:"on"`
	Hook bool   `json:"hook"` // true if the middleware acts on it, false if the simulator asks Flag
}

// View returns what GET /_sim/faults shows.
func (i *Injector) View() View {
	f := i.Active()
	v := View{Faults: f, Custom: []CustomState{}, Stats: i.Stats()}
	for _, c := range i.customs() {
		v.Custom = append(v.Custom, CustomState{Name: c.Name, Help: c.Help, On: f.Flags[c.Name], Hook: c.Handle != nil})
	}
	return v
}

const maxAdminBody = 1 << 20

// serveAdmin answers the admin endpoints:
//
//	GET    show the active faults, custom faults and counters
//	PUT    replace the whole fault set with the JSON body
//	POST   change only the faults the JSON body mentions
//	DELETE switch everything off
//
// Every method answers with the resulting View; a bad body gets 400.
func (i *Injector) serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPut, http.MethodPost:
		f, err := decodeFaults(r.Body)
		if err == nil {
			if r.Method == http.MethodPut {
				err = i.Set(f)
			} else {
				err = i.Merge(f)
			}
		}
		if err != nil {
			writeAdminError(w, http.StatusBadRequest, err)
			return
		}
	case http.MethodDelete:
		i.Clear()
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, POST, DELETE")
		writeAdminError(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed on %s", r.Method, i.adminPath))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(i.View())
}

// decodeFaults reads a Faults body strictly: unknown fields are an error, so
// a typo does not silently inject nothing. The output-only members of a View
// ("custom", "stats") are accepted and ignored, so GET's answer can be PUT
// back.
func decodeFaults(body io.Reader) (Faults, error) {
	var in struct {
		Faults
		Custom json.RawMessage `json:"custom"`
		Stats  json.RawMessage `json:"stats"`
	}
	dec := json.NewDecoder(io.LimitReader(body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		if errors.Is(err, io.EOF) {
			return Faults{}, fmt.Errorf("%w: empty body; send a JSON object such as {\"errors\":{\"rate\":0.5}}", ErrInvalid)
		}
		if errors.Is(err, ErrInvalid) {
			return Faults{}, err
		}
		return Faults{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return in.Faults, nil
}

func writeAdminError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
