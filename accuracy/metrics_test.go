package accuracy

import (
	"math"
	"testing"
)

func TestThresholdAtFAR(t *testing.T) {
	// 1000 impostors at 0.000, 0.001, …, 0.999: FAR f allows floor(1000 f)
	// accepts, so the threshold sits just above the (k+1)-th highest.
	imp := make([]float32, 1000)
	for i := range imp {
		imp[i] = float32(i) / 1000
	}
	im := NewImpostors(imp)
	tests := []struct {
		far        float64
		wantAbove  float32 // threshold is the next float32 above this
		measurable bool
		wantFAR    float64
	}{
		{1e-1, 0.899, true, 0.1},
		{1e-2, 0.989, true, 0.01},
		{1e-3, 0.998, true, 0.001},
		{1e-4, 0.999, false, 0},
		{0.0015, 0.998, true, 0.001}, // floor: 1.5 accepts allowed → 1
	}
	for _, tc := range tests {
		got, ok := im.ThresholdAtFAR(tc.far)
		want := float64(math.Nextafter32(tc.wantAbove, 2))
		if got != want || ok != tc.measurable {
			t.Errorf("ThresholdAtFAR(%g) = %v, %v; want %v, %v", tc.far, got, ok, want, tc.measurable)
		}
		if far := im.FARAt(got); math.Abs(far-tc.wantFAR) > 1e-12 {
			t.Errorf("FARAt(threshold for %g) = %g, want %g", tc.far, far, tc.wantFAR)
		}
	}
}

func TestThresholdWithTies(t *testing.T) {
	// Ten impostors tied at the top: no threshold at or below them can keep
	// FAR under 10 %, so the threshold must clear the tie.
	imp := []float32{0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}
	im := NewImpostors(imp)
	th, _ := im.ThresholdAtFAR(0.1)
	if far := im.FARAt(th); far > 0.1 {
		t.Fatalf("FAR at threshold %v = %v, over 0.1", th, far)
	}
}

func TestTARAt(t *testing.T) {
	gen := []float32{0.1, 0.5, 0.5, 0.9}
	tests := []struct {
		t    float64
		want float64
	}{{0, 1}, {0.1, 1}, {0.5, 0.75}, {0.50001, 0.25}, {0.95, 0}}
	for _, tc := range tests {
		if got := TARAt(gen, tc.t); got != tc.want {
			t.Errorf("TARAt(%v) = %v, want %v", tc.t, got, tc.want)
		}
	}
}

func TestAUC(t *testing.T) {
	tests := []struct {
		name     string
		gen, imp []float32
		want     float64
	}{
		{"separated", []float32{0.8, 0.9}, []float32{0.1, 0.2, 0.3}, 1},
		{"reversed", []float32{0.1}, []float32{0.5, 0.6}, 0},
		{"all tied", []float32{0.5, 0.5}, []float32{0.5}, 0.5},
		// (0.3>0.2) (0.3<0.4) (0.5>0.2) (0.5>0.4) (0.4>0.2) (0.4=0.4: half)
		{"mixed", []float32{0.3, 0.5, 0.4}, []float32{0.2, 0.4}, (1 + 0 + 1 + 1 + 1 + 0.5) / 6},
	}
	for _, tc := range tests {
		if got := AUC(tc.gen, tc.imp); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: AUC = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !math.IsNaN(AUC(nil, []float32{1})) {
		t.Error("AUC without genuine pairs should be NaN")
	}
}

func TestROCIsMonotonic(t *testing.T) {
	imp := make([]float32, 10000)
	gen := make([]float32, 500)
	for i := range imp {
		imp[i] = float32(math.Sin(float64(i))) * 0.5
	}
	for i := range gen {
		gen[i] = 0.3 + float32(i)/1000
	}
	pts := ROC(gen, NewImpostors(imp), 10)
	if len(pts) < 40 {
		t.Fatalf("ROC has %d points, want a point every 0.1 decade over 4 decades", len(pts))
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].FAR < pts[i-1].FAR || pts[i].TAR < pts[i-1].TAR {
			t.Fatalf("ROC not monotonic at %d: %+v after %+v", i, pts[i], pts[i-1])
		}
	}
}
