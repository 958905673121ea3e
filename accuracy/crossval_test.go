package accuracy

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// groupedSet is a set of identities in the given groups (group → count;
// "" for people without a group), n images each, every identity's first two
// images a genuine pair of pairs.tsv.
func groupedSet(groups map[string]int, n int) *Set {
	s := &Set{Dir: "synthetic"}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	slices.Sort(names)
	for _, g := range names {
		for range groups[g] {
			id := len(s.Identities)
			s.Identities = append(s.Identities, fmt.Sprintf("p%03d", id))
			s.Group = append(s.Group, g)
			for j := range n {
				s.Images = append(s.Images, fmt.Sprintf("p%03d/%d.jpg", id, j))
				s.Identity = append(s.Identity, id)
			}
			if n >= 2 {
				s.Pairs = append(s.Pairs, Pair{A: len(s.Images) - n, B: len(s.Images) - n + 1, Same: true})
			}
		}
	}
	return s
}

func TestFolds(t *testing.T) {
	tests := []struct {
		groups map[string]int
		k      int
	}{
		{map[string]int{"": 10}, 2},
		{map[string]int{"other": 23, "ea": 9, "": 4}, 3},
		{map[string]int{"other": 157, "ea": 9, "sea": 3}, 5},
		{map[string]int{"other": 30, "ea": 7}, 7},
		{map[string]int{"ea": 5}, 5},
	}
	for _, tc := range tests {
		s := groupedSet(tc.groups, 2)
		name := fmt.Sprintf("%v/k=%d", tc.groups, tc.k)
		fold := Folds(s, tc.k, 1)
		if !slices.Equal(fold, Folds(s, tc.k, 1)) {
			t.Errorf("%s: not deterministic for one seed", name)
		}
		size := make([]int, tc.k)
		per := map[string][]int{}
		for id, f := range fold {
			if f < 0 || f >= tc.k {
				t.Fatalf("%s: identity %d in fold %d", name, id, f)
			}
			size[f]++
			if per[s.Group[id]] == nil {
				per[s.Group[id]] = make([]int, tc.k)
			}
			per[s.Group[id]][f]++
		}
		// Stratified: every fold gets its share of each group and of all.
		if slices.Max(size)-slices.Min(size) > 1 {
			t.Errorf("%s: fold sizes %v", name, size)
		}
		for g, c := range per {
			if slices.Max(c)-slices.Min(c) > 1 {
				t.Errorf("%s: group %q spread %v over the folds", name, g, c)
			}
		}
		// Each fold's held-out and training subsets partition the images,
		// and every identity is held out exactly once.
		heldOut := make([]int, len(s.Images))
		for f := range tc.k {
			_, train := s.Subset(func(id int) bool { return fold[id] != f })
			_, test := s.Subset(func(id int) bool { return fold[id] == f })
			both := append(slices.Clone(train), test...)
			slices.Sort(both)
			if len(both) != len(s.Images) || slices.Compact(both)[len(both)-1] != len(s.Images)-1 || len(slices.Compact(slices.Clone(both))) != len(s.Images) {
				t.Errorf("%s fold %d: training %d + held-out %d images do not partition %d", name, f, len(train), len(test), len(s.Images))
			}
			for _, i := range test {
				heldOut[i]++
			}
		}
		for i, n := range heldOut {
			if n != 1 {
				t.Errorf("%s: image %d held out %d times", name, i, n)
			}
		}
	}
	s := groupedSet(map[string]int{"other": 50, "ea": 10}, 2)
	if slices.Equal(Folds(s, 5, 1), Folds(s, 5, 2)) {
		t.Errorf("seeds 1 and 2 give the same split")
	}
}

func TestRatePoolsCounts(t *testing.T) {
	tests := []struct {
		name           string
		folds          [][2]int // accepts, pairs
		rate, lo, hi   float64
		accepts, pairs int
	}{
		{"equal folds", [][2]int{{1, 1000}, {0, 1000}, {2, 1000}}, 1e-3, 0, 2e-3, 3, 3000},
		// A mean of the folds' rates would say 5 %: the small fold would
		// weigh as much as the large one.
		{"unequal folds", [][2]int{{1, 10}, {0, 1000}}, 1.0 / 1010, 0, 0.1, 1, 1010},
		{"all zero", [][2]int{{0, 500}, {0, 700}}, 0, 0, 0, 0, 1200},
		{"a fold without pairs is no fold", [][2]int{{0, 0}, {3, 100}, {1, 100}}, 0.02, 0.01, 0.03, 4, 200},
		{"no pairs at all", [][2]int{{0, 0}}, 0, 0, 0, 0, 0},
	}
	for _, tc := range tests {
		var r Rate
		for _, f := range tc.folds {
			r.add(f[0], f[1])
		}
		if r.Accepts != tc.accepts || r.Pairs != tc.pairs || math.Abs(r.Rate-tc.rate) > 1e-15 ||
			math.Abs(r.FoldMin-tc.lo) > 1e-15 || math.Abs(r.FoldMax-tc.hi) > 1e-15 {
			t.Errorf("%s: %+v, want %d/%d = %g in [%g, %g]", tc.name, r, tc.accepts, tc.pairs, tc.rate, tc.lo, tc.hi)
		}
	}
}

