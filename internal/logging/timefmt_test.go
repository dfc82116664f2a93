package logging

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestStampsMatchAppendFormat(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("x", -7*3600-30*60), time.FixedZone("y", 5*3600+45*60)}
	rng := rand.New(rand.NewPCG(1, 2))
	var s stamps
	base := time.Date(2026, 12, 4, 17, 59, 58, 0, time.UTC)
	for i := range 20000 {
		var t0 time.Time
		switch i % 4 {
		case 0: // whole seconds and round fractions: trailing zeros
			t0 = base.Add(time.Duration(rng.IntN(5)) * time.Second).Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
		case 1: // consecutive instants within and across seconds
			t0 = base.Add(time.Duration(i) * 173 * time.Microsecond)
		default:
			t0 = time.Unix(rng.Int64N(4e9), rng.Int64N(1e9))
		}
		t0 = t0.In(zones[rng.IntN(len(zones))])
		if got, want := string(s.appendMillis(nil, t0)), t0.Format("2006-01-02T15:04:05.000Z07:00"); got != want {
			t.Fatalf("appendMillis(%v) = %q, want %q", t0, got, want)
		}
		if got, want := string(s.appendNano(nil, t0)), t0.Format(time.RFC3339Nano); got != want {
			t.Fatalf("appendNano(%v) = %q, want %q", t0, got, want)
		}
	}
}

func TestAppendDurationMatchesString(t *testing.T) {
	cases := []time.Duration{0, 1, -1, 999, 1000, 1001, 1500 * time.Microsecond, time.Millisecond, time.Second,
		time.Minute, time.Hour, 90 * time.Minute, 72*time.Hour + 3*time.Minute + 500*time.Millisecond,
		math.MaxInt64, math.MinInt64, -time.Minute}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		cases = append(cases, time.Duration(rng.Int64N(int64(1)<<uint(rng.IntN(63)))+1)*time.Duration(1-2*rng.IntN(2)))
	}
	for _, d := range cases {
		if got, want := string(appendDuration(nil, d)), d.String(); got != want {
			t.Fatalf("appendDuration(%d) = %q, want %q", int64(d), got, want)
		}
	}
}

func BenchmarkStamp(b *testing.B) {
	var s stamps
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = s.appendMillis(buf[:0], time.Now())
		buf = appendDuration(buf, 1234567*time.Nanosecond)
	}
}
