package config

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The interfaces Duration and Size satisfy, checked at compile time.
var (
	_ yaml.Unmarshaler = (*Duration)(nil)
	_ yaml.Unmarshaler = (*Size)(nil)
	_ fmt.Stringer     = Duration(0)
	_ fmt.Stringer     = Size(0)
)

// UnmarshalYAML reads a Go duration string ("10m", "1h30m", "0s", "0").
// Negative durations are refused: no setting has a use for them.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return nodeError(n, "want a duration such as \"30s\" or \"10m\"")
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return nodeError(n, err.Error())
	}
	*d = v
	return nil
}

// ParseDuration parses a Go duration string and refuses negative values. A
// bare number other than 0 is refused, since its unit would be a guess.
func ParseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid duration %s (want e.g. \"30s\", \"10m\", \"1h\")", quote(s))
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid duration %s: negative", quote(s))
	}
	return Duration(v), nil
}

// MarshalText writes the duration as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses what MarshalText writes (for flags and text formats).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// String formats the duration like time.Duration without the trailing zero
// units: "10m" rather than "10m0s", "1h" rather than "1h0m0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// sizeUnits maps a lower-cased unit to its multiplier: the SI units count
// in powers of 1000, the IEC ones (with "i") in powers of 1024.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// sizeRe splits a size into its number and unit. Signs, exponents and other
// number forms are refused before big.Rat ever sees them.
var sizeRe = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$`)

// ParseSize parses a byte count with an optional unit: "1024", "0",
// "512MiB", "10GB", "1.5GiB". Units are B, KB, MB, GB, TB (powers of 1000)
// and KiB, MiB, GiB, TiB (powers of 1024), in any case. A fractional result
// is rounded down to a whole byte. Negative or too large values are errors.
func ParseSize(s string) (Size, error) {
	m := sizeRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("invalid size %s (want e.g. \"512MiB\", \"50GiB\", \"10GB\" or a number of bytes)", quote(s))
	}
	mult, ok := sizeUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("invalid size %s: unknown unit %q (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", quote(s), m[2])
	}
	r, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return 0, fmt.Errorf("invalid size %s", quote(s))
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() {
		return 0, fmt.Errorf("invalid size %s: too large", quote(s))
	}
	return Size(n.Int64()), nil
}

// UnmarshalYAML reads a size as ParseSize does.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return nodeError(n, "want a size such as \"512MiB\" or \"50GiB\"")
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return nodeError(n, err.Error())
	}
	*s = v
	return nil
}

// MarshalText writes the size as String does.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses what MarshalText writes (for flags and text formats).
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Int64 returns the size as a byte count.
func (s Size) Int64() int64 { return int64(s) }

// String formats the size exactly, in the unit that gives the smallest
// whole number: "50GiB", "10GB", "1536MiB", "100B", "0". On a tie the
// binary unit wins, since that is what people mostly write for caches.
func (s Size) String() string {
	if s == 0 {
		return "0"
	}
	if s < 0 {
		return fmt.Sprintf("%dB", int64(s)) // never produced by ParseSize
	}
	bn, bu := fit(int64(s), 1024, []string{"KiB", "MiB", "GiB", "TiB"})
	dn, du := fit(int64(s), 1000, []string{"KB", "MB", "GB", "TB"})
	if dn < bn {
		return fmt.Sprintf("%d%s", dn, du)
	}
	return fmt.Sprintf("%d%s", bn, bu)
}

// fit divides n by base as often as it divides evenly, up to len(units)
// times, and returns the quotient and its unit ("B" for none).
func fit(n, base int64, units []string) (int64, string) {
	unit := "B"
	for _, u := range units {
		if n%base != 0 {
			break
		}
		n /= base
		unit = u
	}
	return n, unit
}

// nodeError reports a bad value at a node. It is a *yaml.TypeError so that
// the decoder collects it with the others and goes on; Parse later adds the
// key path to the message.
func nodeError(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, msg)}}
}

// quote quotes s for a message, cut short so that a long value is not
// echoed whole.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}
