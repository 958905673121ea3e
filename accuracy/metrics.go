package accuracy

import (
	"math"
	"slices"
	"sort"
)

// Impostors holds impostor similarities sorted from highest to lowest, so
// that the threshold for any false-accept rate is one index away.
type Impostors struct {
	desc []float32
}

// NewImpostors sorts s in place (descending) and keeps it.
func NewImpostors(s []float32) Impostors {
	slices.SortFunc(s, func(a, b float32) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	return Impostors{desc: s}
}

// Len is the number of impostor pairs.
func (im Impostors) Len() int { return len(im.desc) }

// Max is the highest impostor similarity (-Inf without impostors).
func (im Impostors) Max() float64 {
	if len(im.desc) == 0 {
		return math.Inf(-1)
	}
	return float64(im.desc[0])
}

// ThresholdAtFAR is the lowest similarity threshold t (accept when sim ≥ t)
// whose measured false-accept rate does not exceed far. measurable is false
// when far·N < 1: no impostor may be accepted at all, so t is just above the
// highest impostor and the true rate at t is unknown.
func (im Impostors) ThresholdAtFAR(far float64) (t float64, measurable bool) {
	n := len(im.desc)
	if n == 0 {
		return math.Inf(1), false
	}
	k := int(math.Floor(far*float64(n) + 1e-9)) // false accepts allowed
	if k >= n {
		return float64(im.desc[n-1]), true
	}
	return float64(math.Nextafter32(im.desc[k], float32(math.Inf(1)))), k >= 1
}

// FARAt is the share of impostors with similarity ≥ t.
func (im Impostors) FARAt(t float64) float64 {
	if len(im.desc) == 0 {
		return 0
	}
	return float64(im.AcceptsAt(t)) / float64(len(im.desc))
}

// AcceptsAt is the number of impostors with similarity ≥ t: the false
// accepts behind FARAt, for pooling counts over several populations.
func (im Impostors) AcceptsAt(t float64) int {
	// desc is descending: count the prefix with sim ≥ t.
	return sort.Search(len(im.desc), func(i int) bool { return float64(im.desc[i]) < t })
}

// TARAt is the share of genuine similarities ≥ t.
func TARAt(genuine []float32, t float64) float64 {
	if len(genuine) == 0 {
		return 0
	}
	return float64(acceptsAt(genuine, t)) / float64(len(genuine))
}

// acceptsAt is the number of similarities ≥ t: the true accepts behind TARAt.
func acceptsAt(sims []float32, t float64) int {
	n := 0
	for _, g := range sims {
		if float64(g) >= t {
			n++
		}
	}
	return n
}

// AUC is the area under the ROC curve: the probability that a random genuine
// pair scores above a random impostor pair, ties counting half
// (Mann–Whitney U).
func AUC(genuine, impostor []float32) float64 {
	if len(genuine) == 0 || len(impostor) == 0 {
		return math.NaN()
	}
	imp := slices.Clone(impostor)
	slices.Sort(imp)
	var u float64
	for _, g := range genuine {
		below, _ := slices.BinarySearch(imp, g)                                        // imp < g
		upto, _ := slices.BinarySearch(imp, math.Nextafter32(g, float32(math.Inf(1)))) // imp ≤ g
		u += float64(below) + 0.5*float64(upto-below)
	}
	return u / (float64(len(genuine)) * float64(len(impostor)))
}

// ROCPoint is one point of the ROC curve.
type ROCPoint struct {
	FAR, TAR float64
}

// ROC samples the curve at log-spaced false-accept rates from the smallest
// measurable one (1/N) to 1.
func ROC(genuine []float32, im Impostors, perDecade int) []ROCPoint {
	if im.Len() == 0 || len(genuine) == 0 {
		return nil
	}
	lo := math.Log10(1 / float64(im.Len()))
	var out []ROCPoint
	for e := lo; e <= 1e-9; e += 1 / float64(perDecade) {
		t, _ := im.ThresholdAtFAR(math.Pow(10, e))
		out = append(out, ROCPoint{FAR: im.FARAt(t), TAR: TARAt(genuine, t)})
	}
	return out
}
