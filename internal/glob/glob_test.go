package glob

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		yes     []string
		no      []string
	}{
		{"library/nginx", []string{"library/nginx"}, []string{"library/nginx2", "library/ngin", "Library/nginx", ""}},
		{"library/*", []string{"library/nginx", "library/a", "library/"}, []string{"library/a/b", "library", "other/nginx"}},
		{"*", []string{"nginx", "a", ""}, []string{"a/b", "/"}},
		{"**", []string{"", "a", "a/b/c", "/"}, nil},
		{"a/**", []string{"a/b", "a/b/c", "a/"}, []string{"a", "ab", "b/a/c"}},
		{"**/x", []string{"a/x", "a/b/x", "/x"}, []string{"x", "ax", "a/x/y"}},
		{"a/**/z", []string{"a/b/z", "a/b/c/z", "a//z"}, []string{"a/z", "a/b/y"}},
		{"a?c", []string{"abc", "a-c"}, []string{"ac", "abbc", "a/c"}},
		{"myorg/*-prod", []string{"myorg/api-prod", "myorg/-prod"}, []string{"myorg/api-dev", "myorg/x/api-prod"}},
		{"*/*", []string{"a/b", "library/nginx"}, []string{"a", "a/b/c"}},
		{"*a*a*a*", []string{"aaa", "xaxaxax"}, []string{"aa", "a/aa"}},
		{"**a**", []string{"a", "x/y/a/z"}, []string{"", "x/y"}},
		{"k8s.gcr.io/**", []string{"k8s.gcr.io/pause"}, []string{"k8sxgcrxio/pause"}},
		{"a.b", []string{"a.b"}, []string{"axb"}}, // '.' is literal, not regexp
		{"(a|b)+", []string{"(a|b)+"}, []string{"a", "ab"}},
		{`a\*`, []string{`a\`, `a\bc`}, []string{"a*x"}}, // no escaping
		{"[ab]", []string{"[ab]"}, []string{"a"}},
		{"^a$", []string{"^a$"}, []string{"a"}},
	}
	for _, tt := range tests {
		p, err := Compile(tt.pattern)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.pattern, err)
		}
		if p.String() != tt.pattern {
			t.Errorf("String() = %q, want %q", p.String(), tt.pattern)
		}
		for _, n := range tt.yes {
			if !p.Match(n) {
				t.Errorf("%q should match %q", tt.pattern, n)
			}
		}
		for _, n := range tt.no {
			if p.Match(n) {
				t.Errorf("%q should not match %q", tt.pattern, n)
			}
		}
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	for _, pat := range []string{"", "a***", "***", "a b", "a\tb", "a\nb", "a\x00", "a\x7f", strings.Repeat("a", MaxPatternLength+1)} {
		if _, err := Compile(pat); !errors.Is(err, ErrInvalid) {
			t.Errorf("Compile(%q) error = %v, want ErrInvalid", pat, err)
		}
	}
}

func TestLongPatternAllocatesButWorks(t *testing.T) {
	t.Parallel()
	pat := strings.Repeat("a*", 100) + "z"
	p := MustCompile(pat)
	if !p.Match(strings.Repeat("a", 100) + "z") {
		t.Error("long pattern should match")
	}
	if p.Match(strings.Repeat("a", 99) + "z") {
		t.Error("long pattern should not match with one 'a' short")
	}
}

func TestMustCompilePanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("MustCompile(\"\") did not panic")
		}
	}()
	MustCompile("")
}

// reference is an independent implementation used to cross-check Match:
// the pattern translated into an anchored RE2 expression.
func reference(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^`)
	for i := 0; i < len(pattern); i++ {
		switch {
		case strings.HasPrefix(pattern[i:], "**"):
			b.WriteString(`(?s:.*)`)
			i++
		case pattern[i] == '*':
			b.WriteString(`[^/]*`)
		case pattern[i] == '?':
			b.WriteString(`[^/]`)
		default:
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

func TestMatchAgreesWithReference(t *testing.T) {
	t.Parallel()
	patterns := []string{"*", "**", "a/*", "a/**", "**/b", "a*b?c", "*/**/*", "?/?", "a**b", "*a*", "**a", "a?", "*?*", "**?**", "a*?"}
	names := []string{"", "a", "b", "ab", "a/b", "a/b/c", "axbyc", "a/xb/c", "x/y/z/b", "aa/bb", "a/", "/", "abc", "a/bc"}
	for _, pat := range patterns {
		p, re := MustCompile(pat), reference(pat)
		for _, n := range names {
			want := re.MatchString(n)
			if got := p.Match(n); got != want {
				t.Errorf("%q.Match(%q) = %v, reference says %v", pat, n, got, want)
			}
			if got := p.run(n); got != want {
				t.Errorf("%q.run(%q) = %v, reference says %v", pat, n, got, want)
			}
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	p := MustCompile("myorg/**/*-prod")
	name := "myorg/team/services/api-prod"
	b.ReportAllocs()
	for b.Loop() {
		if !p.Match(name) {
			b.Fatal("no match")
		}
	}
}
