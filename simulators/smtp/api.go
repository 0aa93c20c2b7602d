package smtp

import (
	"encoding/json"
	"io"
	"net/http"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// Handler serves the read API and the admin endpoints: /_sim/health,
// /_sim/faults, /_sim/messages (?to= filters by envelope recipient; DELETE
// forgets all), /_sim/messages/{id} (with the raw text),
// /_sim/messages/{id}/raw (message/rfc822) and /_sim/recipients.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_sim/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /_sim/messages", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"messages": s.Messages(r.URL.Query().Get("to"))})
	})
	mux.HandleFunc("DELETE /_sim/messages", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /_sim/messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		m, ok := s.Message(r.PathValue("id"))
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no message " + r.PathValue("id")})
			return
		}
		writeJSON(w, http.StatusOK, m)
	})
	mux.HandleFunc("GET /_sim/messages/{id}/raw", func(w http.ResponseWriter, r *http.Request) {
		m, ok := s.Message(r.PathValue("id"))
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no message " + r.PathValue("id")})
			return
		}
		w.Header().Set("Content-Type", "message/rfc822")
		_, _ = io.WriteString(w, m.Raw)
	})
	mux.HandleFunc("GET /_sim/recipients", s.serveRecipients)
	mux.HandleFunc("POST /_sim/recipients", s.serveRecipients)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": r.Method + " " + r.URL.Path + " does not exist; this is the read API of an SMTP simulator"})
	})
	return s.faults.Wrap(mux)
}

// serveRecipients: GET lists configured behaviours; POST merges
// {"nobody@example.org":"unknown","full@example.org":"busy"} ("ok" removes one).
func (s *Server) serveRecipients(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var in map[string]string
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be a JSON object of address to behaviour: " + err.Error()})
			return
		}
		for a, b := range in {
			if err := checkRecipient(a, b); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
		}
		for a, b := range in {
			_ = s.SetRecipient(a, b)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"recipients": s.recipientsView()})
}
