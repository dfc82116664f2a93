package logging

import (
	"strconv"
	"sync/atomic"
	"time"
)

// stamps formats access-log timestamps. The date, time to the second and
// zone change once a second, so they are formatted then and kept; each line
// only appends its fraction. The output is byte for byte what
// time.Time.AppendFormat gives for the two layouts used.
type stamps struct {
	cur atomic.Pointer[stampSecond]
}

// stampSecond is one second's formatted parts.
type stampSecond struct {
	unix   int64
	offset int    // the zone's offset from UTC, in seconds
	date   string // "2006-01-02T15:04:05"
	zone   string // "Z" or "-07:00"
}

func (s *stamps) second(t time.Time) *stampSecond {
	_, off := t.Zone()
	if c := s.cur.Load(); c != nil && c.unix == t.Unix() && c.offset == off {
		return c
	}
	c := &stampSecond{
		unix:   t.Unix(),
		offset: off,
		date:   t.Format("2006-01-02T15:04:05"),
		zone:   t.Format("Z07:00"),
	}
	s.cur.Store(c)
	return c
}

// appendMillis appends t as "2006-01-02T15:04:05.000Z07:00".
func (s *stamps) appendMillis(b []byte, t time.Time) []byte {
	c := s.second(t)
	b = append(b, c.date...)
	b = append(b, '.')
	b = appendDigits(b, uint64(t.Nanosecond()/1e6), 3)
	return append(b, c.zone...)
}

// appendNano appends t as time.RFC3339Nano: the fraction with its trailing
// zeros removed, and no fraction at all on a whole second.
func (s *stamps) appendNano(b []byte, t time.Time) []byte {
	c := s.second(t)
	b = append(b, c.date...)
	b = appendFraction(b, uint64(t.Nanosecond()), 9)
	return append(b, c.zone...)
}

// appendDigits appends v as exactly n decimal digits, zero-padded.
func appendDigits(b []byte, v uint64, n int) []byte {
	var d [20]byte
	for i := n - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:n]...)
}

// appendFraction appends "." and v as n digits without trailing zeros, or
// nothing when v is 0.
func appendFraction(b []byte, v uint64, n int) []byte {
	if v == 0 {
		return b
	}
	for v%10 == 0 {
		v /= 10
		n--
	}
	b = append(b, '.')
	return appendDigits(b, v, n)
}

// appendDuration appends d as time.Duration.String does ("1.5ms",
// "2m0.5s", "0s"), without allocating.
func appendDuration(b []byte, d time.Duration) []byte {
	u := uint64(d)
	if d < 0 {
		b = append(b, '-')
		u = -u
	}
	switch {
	case u == 0:
		return append(b, "0s"...)
	case u < uint64(time.Microsecond):
		b = strconv.AppendUint(b, u, 10)
		return append(b, "ns"...)
	case u < uint64(time.Millisecond):
		b = strconv.AppendUint(b, u/1e3, 10)
		b = appendFraction(b, u%1e3, 3)
		return append(b, "µs"...)
	case u < uint64(time.Second):
		b = strconv.AppendUint(b, u/1e6, 10)
		b = appendFraction(b, u%1e6, 6)
		return append(b, "ms"...)
	}
	h, m, ns := u/uint64(time.Hour), u/uint64(time.Minute)%60, u%uint64(time.Minute)
	if h > 0 {
		b = strconv.AppendUint(b, h, 10)
		b = append(b, 'h')
	}
	if h > 0 || m > 0 {
		b = strconv.AppendUint(b, m, 10)
		b = append(b, 'm')
	}
	b = strconv.AppendUint(b, ns/1e9, 10)
	b = appendFraction(b, ns%1e9, 9)
	return append(b, 's')
}
