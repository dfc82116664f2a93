package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0..100, nearest rank) of ds, or 0
// for none. It sorts a copy.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if p <= 0 {
		return s[0]
	}
	// nearest rank: the smallest value with at least p% of values at or below it
	rank := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(rank, 0), len(s)-1)]
}
