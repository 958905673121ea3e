package accuracy

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// The calibration table and the model's choices are fitted on the very set
// the report measures, so the report's score-band figures are in-sample:
// they hold by construction. CrossValidate estimates them out of sample
// instead: the identities are split into k folds, each fold's table is
// fitted (by Fit, the same rule as `portrait bench calibrate`) on the other
// folds' identities only, and measured on the fold's own people, whom the fit
// never saw.

// CrossValidation configures CrossValidate.
type CrossValidation struct {
	Folds int    // k ≥ 2
	Seed  uint64 // of the identity split
	// Group is passed to Fit: the group whose impostors the bands must also
	// hold for ("" for the whole set only), as the shipped table's.
	Group string
}

// HoldoutFARLevels are the false-accept rates whose training-fold
// thresholds are tried on the held-out fold.
var HoldoutFARLevels = []struct {
	Key string
	FAR float64
}{{"1e-3", 1e-3}, {"1e-4", 1e-4}}

// Rate is a rate pooled over the folds: accepts of pairs, both summed over
// the folds (so that a rare event is a count over every held-out pair, not a
// mean of per-fold zeros), with the lowest and highest rate of a single fold
// (among folds with pairs).
type Rate struct {
	Accepts int     `json:"accepts"`
	Pairs   int     `json:"pairs"`
	Rate    float64 `json:"rate"`
	// Upper95 is, for false-accept rates, the one-sided 95 % upper
	// confidence bound on the true rate given Accepts of Pairs
	// (Clopper–Pearson): a band is shown to hold only when it is within it.
	Upper95 float64 `json:"upper95,omitempty"`
	FoldMin float64 `json:"fold_min"`
	FoldMax float64 `json:"fold_max"`
	folds   int     // folds with pairs
}

// add pools one fold's count; a fold without pairs leaves the rate alone.
func (r *Rate) add(accepts, pairs int) {
	if pairs == 0 {
		return
	}
	f := float64(accepts) / float64(pairs)
	if r.folds == 0 || f < r.FoldMin {
		r.FoldMin = f
	}
	if r.folds == 0 || f > r.FoldMax {
		r.FoldMax = f
	}
	r.folds++
	r.Accepts += accepts
	r.Pairs += pairs
	r.Rate = float64(r.Accepts) / float64(r.Pairs)
}

// HoldoutMetrics are one population's held-out figures, pooled over folds.
// Impostors are every cross-identity image pair inside a held-out fold (for
// a group, both people in the group); genuine pairs are pairs.tsv's
// same-identity pairs inside it, as the in-sample report counts them, so
// every genuine pair is held out exactly once.
type HoldoutMetrics struct {
	Identities    int `json:"identities"`
	GenuinePairs  int `json:"genuine_pairs"`
	ImpostorPairs int `json:"impostor_pairs"`
	// At each score band of the table fitted on the other folds.
	FARAtScore map[string]Rate `json:"far_at_score"`
	TARAtScore map[string]Rate `json:"tar_at_score"`
	// At the similarity threshold where this population's impostors of the
	// other folds are accepted at each of HoldoutFARLevels.
	FARAtTrainFAR map[string]Rate `json:"far_at_train_far"`
	TARAtTrainFAR map[string]Rate `json:"tar_at_train_far"`
	// TrainFewAccepts lists the levels whose training threshold rested on
	// fewer than ten false accepts (or none could be allowed) in some fold.
	TrainFewAccepts []string `json:"train_far_few_accepts,omitempty"`
}

// HoldoutFold describes one fold.
type HoldoutFold struct {
	Identities      int            `json:"identities"`
	GroupIdentities map[string]int `json:"group_identities,omitempty"`
	// TrainImpostorPairs is the whole-set impostor pairs the table was
	// fitted on, TrainGroupPairs the group's.
	TrainImpostorPairs int `json:"train_impostor_pairs"`
	TrainGroupPairs    int `json:"train_group_impostor_pairs,omitempty"`
	// BandSimilarity is the fitted table's similarity at each score band.
	BandSimilarity map[string]float64 `json:"band_similarity"`
}

// Holdout is the result of CrossValidate: the whole set's figures and each
// group's, and the folds.
type Holdout struct {
	Folds          int                       `json:"folds"`
	Seed           uint64                    `json:"seed"`
	Group          string                    `json:"calibration_group,omitempty"`
	HoldoutMetrics                           // the whole set
	Groups         map[string]HoldoutMetrics `json:"groups,omitempty"`
	PerFold        []HoldoutFold             `json:"per_fold"`
}