func TestUpper95(t *testing.T) {
	tests := []struct {
		x, n int
		want float64
	}{
		{0, 100, 1 - math.Pow(0.05, 1.0/100)}, // (1−p)^n = 0.05
		{0, 6412, 1 - math.Pow(0.05, 1.0/6412)},
		{1, 100, 0.0465598},
		{100, 100, 1},
		{0, 0, 1},
	}
	for _, tc := range tests {
		if got := upper95(tc.x, tc.n); math.Abs(got-tc.want) > 1e-6*math.Max(tc.want, 1e-3) {
			t.Errorf("upper95(%d, %d) = %.7g, want %.7g", tc.x, tc.n, got, tc.want)
		}
	}
	// Above the exact sum's range the normal approximation takes over
	// without a jump.
	a, b := upper95(10_000, 10_000_000), upper95(10_001, 10_000_000)
	if b < a || (b-a)/a > 2e-4 {
		t.Errorf("upper95 jumps at the approximation: %g → %g", a, b)
	}
}

// lambSet is a face set whose group "ea" has many ordinary people in two
// clusters and (with lamb) one more person whom all of the smaller cluster
// resemble, even once the group's mean is subtracted: a calibration fitted
// with the lamb in sight holds, one fitted without lets many of the lamb's
// pairs through. Group "other" is unrelated people.
func lambSet(lamb bool) (*Set, *Embeddings) {
	const dim, perID = 256, 4
	groups := map[string]int{"ea": 60, "other": 60}
	if lamb {
		groups["ea"]++
	}
	s := groupedSet(groups, perID)
	r := rand.New(rand.NewPCG(7, 7))
	unit := func(v []float64) []float64 {
		var ss float64
		for _, x := range v {
			ss += x * x
		}
		for i := range v {
			v[i] /= math.Sqrt(ss)
		}
		return v
	}
	randn := func() []float64 {
		v := make([]float64, dim)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		return unit(v)
	}
	// A third of the "ea" people share one direction, the rest another:
	// the lamb sits on the first, so that it stands out even after the
	// group's mean is subtracted (Calibrate centres on it).
	uA, uB, uOther := randn(), randn(), randn()
	e := &Embeddings{Model: "lamb", Vectors: make([][]float32, len(s.Images)), Failure: make([]string, len(s.Images))}
	center := make([][]float64, len(s.Identities))
	for id, g := range s.Group {
		u, c := uA, randn()
		switch {
		case g == "other":
			u = uOther
		case id%3 != 0:
			u = uB
		}
		for i := range c {
			c[i] = 0.6*u[i] + 0.8*c[i]
		}
		if lamb && id == 0 { // groupedSet puts "ea" first
			for i := range c {
				c[i] = uA[i] - 0.5*uB[i]
			}
		}
		center[id] = unit(c)
	}
	for i, id := range s.Identity {
		n := randn()
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(center[id][j] + 0.3*n[j])
		}
		f := unit(func() []float64 {
			w := make([]float64, dim)
			for j := range w {
				w[j] = float64(v[j])
			}
			return w
		}())
		for j := range v {
			v[j] = float32(f[j])
		}
		e.Vectors[i] = v
	}
	return s, e
}

