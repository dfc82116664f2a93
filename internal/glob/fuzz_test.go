package glob

import (
	"strings"
	"testing"
)

// FuzzCompile checks that any pattern either fails with ErrInvalid or
// compiles into a Pattern that matches its own literal text when it has no
// wildcard, and never panics when matching.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"library/*", "a/**", "**/x", "a?c", "***", "", "a b", "(a|b)+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		p, err := Compile(pattern)
		if err != nil {
			return
		}
		if p.String() != pattern {
			t.Fatalf("String() = %q, want %q", p.String(), pattern)
		}
		if !strings.ContainsAny(pattern, "*?") && !p.Match(pattern) {
			t.Fatalf("literal pattern %q does not match itself", pattern)
		}
		// A pattern whose wildcards are replaced by a plain byte matches
		// that text, since no wildcard here needs '/'.
		filled := strings.NewReplacer("**", "x", "*", "x", "?", "x").Replace(pattern)
		if !p.Match(filled) {
			t.Fatalf("%q does not match %q", pattern, filled)
		}
		p.Match("")
		p.Match("a/b/c")
	})
}

// FuzzMatch cross-checks Match against the regular-expression reference.
func FuzzMatch(f *testing.F) {
	f.Add("a/**", "a/b/c")
	f.Add("*/*", "library/nginx")
	f.Add("a?c", "a/c")
	f.Add("**/x", "x")
	f.Add("??", "ä") // two bytes, one rune: byte semantics, skipped by the cross-check
	f.Fuzz(func(t *testing.T, pattern, name string) {
		p, err := Compile(pattern)
		if err != nil {
			return
		}
		// The reference works on runes and Match on bytes (repository names
		// are ASCII): they agree only on ASCII text. Anything else must
		// merely not panic.
		if !isASCII(pattern) || !isASCII(name) {
			p.Match(name)
			return
		}
		want := reference(pattern).MatchString(name)
		if got := p.Match(name); got != want {
			t.Fatalf("Compile(%q).Match(%q) = %v, reference says %v", pattern, name, got, want)
		}
		if got := p.run(name); got != want { // the general automaton too
			t.Fatalf("Compile(%q).run(%q) = %v, reference says %v", pattern, name, got, want)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
