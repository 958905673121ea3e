package accuracy

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// synthetic builds a measurement whose impostors are Gaussian: the whole set
// N(0.3, 0.1) over n pairs and a group N(0.45, 0.1) over ng pairs.
func synthetic(n, ng int) *Measurement {
	r := rand.New(rand.NewPCG(1, 2))
	draw := func(k int, mean float64) []float32 {
		out := make([]float32, k)
		for i := range out {
			out[i] = float32(mean + 0.1*r.NormFloat64())
		}
		return out
	}
	allImp := draw(n, 0.3)
	grp := draw(ng, 0.45)
	allImp = append(allImp, grp...)
	return &Measurement{
		Model:  "synthetic",
		All:    &Scores{Genuine: draw(1000, 0.8), Impostors: NewImpostors(allImp)},
		Groups: map[string]*Scores{"ea": {Genuine: draw(100, 0.8), Impostors: NewImpostors(grp)}},
	}
}

func TestFitWholeSet(t *testing.T) {
	m := synthetic(2_000_000, 20_000)
	tb, err := Fit(m, "", "synthetic", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Points) != 5 || tb.Points[0].Score != 0 || tb.Points[4].Score != 100 || tb.Points[4].Similarity != 1 {
		t.Fatalf("anchors wrong: %+v", tb.Points)
	}
	im := m.All.Impostors
	for i, band := range ScoreBands {
		// The threshold lets through the most impostors whose 95 % bound
		// is still within the band's FAR.
		k := boundedAccepts(im.Len(), band.FAR)
		want, _ := im.ThresholdAtFAR(float64(k) / float64(im.Len()))
		if got := tb.Points[i+1].Similarity; math.Abs(got-want) > 1e-6 || tb.Points[i+1].Score != band.Score {
			t.Errorf("band %s at %v, want the threshold %v accepting %d", band.Key, got, want, k)
		}
		accepted := int(math.Round(im.FARAt(tb.Similarity(band.Score)) * float64(im.Len())))
		if accepted > k || upper95(accepted, im.Len()) > band.FAR {
			t.Errorf("band %s: %d of %d accepted, bound %g over %g", band.Key, accepted, im.Len(), upper95(accepted, im.Len()), band.FAR)
		}
	}
}

func TestBoundedAccepts(t *testing.T) {
	tests := []struct {
		n   int
		far float64
	}{
		{33_634, 1e-3}, // faces-dev's East-Asian impostors at score 40
		{11_800_000, 1e-3}, {11_800_000, 1e-5}, {2_000, 1e-3}, {100, 1e-3},
	}
	for _, tc := range tests {
		k := boundedAccepts(tc.n, tc.far)
		if k >= 0 && upper95(k, tc.n) > tc.far {
			t.Errorf("n %d far %g: %d accepts bound %g, over", tc.n, tc.far, k, upper95(k, tc.n))
		}
		if upper95(k+1, tc.n) <= tc.far {
			t.Errorf("n %d far %g: %d accepts, but %d still bound within", tc.n, tc.far, k, k+1)
		}
		if float64(k) > tc.far*float64(tc.n) {
			t.Errorf("n %d far %g: %d accepts, more than the rate itself", tc.n, tc.far, k)
		}
	}
	// Few pairs cannot bound a FAR: no accepts are allowed at all (-1 means
	// even none is not enough), and the threshold is extrapolated instead.
	if k := boundedAccepts(100, 1e-3); k != -1 {
		t.Errorf("100 pairs at 1e-3: %d accepts", k)
	}
}

func TestFitHoldsForGroup(t *testing.T) {
	m := synthetic(2_000_000, 20_000)
	tb, err := Fit(m, "ea", "synthetic", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	g := m.Groups["ea"].Impostors
	// 1e-3 is measurable in the group (20 accepts): the band must hold there.
	if far := g.FARAt(tb.Similarity(40)); far > 1e-3 {
		t.Errorf("group FAR at 40 = %g, over 1e-3", far)
	}
	// 1e-4 and 1e-5 are extrapolated; for a Gaussian N(0.45, 0.1) the true
	// thresholds are 0.45 + 0.1·z with z = 3.719 and 4.265. The estimate must
	// not fall below them by more than a hundredth.
	for _, c := range []struct {
		score, truth float64
	}{{50, 0.45 + 0.1*3.719}, {60, 0.45 + 0.1*4.265}} {
		if got := tb.Similarity(c.score); got < c.truth-0.01 {
			t.Errorf("band %v at %.4f, below the group's true threshold %.4f", c.score, got, c.truth)
		}
	}
	for i := 1; i < len(tb.Points); i++ {
		if tb.Points[i].Similarity <= tb.Points[i-1].Similarity {
			t.Fatalf("table not increasing: %+v", tb.Points)
		}
	}
}
