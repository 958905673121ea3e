package accuracy

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/portrait-id/portrait/face/calibration"
)

// minAccepts is the fewest false accepts a threshold may rest on before it is
// extrapolated instead: below ten, one more or less impostor moves it a lot.
const minAccepts = 10

// ErrTooFewPairs is a measurement with too few impostor pairs to calibrate.
var ErrTooFewPairs = errors.New("too few impostor pairs to calibrate")

// Fit derives the similarity→score table from a measurement: for each band
// (40 ↔ FAR 1e-3, 50 ↔ 1e-4, 60 ↔ 1e-5) the higher of the whole set's
// threshold and group's (when group is not ""), so that the bands hold for
// that group's users as well as for everyone; the median impostor
// similarity maps to 0 and a perfect match (1.0) to 100.
//
// A measured threshold keeps a 95 % margin (see threshold); one resting on
// fewer than ten false accepts is extrapolated from
// the impostor tail: log10(FAR) is close to linear in similarity over the
// upper tail, so a line fitted to the measured thresholds between FAR 10^-2.5
// and the lowest reliable FAR is extended; the gap between the group's and
// the whole set's thresholds at that lowest reliable FAR, added to the whole
// set's threshold, is a second estimate, and the higher of the two is kept.
func Fit(m *Measurement, group, set string, now time.Time) (calibration.Table, error) {
	all := m.All.Impostors
	if all.Len() < 1000 {
		return calibration.Table{}, fmt.Errorf("%w: %d", ErrTooFewPairs, all.Len())
	}
	t := calibration.Table{
		Version: 1, Model: m.Model, Set: set, Group: group, Date: now.UTC().Format("2006-01-02"),
		ImpostorPairs: int64(all.Len()),
	}
	var g Impostors
	if group != "" {
		sc, ok := m.Groups[group]
		if !ok || sc.Impostors.Len() < 100 {
			return calibration.Table{}, fmt.Errorf("%w in group %q", ErrTooFewPairs, group)
		}
		g = sc.Impostors
		t.GroupPairs = int64(g.Len())
	}
	median, _ := all.ThresholdAtFAR(0.5)
	t.Points = append(t.Points, calibration.Point{Similarity: ceil6(median), Score: 0, Basis: "median impostor similarity"})
	prev := median
	for _, band := range ScoreBands {
		sim, basis := threshold(all, band.FAR, all)
		basis = "whole set: " + basis
		if group != "" {
			gs, gb := threshold(g, band.FAR, all)
			basis += "; " + group + ": " + gb
			if gs > sim {
				sim = gs
				basis += " (kept)"
			}
		}
		// Keep the table strictly increasing even if a noisy tail says otherwise.
		sim = math.Max(sim, prev+1e-4)
		if sim >= 1 {
			return calibration.Table{}, fmt.Errorf("calibrate: FAR %g threshold %.4f leaves no room below 1.0", band.FAR, sim)
		}
		t.Points = append(t.Points, calibration.Point{Similarity: ceil6(sim), Score: band.Score, Basis: fmt.Sprintf("FAR %g, %s", band.FAR, basis)})
		prev = sim
	}
	t.Points = append(t.Points, calibration.Point{Similarity: 1, Score: 100, Basis: "identical templates"})
	return t, t.Validate()
}

// threshold is im's threshold at far, measured when it rests on at least
// minAccepts false accepts and extrapolated otherwise; ref (the whole set)
// supplies the second estimate.
//
// A measured threshold lets through only as many of the measured impostors
// as keep the 95 % upper bound on the FAR within far. The rate measured on
// the people a table was fitted on is optimistic for people it never saw:
// on faces-dev, East-Asian pairs held out of the fit (5-fold by identity,
// ten splits) were accepted at score 40 at 1.4e-3 with the plain 1e-3
// threshold.
func threshold(im Impostors, far float64, ref Impostors) (float64, string) {
	n := im.Len()
	if k := boundedAccepts(n, far); k >= minAccepts {
		t, _ := im.ThresholdAtFAR(float64(k) / float64(n))
		return t, fmt.Sprintf("%.4f measured over %d pairs (%d accepted, 95 %% bound ≤ %g)", t, n, k, far)
	}
	lowest := minAccepts / float64(im.Len()) // lowest reliable FAR
	// The tail bends (similarity grows ever slower as the FAR falls), so a
	// line through more decades overshoots at its end: fitted from 10^-1.5,
	// fr_feature's East-Asian 60 let through 2 of 560,895 held-out pairs
	// where 5.6 were allowed, and from 10^-3 it let through 6 (1.07e-5).
	// From 10^-2.5: 3 (5.4e-6).
	hi := math.Pow(10, -2.5)
	if lowest >= hi {
		hi = math.Min(0.5, lowest*30)
	}
	var xs, ys []float64
	for e := math.Log10(hi); e >= math.Log10(lowest)-1e-9; e -= 0.1 {
		s, _ := im.ThresholdAtFAR(math.Pow(10, e))
		xs, ys = append(xs, e), append(ys, s)
	}
	a, b := fitLine(xs, ys)
	tail := a + b*math.Log10(far)
	tLow, _ := im.ThresholdAtFAR(lowest)
	rLow, _ := ref.ThresholdAtFAR(lowest)
	rFar, _ := ref.ThresholdAtFAR(far)
	shift := rFar + (tLow - rLow)
	est := math.Max(tail, shift)
	return est, fmt.Sprintf("%.4f extrapolated from %d pairs (tail line %.4f, shifted whole-set %.4f; max observed %.4f)", est, im.Len(), tail, shift, im.Max())
}

// boundedAccepts is the most false accepts among n impostor pairs whose
// one-sided 95 % upper bound on the FAR stays within far.
func boundedAccepts(n int, far float64) int {
	lo, hi := -1, int(far*float64(n)) // upper95(lo) ≤ far < upper95(hi+1)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if upper95(mid, n) <= far {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// fitLine is the least-squares line y = a + b·x.
func fitLine(xs, ys []float64) (a, b float64) {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i, x := range xs {
		sx += x
		sy += ys[i]
		sxx += x * x
		sxy += x * ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return sy / n, 0
	}
	b = (n*sxy - sx*sy) / den
	return (sy - b*sx) / n, b
}

// ceil6 rounds a threshold up to 6 decimals for the table, so that rounding
// never lets an extra impostor through.
func ceil6(v float64) float64 { return math.Ceil(v*1e6) / 1e6 }
