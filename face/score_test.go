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
		// Two templates score what the table makes of its own comparison of
		// them (calibration's tests check Compare itself).
		dim := max(len(tb.Center), 2)
		a, b := make([]float32, dim), make([]float32, dim)
		for i := range a {
			a[i], b[i] = float32(i%3), float32(i%5)
		}
		probe, ref := Template{Model: model, Vector: a}, Template{Model: model, Vector: b}
		sim, err := tb.Compare(a, b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Score(probe, ref)
		if err != nil || got != tb.Score(sim) {
			t.Errorf("%s: Score = %v, %v; want %v", model, got, err, tb.Score(sim))
		}
		if _, err := Score(probe, Template{Model: model + "-other", Vector: ref.Vector}); !errors.Is(err, ErrModelMismatch) {
			t.Errorf("%s: Score across models = %v, want ErrModelMismatch", model, err)
		}
	}
	if _, err := Score(Template{Model: "unknown", Vector: []float32{1}}, Template{Model: "unknown", Vector: []float32{1}}); !errors.Is(err, calibration.ErrNoTable) {
		t.Errorf("Score of a model without table = %v, want ErrNoTable", err)
	}
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
