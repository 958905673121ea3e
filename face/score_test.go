package face

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/portrait-id/portrait/face/calibration"
)

func TestSimilarity(t *testing.T) {
	a := Template{Model: "m", Vector: []float32{1, 0, 0}}
	tests := []struct {
		name string
		b    Template
		want float64
		err  error
	}{
		{"same", Template{Model: "m", Vector: []float32{2, 0, 0}}, 1, nil},
		{"orthogonal", Template{Model: "m", Vector: []float32{0, 1, 0}}, 0, nil},
		{"opposite", Template{Model: "m", Vector: []float32{-1, 0, 0}}, -1, nil},
		{"45 degrees", Template{Model: "m", Vector: []float32{1, 1, 0}}, math.Sqrt2 / 2, nil},
		{"other model", Template{Model: "n", Vector: []float32{1, 0, 0}}, 0, ErrModelMismatch},
		{"other length", Template{Model: "m", Vector: []float32{1, 0}}, 0, ErrModelMismatch},
	}
	for _, tc := range tests {
		got, err := Similarity(a, tc.b)
		if !errors.Is(err, tc.err) || math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("%s: Similarity = %v, %v; want %v, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestScoreUsesModelTable(t *testing.T) {
	for _, model := range calibration.Models() {
		tb, err := calibration.Lookup(model)
		if err != nil {
			t.Fatal(err)
		}
		// A probe at the similarity of the 50 band scores 50.
		probe, ref := pairAt(model, tb, tb.Similarity(50))
		got, err := Score(probe, ref)
		if err != nil || math.Abs(got-50) > 0.02 {
			t.Errorf("%s: Score at the 50 band similarity = %v, %v", model, got, err)
		}
		if _, err := Score(probe, Template{Model: model + "-other", Vector: ref.Vector}); !errors.Is(err, ErrModelMismatch) {
			t.Errorf("%s: Score across models = %v, want ErrModelMismatch", model, err)
		}
	}
	if _, err := Score(Template{Model: "unknown", Vector: []float32{1}}, Template{Model: "unknown", Vector: []float32{1}}); !errors.Is(err, calibration.ErrNoTable) {
		t.Errorf("Score of a model without table = %v, want ErrNoTable", err)
	}
}

// pairAt is two unit templates whose similarity under tb is sim. With a
// center c they are c + α·u and c + α·(sim·u + √(1−sim²)·w), for unit u, w
// orthogonal to c and to each other and α = √(1−|c|²), so that both are
// unit vectors whose differences from c have cosine sim.
func pairAt(model string, tb calibration.Table, sim float64) (Template, Template) {
	if tb.Center == nil {
		return Template{Model: model, Vector: []float32{1, 0}},
			Template{Model: model, Vector: []float32{float32(sim), float32(math.Sqrt(1 - sim*sim))}}
	}
	c := tb.Center
	var cc float64
	for _, x := range c {
		cc += x * x
	}
	// u, w: the first two basis vectors with their components along c (and
	// u) removed.
	basis := func(i int, against ...[]float64) []float64 {
		v := make([]float64, len(c))
		v[i] = 1
		for _, a := range against {
			var d, aa float64
			for j := range a {
				d += v[j] * a[j]
				aa += a[j] * a[j]
			}
			for j := range v {
				v[j] -= d / aa * a[j]
			}
		}
		var n float64
		for _, x := range v {
			n += x * x
		}
		for j := range v {
			v[j] /= math.Sqrt(n)
		}
		return v
	}
	u := basis(0, c)
	w := basis(1, c, u)
	alpha := math.Sqrt(1 - cc)
	a, b := make([]float32, len(c)), make([]float32, len(c))
	for j := range c {
		a[j] = float32(c[j] + alpha*u[j])
		b[j] = float32(c[j] + alpha*(sim*u[j]+math.Sqrt(1-sim*sim)*w[j]))
	}
	return Template{Model: model, Vector: a}, Template{Model: model, Vector: b}
}

// TestLookupCalibrationFromCache: a descriptor the build has no table for
// is scored by the table bench calibrate wrote into the models cache; the
// build's own tables win over the cache's; a misnamed file is refused.
func TestLookupCalibrationFromCache(t *testing.T) {
	dir := t.TempDir()
	if _, err := LookupCalibration(dir, "operator-model"); !errors.Is(err, calibration.ErrNoTable) {
		t.Fatalf("no table anywhere: %v, want ErrNoTable", err)
	}
	if err := os.MkdirAll(CalibrationDir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(file, model string, sim40 float64) {
		raw, err := json.Marshal(calibration.Table{Version: 1, Model: model, Points: []calibration.Point{{Similarity: 0.1, Score: 0}, {Similarity: sim40, Score: 40}, {Similarity: 1, Score: 100}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(CalibrationDir(dir), file), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("operator-model.json", "operator-model", 0.5)
	tb, err := LookupCalibration(dir, "operator-model")
	if err != nil || tb.Score(0.5) != 40 {
		t.Errorf("cached table: %+v, %v", tb, err)
	}
	builtin := calibration.Models()[0]
	write(calibration.FileName(builtin), builtin, 0.2)
	want, _ := calibration.Lookup(builtin)
	if tb, err := LookupCalibration(dir, builtin); err != nil || tb.Points[1] != want.Points[1] {
		t.Errorf("the cache's table replaced the build's %s: %+v, %v", builtin, tb, err)
	}
	write("renamed.json", "operator-model", 0.5)
	if _, err := LookupCalibration(dir, "renamed"); err == nil {
		t.Error("table for another model accepted")
	}
}
