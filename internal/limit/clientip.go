package limit

import (
	"fmt"
	"iter"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how much of an X-Forwarded-For list is read.
const maxForwardedHops = 32

// Prefixes is a list of address ranges.
type Prefixes []netip.Prefix

// ParsePrefixes reads CIDR prefixes and bare addresses (a bare address is
// a /32 or /128).
func ParsePrefixes(ss []string) (Prefixes, error) {
	out := make(Prefixes, 0, len(ss))
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR prefix", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Contains reports whether a is in one of the prefixes.
func (ps Prefixes) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the address of the client that made r. The peer address
// is the answer unless the peer is one of the trusted proxies: then
// X-Forwarded-For is walked from the right, skipping trusted hops, and the
// first untrusted address is the client (entries further left were written
// by the client itself and prove nothing). Without X-Forwarded-For, a
// trusted peer's X-Real-IP is used. ok is false when the peer address
// cannot be parsed (not a TCP connection).
func ClientIP(r *http.Request, trusted Prefixes) (addr netip.Addr, ok bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, serr := net.SplitHostPort(r.RemoteAddr)
		if serr != nil {
			host = r.RemoteAddr
		}
		a, perr := netip.ParseAddr(host)
		if perr != nil {
			return netip.Addr{}, false
		}
		peer = netip.AddrPortFrom(a, 0)
	}
	client := peer.Addr().Unmap().WithZone("")
	if len(trusted) == 0 || !trusted.Contains(client) {
		return client, true
	}
	values := r.Header.Values("X-Forwarded-For")
	if len(values) == 0 {
		if a, err := netip.ParseAddr(strings.TrimSpace(r.Header.Get("X-Real-IP"))); err == nil {
			return a.Unmap().WithZone(""), true
		}
		return client, true
	}
	hops := 0
	for hop := range rightToLeft(values) {
		if !trusted.Contains(client) || hops == maxForwardedHops {
			break
		}
		hops++
		a, err := netip.ParseAddr(hop)
		if err != nil {
			break // garbage: the last good hop is the best we know
		}
		client = a.Unmap().WithZone("")
	}
	return client, true
}

// rightToLeft yields the comma-separated entries of header values, last
// first, without splitting the whole (possibly huge) list.
func rightToLeft(values []string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := len(values) - 1; i >= 0; i-- {
			v := values[i]
			for {
				j := strings.LastIndexByte(v, ',')
				if !yield(strings.TrimSpace(v[j+1:])) {
					return
				}
				if j < 0 {
					break
				}
				v = v[:j]
			}
		}
	}
}

// ClientKey is the unit limits are counted in: the address for IPv4, its
// /64 for IPv6 (one subscriber usually holds a whole /64).
func ClientKey(a netip.Addr) netip.Prefix {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}
