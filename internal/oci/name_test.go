package oci

import (
	"regexp"
	"strings"
	"testing"
)

// componentRe is the spec's grammar, the reference validComponent is checked against.
var componentRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)

func TestValidComponentMatchesGrammar(t *testing.T) {
	for _, s := range []string{"a", "nginx", "a.b", "a_b", "a__b", "a___b", "a-b", "a--b", "a-", "-a", "a.", ".a", "a..b", "a._b", "A", "a/b", "", "0", "a-.b", "a_-b", "x__", "9z-y"} {
		if got, want := validComponent(s), componentRe.MatchString(s); got != want {
			t.Errorf("validComponent(%q) = %v, grammar says %v", s, got, want)
		}
	}
}

func FuzzValidComponent(f *testing.F) {
	for _, s := range []string{"a", "a.b", "a__b", "a--b", "a-", "_a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validComponent(s), componentRe.MatchString(s); got != want {
			t.Fatalf("validComponent(%q) = %v, grammar says %v", s, got, want)
		}
	})
}

func TestValidName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"nginx", true},
		{"library/nginx", true},
		{"gcr.io/distroless/static", true},
		{"127.0.0.1:5000/x", true},
		{"localhost:5000/a/b", true},
		{"gcr.io", true}, // a one-component name is a repository
		{"Gcr.io/x", true},
		{"a//b", false},
		{"../x", false},
		{"a/../b", false},
		{"Nginx", false},
		{"a/B", false},
		{strings.Repeat("a", MaxNameLength+1), false},
		{"", false},
	} {
		if got := ValidName(c.name); got != c.ok {
			t.Errorf("ValidName(%q) = %v", c.name, got)
		}
	}
}

func TestParseDigest(t *testing.T) {
	for _, c := range []struct {
		s  string
		ok bool
	}{
		{"sha256:" + strings.Repeat("a", 64), true},
		{"sha512:" + strings.Repeat("a", 128), true},
		{"sha256:" + strings.Repeat("a", 63), false},
		{"sha256:" + strings.Repeat("A", 64), false},
		{"md5:" + strings.Repeat("a", 32), false},
		{"latest", false},
		{"", false},
	} {
		_, err := ParseDigest(c.s)
		if (err == nil) != c.ok {
			t.Errorf("ParseDigest(%q) err = %v", c.s, err)
		}
	}
}

var tagRe = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

func FuzzValidTag(f *testing.F) {
	for _, s := range []string{"latest", "v1.2.3", "_x", ".x", "-x", "a-b_c.d", strings.Repeat("a", 129)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidTag(s), tagRe.MatchString(s); got != want {
			t.Fatalf("ValidTag(%q) = %v, grammar says %v", s, got, want)
		}
	})
}
