package accuracy

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/portrait-id/portrait/face/calibration"
)

// FARLevels are the false-accept rates the report gives TAR at, keyed as in
// the JSON.
var FARLevels = []struct {
	Key string
	FAR float64
}{{"1e-2", 1e-2}, {"1e-3", 1e-3}, {"1e-4", 1e-4}, {"1e-5", 1e-5}}

// ScoreBands are the scores whose FAR and TAR the report measures: the
// calibration points of the spec (40 ↔ 1e-3, 50 ↔ 1e-4, 60 ↔ 1e-5).
var ScoreBands = []struct {
	Key   string
	Score float64
	FAR   float64 // the rate the band promises
}{{"40", 40, 1e-3}, {"50", 50, 1e-4}, {"60", 60, 1e-5}}

// Metrics are the figures for one population.
type Metrics struct {
	Images         int                `json:"images"`
	Failures       int                `json:"failures"`
	FailureReasons map[string]int     `json:"failure_reasons,omitempty"`
	GenuinePairs   int                `json:"genuine_pairs"`
	ImpostorPairs  int                `json:"impostor_pairs"`
	AUC            *float64           `json:"auc,omitempty"` // on pairs.tsv
	TARAtFAR       map[string]float64 `json:"tar_at_far"`
	ThresholdAtFAR map[string]float64 `json:"threshold_at_far"`
	// Unmeasurable lists FAR levels below 1/impostor_pairs: their threshold
	// is just above the highest impostor and the true rate is unknown.
	Unmeasurable []string `json:"far_unmeasurable,omitempty"`
	// FewAccepts lists FAR levels whose threshold rests on fewer than ten
	// false accepts: measured, but one impostor more or less moves it.
	FewAccepts []string           `json:"far_few_accepts,omitempty"`
	FARAtScore map[string]float64 `json:"far_at_score,omitempty"`
	TARAtScore map[string]float64 `json:"tar_at_score,omitempty"`
}

// Report is the accuracy report of one model on one set.
type Report struct {
	Set         string             `json:"set"`
	Model       string             `json:"model"`
	Calibration string             `json:"calibration,omitempty"` // the table the score figures used
	Metrics                        // the whole set
	Groups      map[string]Metrics `json:"groups,omitempty"`
	// Holdout is the k-fold cross-validation by identity, when asked for
	// (CrossValidate): the score bands and thresholds out of sample.
	Holdout *Holdout `json:"holdout,omitempty"`
}

// NewReport summarises a measurement; table may be nil (no score figures).
func NewReport(m *Measurement, table *calibration.Table) Report {
	r := Report{Set: m.Set, Model: m.Model, Metrics: metricsOf(m.All, table)}
	if table != nil {
		r.Calibration = fmt.Sprintf("%s v%d (%s, %s)", table.Model, table.Version, table.Set, table.Date)
	}
	if len(m.Groups) > 0 {
		r.Groups = map[string]Metrics{}
		for g, sc := range m.Groups {
			r.Groups[g] = metricsOf(sc, table)
		}
	}
	return r
}

func metricsOf(s *Scores, table *calibration.Table) Metrics {
	m := Metrics{
		Images: s.Images, Failures: s.Failed(), GenuinePairs: len(s.Genuine), ImpostorPairs: s.Impostors.Len(),
		TARAtFAR: map[string]float64{}, ThresholdAtFAR: map[string]float64{},
	}
	if len(s.Failures) > 0 {
		m.FailureReasons = s.Failures
	}
	if auc := AUC(s.Genuine, s.PairImpostors); !math.IsNaN(auc) {
		m.AUC = &auc
	}
	if s.Impostors.Len() > 0 {
		for _, l := range FARLevels {
			t, ok := s.Impostors.ThresholdAtFAR(l.FAR)
			m.ThresholdAtFAR[l.Key] = t
			m.TARAtFAR[l.Key] = TARAt(s.Genuine, t)
			if !ok {
				m.Unmeasurable = append(m.Unmeasurable, l.Key)
			} else if l.FAR*float64(s.Impostors.Len()) < minAccepts {
				m.FewAccepts = append(m.FewAccepts, l.Key)
			}
		}
	}
	if table != nil && s.Impostors.Len() > 0 {
		m.FARAtScore, m.TARAtScore = map[string]float64{}, map[string]float64{}
		for _, b := range ScoreBands {
			t := table.Similarity(b.Score)
			m.FARAtScore[b.Key] = s.Impostors.FARAt(t)
			m.TARAtScore[b.Key] = TARAt(s.Genuine, t)
		}
	}
	return m
}

// WriteText prints the report as a table, one row per population.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "set %s, model %s\n", r.Set, r.Model)
	if r.Calibration != "" {
		fmt.Fprintf(&b, "calibration %s\n", r.Calibration)
	}
	b.WriteString("\n| population | images | failures | genuine | impostor pairs | AUC | TAR@1e-2 | TAR@1e-3 | TAR@1e-4 | TAR@1e-5 | FAR@40 | FAR@50 | FAR@60 | TAR@40 | TAR@60 |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	row := func(name string, m Metrics) {
		auc := "–"
		if m.AUC != nil {
			auc = fmt.Sprintf("%.4f", *m.AUC)
		}
		fmt.Fprintf(&b, "| %s | %d | %d (%.1f %%) | %d | %d | %s |", name, m.Images, m.Failures, pct(m.Failures, m.Images), m.GenuinePairs, m.ImpostorPairs, auc)
		for _, l := range FARLevels {
			mark := ""
			switch {
			case slices.Contains(m.Unmeasurable, l.Key):
				mark = "*"
			case slices.Contains(m.FewAccepts, l.Key):
				mark = "†"
			}
			if v, ok := m.TARAtFAR[l.Key]; ok {
				fmt.Fprintf(&b, " %.1f %%%s |", 100*v, mark)
			} else {
				b.WriteString(" – |")
			}
		}
		for _, s := range ScoreBands {
			if v, ok := m.FARAtScore[s.Key]; ok {
				fmt.Fprintf(&b, " %.1e |", v)
			} else {
				b.WriteString(" – |")
			}
		}
		for _, k := range []string{"40", "60"} {
			if v, ok := m.TARAtScore[k]; ok {
				fmt.Fprintf(&b, " %.1f %% |", 100*v)
			} else {
				b.WriteString(" – |")
			}
		}
		b.WriteString("\n")
	}
	row("all", r.Metrics)
	names := make([]string, 0, len(r.Groups))
	for g := range r.Groups {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		row(g, r.Groups[g])
	}
	b.WriteString("\n* fewer than 1/FAR impostor pairs: threshold just above the highest impostor, true FAR unknown.\n")
	b.WriteString("† threshold rests on fewer than 10 false accepts: indicative only.\n")
	if len(r.FailureReasons) > 0 {
		keys := make([]string, 0, len(r.FailureReasons))
		for k := range r.FailureReasons {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("failures:")
		for _, k := range keys {
			fmt.Fprintf(&b, " %s %d", k, r.FailureReasons[k])
		}
		b.WriteString("\n")
	}
	if r.Holdout != nil {
		r.Holdout.writeText(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}
