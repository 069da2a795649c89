package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// dist is a distribution of durations over trials.
type dist struct {
	vals []time.Duration
}

func (d *dist) add(v time.Duration) { d.vals = append(d.vals, v) }

func (d *dist) n() int { return len(d.vals) }

// pct returns the p-th percentile by the nearest-rank method: with fewer
// than 100 values, p99 is the maximum.
func (d *dist) pct(p float64) time.Duration {
	if len(d.vals) == 0 {
		return 0
	}
	s := slices.Clone(d.vals)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func (d *dist) median() time.Duration { return d.pct(50) }
func (d *dist) p90() time.Duration    { return d.pct(90) }
func (d *dist) p99() time.Duration    { return d.pct(99) }
func (d *dist) max() time.Duration    { return d.pct(100) }
func (d *dist) min() time.Duration    { return d.pct(0.0001) }

// ms formats a duration in milliseconds, with a precision that suits it.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch a := math.Abs(v); {
	case a < 10:
		return fmt.Sprintf("%.2f", v)
	case a < 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// ratio formats a/b as "×r".
func ratio(a, b time.Duration) string {
	if b == 0 {
		return "–"
	}
	r := float64(a) / float64(b)
	if r >= 10 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}
