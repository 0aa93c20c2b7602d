package ratelimit

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies are the reverse proxies (load balancers) in front of the
// hub whose X-Forwarded-For entries are believed. Empty: the header is
// ignored and the client is the TCP peer (RemoteAddr).
type TrustedProxies []netip.Prefix

// ParseTrustedProxies reads addresses ("10.0.0.7") and networks
// ("10.0.0.0/8", "fd00::/8").
func ParseTrustedProxies(list []string) (TrustedProxies, error) {
	var out TrustedProxies
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not an address or network", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (t TrustedProxies) trusts(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddress is the address a request comes from: the TCP peer, unless
// the peer is a trusted proxy; then the X-Forwarded-For entries are read
// from the right (the nearest hop first), skipping trusted proxies, and the
// first address no trusted proxy stands for is the client. Entries a client
// wrote itself (left of the first untrusted hop) are never believed.
func (t TrustedProxies) ClientAddress(r *http.Request) string {
	peer := remoteAddr(r.RemoteAddr)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if len(t) == 0 || !t.trusts(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: the last hop we could believe is the client
		}
		client = a.Unmap()
		if !t.trusts(client) {
			break
		}
	}
	return client.String()
}

func remoteAddr(s string) netip.Addr {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// AddressKey is the rate-limit key of a client address: the address for
// IPv4, its /64 network for IPv6 (one subscriber gets a whole /64 and could
// otherwise take a fresh bucket per address).
func AddressKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
