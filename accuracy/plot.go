package accuracy

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WritePlots writes roc.png (TAR against FAR on a log axis, the whole set and
// each group) and scores.png (genuine and impostor similarity histograms,
// log-scaled counts so the impostor tail that sets the thresholds shows).
// A set without genuine pairs has no ROC: roc.png is then not written, and
// the histogram shows the impostors alone.
func WritePlots(dir string, m *Measurement) error {
	if err := writeROC(filepath.Join(dir, "roc.png"), m); err != nil {
		return fmt.Errorf("roc plot: %w", err)
	}
	if err := writeHistograms(filepath.Join(dir, "scores.png"), m); err != nil {
		return fmt.Errorf("score histogram: %w", err)
	}
	return nil
}

func writeROC(path string, m *Measurement) error {
	p := plot.New()
	p.Title.Text = "ROC, " + m.Model
	p.X.Label.Text = "false accept rate (cross-identity pairs of the population)"
	p.Y.Label.Text = "true accept rate (genuine pairs)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = decadeTicks{}
	p.Y.Min, p.Y.Max = 0, 1
	var lines []any
	add := func(name string, s *Scores) {
		pts := ROC(s.Genuine, s.Impostors, 10)
		var xys plotter.XYs
		for _, pt := range pts {
			if pt.FAR > 0 {
				xys = append(xys, plotter.XY{X: pt.FAR, Y: pt.TAR})
			}
		}
		if len(xys) > 1 {
			lines = append(lines, name, xys)
		}
	}
	add("all", m.All)
	for _, g := range sortedKeys(m.Groups) {
		add(g, m.Groups[g])
	}
	if len(lines) == 0 {
		return nil // a log axis over nothing panics in gonum
	}
	if err := plotutil.AddLines(p, lines...); err != nil {
		return err
	}
	p.Legend.Top, p.Legend.Left = false, false
	return p.Save(7*vg.Inch, 5*vg.Inch, path)
}

func writeHistograms(path string, m *Measurement) error {
	const bins = 100
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range [][]float32{m.All.Genuine, m.All.Impostors.desc} {
		for _, v := range s {
			lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
		}
	}
	if !(hi > lo) {
		return fmt.Errorf("no similarities to plot")
	}
	p := plot.New()
	p.Title.Text = "similarity, " + m.Model
	p.X.Label.Text = "cosine similarity"
	p.Y.Label.Text = "share of pairs per bin"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = decadeTicks{}
	for _, h := range []struct {
		name string
		vals []float32
		c    color.Color
	}{
		{"impostor (all cross-identity pairs)", m.All.Impostors.desc, color.RGBA{R: 200, A: 255}},
		{"genuine (pairs.tsv)", m.All.Genuine, color.RGBA{B: 200, G: 120, A: 255}},
	} {
		if len(h.vals) == 0 {
			continue
		}
		hist := &plotter.Histogram{Width: (hi - lo) / bins, LogY: true}
		hist.Bins = make([]plotter.HistogramBin, bins)
		for b := range hist.Bins {
			hist.Bins[b].Min = lo + float64(b)*hist.Width
			hist.Bins[b].Max = hist.Bins[b].Min + hist.Width
		}
		for _, v := range h.vals {
			b := min(int((float64(v)-lo)/hist.Width), bins-1)
			hist.Bins[b].Weight++
		}
		for b := range hist.Bins {
			hist.Bins[b].Weight /= float64(len(h.vals))
		}
		hist.LineStyle.Color = h.c
		hist.LineStyle.Width = vg.Points(1)
		p.Add(hist)
		p.Legend.Add(h.name, hist)
	}
	p.Legend.Top, p.Legend.Left = true, true
	return p.Save(7*vg.Inch, 5*vg.Inch, path)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// decadeTicks labels each power of ten as 1e-k; gonum's LogTicks prints
// 1e-05 as 9.999…e-06.
type decadeTicks struct{}

func (decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		v := math.Pow(10, e)
		if v < lo*0.999 || v > hi*1.001 {
			continue
		}
		out = append(out, plot.Tick{Value: v, Label: fmt.Sprintf("1e%d", int(e))})
	}
	return out
}
