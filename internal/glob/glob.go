// Package glob matches repository names against the simple patterns used in
// regmirror's configuration (routes, allow and deny lists).
//
// The syntax is deliberately small:
//
//   - "*" matches any run of characters within one path segment (never '/');
//   - "**" matches any run of characters, '/' included (possibly empty);
//   - "?" matches exactly one character that is not '/'.
//
// Every other character stands for itself; there is no escaping, no
// character classes and no alternation, so a pattern can never be read as a
// regular expression. The slashes written around "**" are literal: "a/**"
// matches "a/b" and "a/b/c" but not "a", and "**/x" matches "a/x" but not
// "x". Matching is case-sensitive and works on bytes (repository names are
// ASCII). Three or more consecutive stars are an error.
//
// Matching simulates the pattern as a small automaton over the name, so it
// takes time proportional to len(pattern)·len(name) whatever the input:
// there is no backtracking to exploit. Patterns of fewer than 64 atoms (all
// realistic ones) run it bit-parallel, one word operation per byte of the
// name, at the cost of 4 KiB of tables per compiled pattern.
package glob

import (
	"errors"
	"fmt"
	"strings"
)

// MaxPatternLength bounds a pattern; configuration patterns are short.
const MaxPatternLength = 1024

// ErrInvalid is wrapped by every error Compile returns.
var ErrInvalid = errors.New("invalid glob pattern")

// op is one step of a compiled pattern.
type op uint8

const (
	opLit   op = iota // one literal byte
	opAny1            // '?': one byte other than '/'
	opStar            // '*': zero or more bytes other than '/'
	opStar2           // '**': zero or more bytes
)

type atom struct {
	op op
	c  byte // for opLit
}

// Pattern is a compiled glob. The zero value is not usable; use Compile. A
// Pattern is immutable and safe for concurrent use.
type Pattern struct {
	src   string
	atoms []atom
	// prefix and suffix are the literal text before the first and after the
	// last wildcard: cheap checks that reject most names before the automaton
	// runs. literal is set when the pattern has no wildcard at all.
	prefix, suffix string
	literal        bool
	// fast is the bit-parallel form of the automaton, for patterns of at
	// most 63 atoms (nearly all): nil otherwise.
	fast *bitAutomaton
}

// Compile parses pattern. It fails for an empty pattern, one longer than
// MaxPatternLength, one with whitespace or control characters, or one with
// three or more consecutive '*'.
func Compile(pattern string) (*Pattern, error) {
	switch {
	case pattern == "":
		return nil, fmt.Errorf("%w: empty pattern", ErrInvalid)
	case len(pattern) > MaxPatternLength:
		return nil, fmt.Errorf("%w: longer than %d characters", ErrInvalid, MaxPatternLength)
	}
	p := &Pattern{src: pattern, atoms: make([]atom, 0, len(pattern))}
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c <= ' ' || c == 0x7f:
			return nil, fmt.Errorf("%w %q: whitespace or control character at offset %d", ErrInvalid, pattern, i)
		case c == '?':
			p.atoms = append(p.atoms, atom{op: opAny1})
		case c == '*':
			n := 1
			for i+n < len(pattern) && pattern[i+n] == '*' {
				n++
			}
			if n > 2 {
				return nil, fmt.Errorf("%w %q: more than two consecutive '*'", ErrInvalid, pattern)
			}
			if n == 2 {
				p.atoms = append(p.atoms, atom{op: opStar2})
			} else {
				p.atoms = append(p.atoms, atom{op: opStar})
			}
			i += n - 1
		default:
			p.atoms = append(p.atoms, atom{op: opLit, c: c})
		}
	}
	first := strings.IndexAny(pattern, "*?")
	if first < 0 {
		p.literal = true
		return p, nil
	}
	last := strings.LastIndexAny(pattern, "*?")
	p.prefix, p.suffix = pattern[:first], pattern[last+1:]
	if len(p.atoms) < 64 {
		p.fast = newBitAutomaton(p.atoms)
	}
	return p, nil
}

// MustCompile is like Compile but panics on error. It is meant for patterns
// written in code (tests, built-in defaults), never for user input.
func MustCompile(pattern string) *Pattern {
	p, err := Compile(pattern)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the pattern as written.
func (p *Pattern) String() string { return p.src }

// Match reports whether the whole of name matches the pattern.
func (p *Pattern) Match(name string) bool {
	if p.literal {
		return name == p.src
	}
	if len(name) < len(p.prefix)+len(p.suffix) ||
		!strings.HasPrefix(name, p.prefix) || !strings.HasSuffix(name, p.suffix) {
		return false
	}
	if p.fast != nil {
		return p.fast.run(name)
	}
	return p.run(name)
}

// run simulates the pattern as a non-deterministic automaton whose state i
// means "atoms[:i] have matched the bytes read so far". Each byte moves every
// live state at once, so the cost is bounded by len(atoms)·len(name).
func (p *Pattern) run(name string) bool {
	n := len(p.atoms) + 1
	var small [2][72]bool // enough for typical patterns without allocating
	var cur, next []bool
	if n <= len(small[0]) {
		cur, next = small[0][:n], small[1][:n]
	} else {
		cur, next = make([]bool, n), make([]bool, n)
	}
	cur[0] = true
	p.closure(cur)
	for i := 0; i < len(name); i++ {
		c := name[i]
		clear(next)
		live := false
		for s, on := range cur[:n-1] {
			if !on {
				continue
			}
			a := p.atoms[s]
			switch {
			case a.op == opLit && a.c == c, a.op == opAny1 && c != '/':
				next[s+1] = true
				live = true
			case a.op == opStar && c != '/', a.op == opStar2:
				next[s] = true
				live = true
			}
		}
		if !live {
			return false
		}
		p.closure(next)
		cur, next = next, cur
	}
	return cur[n-1]
}

// closure adds the states reachable without reading a byte: a star may
// match nothing, so a live state before a star makes the state after it live.
// Stars chain left to right, so one ascending pass is enough.
func (p *Pattern) closure(states []bool) {
	for s, a := range p.atoms {
		if states[s] && (a.op == opStar || a.op == opStar2) {
			states[s+1] = true
		}
	}
}