// ErrFolds is a fold count the set cannot be split into.
var ErrFolds = errors.New("cannot split the set into folds")

// Folds assigns each identity of s to one of k folds (k ≥ 1), the same way
// for the same seed. Stratified by group: each group's identities (and the
// identities without a group, as one more) are shuffled and dealt round
// robin, the deal carrying on from one group to the next, so that every fold
// gets its share (±1) of each group and of all identities.
func Folds(s *Set, k int, seed uint64) []int {
	r := rand.New(rand.NewPCG(seed, 0x6b666f6c64)) // "kfold"
	fold := make([]int, len(s.Identities))
	next := 0
	for _, g := range append([]string{""}, s.Groups()...) {
		var ids []int
		for id, gi := range s.Group {
			if gi == g {
				ids = append(ids, id)
			}
		}
		r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		for _, id := range ids {
			fold[id] = next
			next = (next + 1) % k
		}
	}
	return fold
}

// CrossValidate runs k-fold cross-validation by identity: for each fold it
// fits the calibration table on the other folds' identities (Calibrate with
// cv.Group, as `portrait bench calibrate`: their own center, their own
// thresholds) and measures
// on the fold's identities the false and true accept rates at the table's
// score bands and at the other folds' own FAR thresholds, per population.
func CrossValidate(s *Set, e *Embeddings, cv CrossValidation) (*Holdout, error) {
	k := cv.Folds
	if k < 2 || k > len(s.Identities) {
		return nil, fmt.Errorf("%w: %d folds of %d identities", ErrFolds, k, len(s.Identities))
	}
	if len(e.Vectors) != len(s.Images) {
		return nil, fmt.Errorf("cross-validate: %d embeddings for %d images", len(e.Vectors), len(s.Images))
	}
	fold := Folds(s, k, cv.Seed)
	h := &Holdout{Folds: k, Seed: cv.Seed, Group: cv.Group, HoldoutMetrics: newHoldoutMetrics()}
	groups := s.Groups()
	pops := map[string]*HoldoutMetrics{"": &h.HoldoutMetrics}
	for _, g := range groups {
		m := newHoldoutMetrics()
		pops[g] = &m
	}
	few := map[string]map[string]bool{}
	h.Identities = len(s.Identities)
	for _, g := range s.Group {
		if g != "" {
			pops[g].Identities++
		}
	}
	name := filepath.Base(filepath.Clean(s.Dir))
	for f := range k {
		train, trainImgs := s.Subset(func(id int) bool { return fold[id] != f })
		table, tm, err := Calibrate(train, e.Subset(trainImgs), cv.Group, fmt.Sprintf("%s without fold %d/%d", name, f+1, k), time.Time{})
		if err != nil {
			return nil, fmt.Errorf("cross-validate fold %d/%d: %w", f+1, k, err)
		}
		test, testImgs := s.Subset(func(id int) bool { return fold[id] == f })
		te, err := e.Subset(testImgs).Compared(table)
		if err != nil {
			return nil, fmt.Errorf("cross-validate fold %d/%d: %w", f+1, k, err)
		}
		hm, err := Measure(test, te)
		if err != nil {
			return nil, fmt.Errorf("cross-validate fold %d/%d: %w", f+1, k, err)
		}
		fi := HoldoutFold{Identities: len(test.Identities), TrainImpostorPairs: tm.All.Impostors.Len(), BandSimilarity: map[string]float64{}}
		if sc, ok := tm.Groups[cv.Group]; ok {
			fi.TrainGroupPairs = sc.Impostors.Len()
		}
		for _, g := range test.Group {
			if g != "" {
				if fi.GroupIdentities == nil {
					fi.GroupIdentities = map[string]int{}
				}
				fi.GroupIdentities[g]++
			}
		}
		for _, b := range ScoreBands {
			fi.BandSimilarity[b.Key] = table.Similarity(b.Score)
		}
		h.PerFold = append(h.PerFold, fi)
		for pop, out := range pops {
			trainSc, testSc := tm.All, hm.All
			if pop != "" {
				trainSc, testSc = tm.Groups[pop], hm.Groups[pop]
			}
			if testSc == nil {
				continue // no one of the group in this fold
			}
			out.GenuinePairs += len(testSc.Genuine)
			out.ImpostorPairs += testSc.Impostors.Len()
			for _, b := range ScoreBands {
				t := table.Similarity(b.Score)
				far, tar := out.FARAtScore[b.Key], out.TARAtScore[b.Key]
				far.add(testSc.Impostors.AcceptsAt(t), testSc.Impostors.Len())
				tar.add(acceptsAt(testSc.Genuine, t), len(testSc.Genuine))
				out.FARAtScore[b.Key], out.TARAtScore[b.Key] = far, tar
			}
			for _, l := range HoldoutFARLevels {
				if trainSc == nil || trainSc.Impostors.Len() == 0 {
					continue
				}
				t, measurable := trainSc.Impostors.ThresholdAtFAR(l.FAR)
				if !measurable || l.FAR*float64(trainSc.Impostors.Len()) < minAccepts {
					if few[pop] == nil {
						few[pop] = map[string]bool{}
					}
					few[pop][l.Key] = true
				}
				far, tar := out.FARAtTrainFAR[l.Key], out.TARAtTrainFAR[l.Key]
				far.add(testSc.Impostors.AcceptsAt(t), testSc.Impostors.Len())
				tar.add(acceptsAt(testSc.Genuine, t), len(testSc.Genuine))
				out.FARAtTrainFAR[l.Key], out.TARAtTrainFAR[l.Key] = far, tar
			}
		}
	}
	for pop, out := range pops {
		for key, r := range out.FARAtScore {
			r.Upper95 = upper95(r.Accepts, r.Pairs)
			out.FARAtScore[key] = r
		}
		for key, r := range out.FARAtTrainFAR {
			r.Upper95 = upper95(r.Accepts, r.Pairs)
			out.FARAtTrainFAR[key] = r
		}
		for _, l := range HoldoutFARLevels {
			if few[pop][l.Key] {
				out.TrainFewAccepts = append(out.TrainFewAccepts, l.Key)
			}
		}
	}
	if len(groups) > 0 {
		h.Groups = map[string]HoldoutMetrics{}
		for _, g := range groups {
			h.Groups[g] = *pops[g]
		}
	}
	return h, nil
}

