package limit

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted, err := ParsePrefixes([]string{"10.0.0.0/8", "::1", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		remote  string
		xff     []string
		realIP  string
		trusted Prefixes
		want    string
	}{
		{"no proxies configured", "1.2.3.4:5", []string{"9.9.9.9"}, "", nil, "1.2.3.4"},
		{"untrusted peer's header ignored", "1.2.3.4:5", []string{"9.9.9.9"}, "8.8.8.8", trusted, "1.2.3.4"},
		{"trusted peer", "10.1.1.1:5", []string{"9.9.9.9"}, "", trusted, "9.9.9.9"},
		{"chain of trusted hops", "10.1.1.1:5", []string{"7.7.7.7, 9.9.9.9, 10.2.2.2"}, "", trusted, "9.9.9.9"},
		{"spoofed left entries ignored", "10.1.1.1:5", []string{"6.6.6.6, 9.9.9.9"}, "", trusted, "9.9.9.9"},
		{"several header lines", "10.1.1.1:5", []string{"6.6.6.6", "9.9.9.9, 10.3.3.3"}, "", trusted, "9.9.9.9"},
		{"all hops trusted", "10.1.1.1:5", []string{"10.4.4.4, 10.2.2.2"}, "", trusted, "10.4.4.4"},
		{"garbage hop stops the walk", "10.1.1.1:5", []string{"9.9.9.9, junk, 10.2.2.2"}, "", trusted, "10.2.2.2"},
		{"x-real-ip from a trusted peer", "[::1]:5", nil, "2001:db8::1", trusted, "2001:db8::1"},
		{"ipv4-mapped peer", "[::ffff:10.1.1.1]:5", []string{"9.9.9.9"}, "", trusted, "9.9.9.9"},
		{"ipv6 peer", "[2001:db8::5]:443", nil, "", trusted, "2001:db8::5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v2/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if tt.realIP != "" {
				r.Header.Set("X-Real-IP", tt.realIP)
			}
			got, ok := ClientIP(r, tt.trusted)
			if !ok || got != netip.MustParseAddr(tt.want) {
				t.Fatalf("ClientIP = %v, %v; want %s", got, ok, tt.want)
			}
		})
	}
}

func TestClientIPHugeHeader(t *testing.T) {
	trusted, _ := ParsePrefixes([]string{"0.0.0.0/0"})
	r := httptest.NewRequest("GET", "/v2/", nil)
	r.RemoteAddr = "10.0.0.1:1"
	r.Header.Set("X-Forwarded-For", strings.Repeat("10.0.0.2, ", 20000)+"10.0.0.3")
	got, ok := ClientIP(r, trusted)
	if !ok || got != netip.MustParseAddr("10.0.0.2") { // stops after maxForwardedHops
		t.Fatalf("ClientIP = %v, %v", got, ok)
	}
	r.RemoteAddr = "not an address"
	if _, ok := ClientIP(r, trusted); ok {
		t.Fatal("unparseable peer accepted")
	}
}

func TestClientKey(t *testing.T) {
	tests := map[string]string{
		"1.2.3.4":              "1.2.3.4/32",
		"::ffff:1.2.3.4":       "1.2.3.4/32",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"2001:db8:1:3:3:4:5:6": "2001:db8:1:3::/64",
	}
	for in, want := range tests {
		if got := ClientKey(netip.MustParseAddr(in)); got != netip.MustParsePrefix(want) {
			t.Errorf("ClientKey(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	ps, err := ParsePrefixes([]string{"10.0.0.1/8", " 192.168.1.1 ", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"10.200.0.1", "192.168.1.1", "::1", "::ffff:10.0.0.9"} {
		if !ps.Contains(netip.MustParseAddr(a)) {
			t.Errorf("%s not contained", a)
		}
	}
	if ps.Contains(netip.MustParseAddr("192.168.1.2")) {
		t.Error("bare address matched a neighbour")
	}
	if _, err := ParsePrefixes([]string{"nope"}); err == nil {
		t.Error("garbage accepted")
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:1", "1.2.3.4, 10.0.0.2", "")
	f.Add("[::1]:1", "", "2001:db8::1")
	f.Add("garbage", ",,,", "x")
	trusted, _ := ParsePrefixes([]string{"10.0.0.0/8", "::1"})
	f.Fuzz(func(t *testing.T, remote, xff, real string) {
		r := httptest.NewRequest("GET", "/v2/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("X-Real-IP", real)
		a, ok := ClientIP(r, trusted)
		if ok && !a.IsValid() {
			t.Fatalf("ClientIP(%q, %q, %q) = invalid address", remote, xff, real)
		}
		if ok {
			_ = ClientKey(a)
		}
		if untrusted, _ := ClientIP(r, nil); ok && untrusted != a && !trusted.Contains(untrusted) {
			t.Fatalf("an untrusted peer %v moved the client to %v", untrusted, a)
		}
	})
}
