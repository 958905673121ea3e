package console

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// bar is one bar of a chart: a total and the part of it charged (or any
// highlighted part), drawn over it; Note, when set, is shown on hover.
type bar struct {
	Label string
	Note  string
	Total int64
	Part  int64
}

// columnChart draws bars as vertical columns (one per day), as inline SVG
// that scales to its container: no script, no external asset.
func columnChart(title string, bars []bar) template.HTML {
	const w, h, top, bottom, left = 700.0, 220.0, 16.0, 28.0, 40.0
	peak := scale(bars)
	var b strings.Builder
	plotH := h - top - bottom
	frame(&b, title, w, h, top, plotH, left, peak)
	if n := len(bars); n > 0 {
		slot := (w - left) / float64(n)
		bw := math.Max(slot*0.7, 1)
		for i, br := range bars {
			x := left + slot*float64(i) + (slot-bw)/2
			th := plotH * float64(br.Total) / float64(peak)
			ph := plotH * float64(br.Part) / float64(peak)
			fmt.Fprintf(&b, `<rect class="total" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d calls, %d charged</title></rect>`,
				x, top+plotH-th, bw, th, esc(br.Label), br.Total, br.Part)
			fmt.Fprintf(&b, `<rect class="part" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, x, top+plotH-ph, bw, ph)
			if n <= 16 || i%2 == 0 {
				fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%g" text-anchor="middle">%s</text>`, x+bw/2, h-10, esc(br.Label))
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// frame opens a column chart's SVG with its horizontal grid lines at 0,
// half and the top value peak.
func frame(b *strings.Builder, title string, w, h, top, plotH, left float64, peak int64) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s"><title>%s</title>`, w, h, esc(title), esc(title))
	for _, f := range []float64{0, 0.5, 1} {
		y := top + plotH*(1-f)
		fmt.Fprintf(b, `<line class="grid" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/><text class="axis" x="%g" y="%.1f" text-anchor="end">%s</text>`,
			left, y, w, y, left-4, y+4, short(float64(peak)*f))
	}
}

// rowChart draws bars as horizontal rows (merchants, codes), labelled.
func rowChart(title string, bars []bar) template.HTML {
	const w, rowH, left, right = 440.0, 22.0, 160.0, 44.0
	h := rowH*float64(len(bars)) + 8
	peak := scale(bars)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s"><title>%s</title>`, w, h, esc(title), esc(title))
	for i, br := range bars {
		y := 4 + rowH*float64(i)
		tw := (w - left - right) * float64(br.Total) / float64(peak)
		pw := (w - left - right) * float64(br.Part) / float64(peak)
		fmt.Fprintf(&b, `<text class="label" x="%g" y="%.1f" text-anchor="end">%s</text>`, left-6, y+rowH*0.65, esc(trim(br.Label, 20)))
		fmt.Fprintf(&b, `<rect class="total" x="%g" y="%.1f" width="%.1f" height="%.1f"><title>%s %s: %d calls, %d charged</title></rect>`,
			left, y+2, tw, rowH-6, esc(br.Label), esc(br.Note), br.Total, br.Part)
		fmt.Fprintf(&b, `<rect class="part" x="%g" y="%.1f" width="%.1f" height="%.1f"/>`, left, y+2, pw, rowH-6)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f">%d</text>`, left+tw+4, y+rowH*0.65, br.Total)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// scale is the value at the top of a chart: its largest bar, at least 1.
func scale(bars []bar) int64 {
	var m int64 = 1
	for _, b := range bars {
		m = max(m, b.Total)
	}
	return m
}

func short(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func trim(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// series is one code's calls per day, for a stacked chart.
type series struct {
	Name   string
	Values []int64
	Total  int64
}

// palette colours stacked series; the last one is "other".
var palette = []string{"#0b3d91", "#d97706", "#b42318", "#067647", "#7a5af8", "#98a2b3"}

// stackedChart draws one column per day, stacked by series (codes), with a
// legend giving each series' total.
func stackedChart(title string, labels []string, ss []series) template.HTML {
	const w, h, top, bottom, left, legendH = 560.0, 250.0, 16.0, 58.0, 40.0, 22.0
	totals := make([]bar, len(labels))
	for _, s := range ss {
		for i, v := range s.Values {
			totals[i].Total += v
		}
	}
	peak := scale(totals)
	var b strings.Builder
	plotH := h - top - bottom
	frame(&b, title, w, h, top, plotH, left, peak)
	if n := len(labels); n > 0 {
		slot := (w - left) / float64(n)
		bw := math.Max(slot*0.7, 1)
		base := make([]float64, n)
		for k, s := range ss {
			for i, v := range s.Values {
				if v == 0 {
					continue
				}
				hgt := plotH * float64(v) / float64(peak)
				base[i] += hgt
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %d</title></rect>`,
					left+slot*float64(i)+(slot-bw)/2, top+plotH-base[i], bw, hgt, palette[min(k, len(palette)-1)], esc(labels[i]), esc(s.Name), v)
			}
		}
		for i, l := range labels {
			if n <= 16 || i%2 == 0 {
				fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%g" text-anchor="middle">%s</text>`, left+slot*float64(i)+slot/2, top+plotH+14, esc(l))
			}
		}
	}
	x := left
	for k, s := range ss {
		fmt.Fprintf(&b, `<rect x="%.1f" y="%g" width="10" height="10" fill="%s"/><text class="label" x="%.1f" y="%g">%s: %d</text>`,
			x, h-legendH, palette[min(k, len(palette)-1)], x+14, h-legendH+9, esc(s.Name), s.Total)
		x += 14 + 7.5*float64(len(s.Name)+len(fmt.Sprint(s.Total))+3)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
