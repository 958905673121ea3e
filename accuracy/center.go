package accuracy

import (
	"fmt"
	"math"
	"time"

	"github.com/portrait-id/portrait/face/calibration"
)

// Center is the mean of the L2-normalised templates of group's photos in s,
// the calibration.Table.Center a table fitted for group compares templates
// around; nil when group is "" or has no template.
func Center(s *Set, e *Embeddings, group string) []float64 {
	if group == "" {
		return nil
	}
	var sum []float64
	n := 0
	for i, v := range e.Vectors {
		if v == nil || s.ImageGroup(i) != group {
			continue
		}
		if sum == nil {
			sum = make([]float64, len(v))
		}
		var vv float64
		for _, x := range v {
			vv += float64(x) * float64(x)
		}
		if vv == 0 || len(v) != len(sum) {
			continue
		}
		k := 1 / math.Sqrt(vv)
		for d, x := range v {
			sum[d] += float64(x) * k
		}
		n++
	}
	if n == 0 {
		return nil
	}
	for d := range sum {
		sum[d] /= float64(n)
	}
	return sum
}

// Compared is e as table t compares its templates (calibration.Table.Centered),
// so that plain cosines of the result are t's similarities.
func (e *Embeddings) Compared(t calibration.Table) (*Embeddings, error) {
	out := &Embeddings{Model: e.Model, Vectors: make([][]float32, len(e.Vectors)), Failure: e.Failure}
	for i, v := range e.Vectors {
		if v == nil {
			continue
		}
		c, err := t.Centered(v)
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
		out.Vectors[i] = c
	}
	return out, nil
}

// Calibrate fits s's table as `portrait bench calibrate` does: centred on
// group's mean template (Center), measured, fitted (Fit). It returns the
// measurement it was fitted on, in the table's similarities.
func Calibrate(s *Set, e *Embeddings, group, name string, now time.Time) (calibration.Table, *Measurement, error) {
	center := Center(s, e, group)
	ce, err := e.Compared(calibration.Table{Center: center})
	if err != nil {
		return calibration.Table{}, nil, fmt.Errorf("calibrate: %w", err)
	}
	m, err := Measure(s, ce)
	if err != nil {
		return calibration.Table{}, nil, err
	}
	t, err := Fit(m, group, name, now)
	if err != nil {
		return calibration.Table{}, nil, err
	}
	t.Center = center
	return t, m, nil
}
