package ratelimit

import (
	"net/http/httptest"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestBucketsLimitEachKeyAndSayWhenToRetry(t *testing.T) {
	c := &clock{t: time.Date(2021, 4, 13, 8, 0, 0, 0, time.UTC)}
	b := New(2, 5, c.now) // 2/s, burst 5
	for i := range 5 {
		if ok, _ := b.Take("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, retry := b.Take("a")
	if ok || retry != time.Second {
		t.Fatalf("6th request: ok=%v retry=%v, want refused with 1s", ok, retry)
	}
	if !b.Allow("b") {
		t.Fatal("another key is limited by a's bucket")
	}
	c.t = c.t.Add(500 * time.Millisecond) // one token back
	if !b.Allow("a") {
		t.Fatal("refilled token refused")
	}
	if b.Allow("a") {
		t.Fatal("more than the refill allowed")
	}
	slow := New(0.1, 1, c.now) // one per 10 s
	slow.Allow("x")
	if ok, retry := slow.Take("x"); ok || retry != 10*time.Second {
		t.Fatalf("slow bucket: ok=%v retry=%v, want refused with 10s", ok, retry)
	}
	var off *Buckets
	if !off.Allow("x") || !New(-1, 0, nil).Allow("x") {
		t.Fatal("a nil or switched-off limiter refused")
	}
}

func TestClientAddressTrustsOnlyConfiguredProxies(t *testing.T) {
	proxies, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7", " "})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTrustedProxies([]string{"not-an-address"}); err == nil {
		t.Fatal("garbage accepted as a trusted proxy")
	}
	cases := []struct {
		name    string
		trusted TrustedProxies
		remote  string
		xff     []string
		want    string
	}{
		{"no proxies: the peer", nil, "203.0.113.9:4000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"untrusted peer: header ignored", proxies, "203.0.113.9:4000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"trusted peer: the hop before it", proxies, "10.1.2.3:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client-written entries are not believed", proxies, "10.1.2.3:4000", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", proxies, "10.1.2.3:4000", []string{"198.51.100.1, 192.0.2.7", "10.9.9.9"}, "198.51.100.1"},
		{"garbage stops at the last believable hop", proxies, "10.1.2.3:4000", []string{"198.51.100.1, nonsense"}, "10.1.2.3"},
		{"trusted peer without header", proxies, "10.1.2.3:4000", nil, "10.1.2.3"},
		{"IPv6 peer", nil, "[2001:db8::1]:4000", nil, "2001:db8::1"},
		{"IPv4-mapped peer", proxies, "[::ffff:10.1.2.3]:4000", []string{"198.51.100.1"}, "198.51.100.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := c.trusted.ClientAddress(r); got != c.want {
				t.Errorf("client %q, want %q", got, c.want)
			}
		})
	}
	if k1, k2 := AddressKey("2001:db8:1:2::1"), AddressKey("2001:db8:1:2:ffff::9"); k1 != k2 || k1 != "2001:db8:1:2::/64" {
		t.Errorf("IPv6 keys %q %q, want one /64", k1, k2)
	}
	if AddressKey("203.0.113.9") != "203.0.113.9" {
		t.Error("IPv4 key changed")
	}
}
