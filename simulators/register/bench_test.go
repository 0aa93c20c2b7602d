package register_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/simulators/register"
)

// BenchmarkGenerate4100000 generates Saxony's whole population (issue 5:
// within 4 GiB and under a minute) and reports the heap it keeps.
//
//	go test -run XXX -bench Generate -benchmem ./simulators/register/
func BenchmarkGenerate4100000(b *testing.B) {
	for b.Loop() {
		s, err := register.New(register.Config{Seed: 1, Size: 4_100_000})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		b.ReportMetric(float64(m.HeapAlloc)/(1<<20), "MiB-heap-kept")
		runtime.KeepAlive(s)
		b.StartTimer()
	}
}

// benchSize is the population of the search benchmarks:
// REGISTER_BENCH_SIZE, default 200,000.
func benchSize() int {
	if n, err := strconv.Atoi(os.Getenv("REGISTER_BENCH_SIZE")); err == nil && n > 0 {
		return n
	}
	return 200_000
}

type sampled struct {
	Residents []struct {
		Family    string   `json:"family"`
		Given     []string `json:"given"`
		BirthDate string   `json:"birth_date"`
	} `json:"residents"`
}

// searchQueries samples residents and turns them into search URLs.
func searchQueries(b *testing.B, h http.Handler, fuzzy bool) []string {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/_sim/residents/sample?n=1000&kind=any", nil))
	var s sampled
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		b.Fatal(err)
	}
	var qs []string
	for _, r := range s.Residents {
		v := url.Values{"family": {r.Family}, "given": {r.Given[0]}, "birthdate": {"eq" + r.BirthDate}, "_max-results": {"10"}}
		if fuzzy {
			v.Set("_fuzzy-match", "true")
		}
		qs = append(qs, "/Patient?"+v.Encode())
	}
	return qs
}

// BenchmarkSearch measures the simulator's own search rate through its
// handler (no network), in parallel on all CPUs; it reports searches/s.
//
//	REGISTER_BENCH_SIZE=4100000 go test -run XXX -bench Search ./simulators/register/
func BenchmarkSearch(b *testing.B) {
	s, err := register.New(register.Config{Seed: 1, Size: benchSize()})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	for _, mode := range []struct {
		name  string
		fuzzy bool
	}{{"exact", false}, {"fuzzy", true}} {
		b.Run(mode.name, func(b *testing.B) {
			qs := searchQueries(b, h, mode.fuzzy)
			var n atomic.Uint64
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				k := 0
				for pb.Next() {
					req := httptest.NewRequest("GET", qs[k%len(qs)], nil)
					req.Header.Set("X-Request-ID", "60e4b8a8-4d1c-4f4e-9d1c-2b0a4b0a4b0a")
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Errorf("%s: %d %s", qs[k%len(qs)], rec.Code, rec.Body)
						return
					}
					n.Add(1)
					k++
				}
			})
			b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "searches/s")
		})
	}
}