func TestCrossValidateDetectsOutOfSampleMiscalibration(t *testing.T) {
	tests := []struct {
		name     string
		lamb     bool
		maxFAR40 float64 // held-out "ea" FAR at score 40 at most
		minFAR40 float64 // and at least
	}{
		// Without the lamb the in-sample table holds out of sample too
		// (its promise is 1e-3; a few thousand pairs measure it roughly).
		{"ordinary group", false, 4e-3, 0},
		// In sample the lamb's pairs raise the threshold and the band holds;
		// out of sample, the fold that holds the lamb out was fitted without
		// it and accepts many of its pairs: the pooled rate is several times
		// the promise (the ordinary group's is 0).
		{"group with a lamb", true, 1, 2e-3},
	}
	for _, tc := range tests {
		s, e := lambSet(tc.lamb)
		m, err := Measure(s, e)
		if err != nil {
			t.Fatal(err)
		}
		tb, err := Fit(m, "ea", "synthetic", time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if in := NewReport(m, &tb).Groups["ea"].FARAtScore["40"]; in > 1e-3 {
			t.Fatalf("%s: in-sample ea FAR at 40 = %g, the fit should hold it to 1e-3", tc.name, in)
		}
		h, err := CrossValidate(s, e, CrossValidation{Folds: 5, Seed: 1, Group: "ea"})
		if err != nil {
			t.Fatal(err)
		}
		far := h.Groups["ea"].FARAtScore["40"]
		t.Logf("%s: held-out ea FAR at 40 %d/%d; in-sample %d/%d", tc.name, far.Accepts, far.Pairs,
			m.Groups["ea"].Impostors.AcceptsAt(tb.Similarity(40)), m.Groups["ea"].Impostors.Len())
		if far.Rate > tc.maxFAR40 || far.Rate < tc.minFAR40 {
			t.Errorf("%s: held-out ea FAR at 40 = %g (%d/%d), want %g..%g", tc.name, far.Rate, far.Accepts, far.Pairs, tc.minFAR40, tc.maxFAR40)
		}
		checkHoldoutCounts(t, tc.name, s, h)
	}
}

// checkHoldoutCounts checks the held-out pair counts against the folds: the
// impostors are every cross-identity pair inside a fold, each genuine pair
// is held out once, and every rate is its pooled count.
func checkHoldoutCounts(t *testing.T, name string, s *Set, h *Holdout) {
	t.Helper()
	fold := Folds(s, h.Folds, h.Seed)
	pairs := func(group string) int {
		n := 0
		for f := range h.Folds {
			var imgs int
			var same int
			for id := range s.Identities {
				if fold[id] != f || (group != "" && s.Group[id] != group) {
					continue
				}
				c := 0
				for _, i := range s.Identity {
					if i == id {
						c++
					}
				}
				imgs += c
				same += c * (c - 1) / 2
			}
			n += imgs*(imgs-1)/2 - same
		}
		return n
	}
	if got, want := h.ImpostorPairs, pairs(""); got != want {
		t.Errorf("%s: held-out impostor pairs %d, want %d", name, got, want)
	}
	if got, want := h.GenuinePairs, len(s.Pairs); got != want {
		t.Errorf("%s: held-out genuine pairs %d, want every genuine pair once (%d)", name, got, want)
	}
	if len(h.PerFold) != h.Folds {
		t.Errorf("%s: %d fold entries for %d folds", name, len(h.PerFold), h.Folds)
	}
	ids := 0
	for _, f := range h.PerFold {
		ids += f.Identities
	}
	if ids != len(s.Identities) {
		t.Errorf("%s: folds hold %d identities, the set %d", name, ids, len(s.Identities))
	}
	for g, m := range h.Groups {
		if got, want := m.ImpostorPairs, pairs(g); got != want {
			t.Errorf("%s: group %s held-out impostor pairs %d, want %d", name, g, got, want)
		}
	}
	check := func(what string, r Rate, pairs int) {
		if r.Pairs != pairs || r.Rate != float64(r.Accepts)/float64(max(r.Pairs, 1)) || r.FoldMin > r.Rate || r.Rate > r.FoldMax {
			t.Errorf("%s: %s %+v over %d pairs", name, what, r, pairs)
		}
	}
	for pop, m := range map[string]HoldoutMetrics{"all": h.HoldoutMetrics, "ea": h.Groups["ea"]} {
		for k, r := range m.FARAtScore {
			check(pop+" FAR@"+k, r, m.ImpostorPairs)
			if r.Upper95 < r.Rate {
				t.Errorf("%s: %s FAR@%s bound %g under the rate %g", name, pop, k, r.Upper95, r.Rate)
			}
		}
		for k, r := range m.TARAtScore {
			check(pop+" TAR@"+k, r, m.GenuinePairs)
		}
		for k, r := range m.FARAtTrainFAR {
			check(pop+" FAR@train "+k, r, m.ImpostorPairs)
		}
		for k, r := range m.TARAtTrainFAR {
			check(pop+" TAR@train "+k, r, m.GenuinePairs)
		}
	}
}

func TestCrossValidateRejects(t *testing.T) {
	s, e := lambSet(false)
	for _, k := range []int{0, 1, len(s.Identities) + 1} {
		if _, err := CrossValidate(s, e, CrossValidation{Folds: k, Group: "ea"}); !errors.Is(err, ErrFolds) {
			t.Errorf("%d folds: error %v, want ErrFolds", k, err)
		}
	}
	if _, err := CrossValidate(s, e, CrossValidation{Folds: 5, Group: "nobody"}); !errors.Is(err, ErrTooFewPairs) {
		t.Errorf("unknown group: error %v, want ErrTooFewPairs from the fit", err)
	}
}