func newHoldoutMetrics() HoldoutMetrics {
	return HoldoutMetrics{
		FARAtScore: map[string]Rate{}, TARAtScore: map[string]Rate{},
		FARAtTrainFAR: map[string]Rate{}, TARAtTrainFAR: map[string]Rate{},
	}
}

// upper95 is the one-sided 95 % Clopper–Pearson upper bound on a rate
// observed as x events in n trials: the p at which P(X ≤ x) = 0.05. With no
// event it is about 3/n, so n pairs can confirm a false-accept rate no lower
// than that.
func upper95(x, n int) float64 {
	if n == 0 || x >= n {
		return 1
	}
	if x > 10_000 {
		// Plenty of events: the bound is the 95 % quantile of
		// Beta(x+1, n−x), close to normal; its mean and spread with the
		// Cornish–Fisher skew term are as good as the exact sum, and cheaper.
		a, b := float64(x+1), float64(n-x)
		sd := math.Sqrt(a * b / ((a + b) * (a + b) * (a + b + 1)))
		skew := 2 * (b - a) * math.Sqrt(a+b+1) / ((a + b + 2) * math.Sqrt(a*b))
		const z = 1.6448536269514722
		return math.Min(1, a/(a+b)+sd*(z+(z*z-1)/6*skew))
	}
	lo, hi := float64(x)/float64(n), 1.0
	for range 100 {
		mid := (lo + hi) / 2
		if binomCDF(x, n, mid) > 0.05 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// binomCDF is P(X ≤ x) for X ~ Binomial(n, p), 0 < p < 1.
func binomCDF(x, n int, p float64) float64 {
	lp, lq := math.Log(p), math.Log1p(-p)
	ln1, _ := math.Lgamma(float64(n) + 1)
	var sum float64
	for i := 0; i <= x; i++ {
		li, _ := math.Lgamma(float64(i) + 1)
		lni, _ := math.Lgamma(float64(n-i) + 1)
		sum += math.Exp(ln1 - li - lni + float64(i)*lp + float64(n-i)*lq)
	}
	return sum
}

// writeText prints the held-out section of the text report.
func (h *Holdout) writeText(b *strings.Builder) {
	fmt.Fprintf(b, "\nheld-out (%d-fold by identity, seed %d): each fold's table fitted on the other folds", h.Folds, h.Seed)
	if h.Group != "" {
		fmt.Fprintf(b, " (stricter of the whole set and %s)", h.Group)
	}
	b.WriteString(", measured on the fold's own people; impostors are the cross-identity pairs inside a fold, genuine pairs pairs.tsv's; counts pooled over folds.\n")
	names := make([]string, 0, len(h.Groups))
	for g := range h.Groups {
		names = append(names, g)
	}
	sort.Strings(names)
	rows := func(row func(name string, m HoldoutMetrics)) {
		row("all", h.HoldoutMetrics)
		for _, g := range names {
			row(g, h.Groups[g])
		}
	}

	b.WriteString("\n| population | identities | impostor pairs |")
	for _, s := range ScoreBands {
		fmt.Fprintf(b, " FAR@%s |", s.Key)
	}
	for _, l := range HoldoutFARLevels {
		fmt.Fprintf(b, " FAR@train %s |", l.Key)
	}
	b.WriteString("\n|---|---|---|" + strings.Repeat("---|", len(ScoreBands)+len(HoldoutFARLevels)) + "\n")
	rows(func(name string, m HoldoutMetrics) {
		fmt.Fprintf(b, "| %s | %d | %d |", name, m.Identities, m.ImpostorPairs)
		for _, s := range ScoreBands {
			b.WriteString(farCell(m.FARAtScore[s.Key], s.FAR, ""))
		}
		for _, l := range HoldoutFARLevels {
			b.WriteString(farCell(m.FARAtTrainFAR[l.Key], l.FAR, fewMark(m, l.Key)))
		}
		b.WriteString("\n")
	})

	b.WriteString("\n| population | genuine |")
	for _, s := range ScoreBands {
		fmt.Fprintf(b, " TAR@%s |", s.Key)
	}
	for _, l := range HoldoutFARLevels {
		fmt.Fprintf(b, " TAR@train %s |", l.Key)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(ScoreBands)+len(HoldoutFARLevels)) + "\n")
	rows(func(name string, m HoldoutMetrics) {
		fmt.Fprintf(b, "| %s | %d |", name, m.GenuinePairs)
		for _, s := range ScoreBands {
			b.WriteString(tarCell(m.TARAtScore[s.Key], ""))
		}
		for _, l := range HoldoutFARLevels {
			b.WriteString(tarCell(m.TARAtTrainFAR[l.Key], fewMark(m, l.Key)))
		}
		b.WriteString("\n")
	})

	b.WriteString("\nfold tables, similarity at")
	for _, s := range ScoreBands {
		fmt.Fprintf(b, " %s", s.Key)
	}
	b.WriteString(":")
	for i, f := range h.PerFold {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(b, " %d:", i+1)
		for _, s := range ScoreBands {
			fmt.Fprintf(b, " %.4f", f.BandSimilarity[s.Key])
		}
	}
	b.WriteString("\n")
	b.WriteString("FAR: pooled rate (false accepts; one-sided 95 % upper bound) [fold min–max]. ✓ the bound is within the rate promised (the band's, or the training FAR);\n")
	b.WriteString("? the pooled rate is within it but too few pairs to show it; ✗ the pooled rate exceeds it. The bound treats pairs as independent;\n")
	b.WriteString("they share people, so the true uncertainty is wider. TAR: pooled rate [fold min–max].\n")
	b.WriteString("train 1e-3, 1e-4: at the threshold where the other folds' impostors of the same population are accepted at that rate.\n")
	b.WriteString("‡ some fold's training threshold rests on fewer than 10 false accepts.\n")
}

func fewMark(m HoldoutMetrics, key string) string {
	if slices.Contains(m.TrainFewAccepts, key) {
		return "‡"
	}
	return ""
}

func farCell(r Rate, promise float64, mark string) string {
	if r.Pairs == 0 {
		return " – |"
	}
	verdict := "✓"
	switch {
	case r.Rate > promise*(1+1e-9):
		verdict = "✗"
	case r.Upper95 > promise:
		verdict = "?"
	}
	rate := "0"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%.2e", r.Rate)
	}
	return fmt.Sprintf(" %s%s (%d; ≤%s) %s [%s–%s] |", rate, mark, r.Accepts, sci(r.Upper95), verdict, sci(r.FoldMin), sci(r.FoldMax))
}

func tarCell(r Rate, mark string) string {
	if r.Pairs == 0 {
		return " – |"
	}
	return fmt.Sprintf(" %.1f %%%s [%.1f–%.1f] |", 100*r.Rate, mark, 100*r.FoldMin, 100*r.FoldMax)
}

// sci prints a rate as 1.2e-04, and zero as 0.
func sci(v float64) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%.1e", v)
}
