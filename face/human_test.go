package face

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestHumanParity checks the detector and mesh against Human's own
// TF.js pipeline (testdata/human/parity.mjs wrote human.json) on the same
// faces-dev photos: with Human's choices (256-pixel detector, one mesh pass)
// the Go pipeline must find the same box, keypoints and landmarks. The
// tolerances are in percent of the face box's side; measured: box ≤ 0.5 %,
// keypoints ≤ 1.2 % (Human resizes without half-pixel centres, a shift of
// about half a pixel), landmarks 0.3 % on average, 2.2 % at worst.
func TestHumanParity(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "human", "human.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want []struct {
		File      string
		Score     float64
		Box       [4]float64
		Keypoints [6][2]float64
		Mesh      [][2]float64
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	testPipeline(t) // skips without models
	p, err := Open(Config{Detector: DetectorBack, Fallback: NoFallback, MeshPasses: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var meshSum float64
	for _, w := range want {
		m := loadRGB(t, filepath.Join(devDir, w.File))
		a := analyze(t, p, m)
		if a.Face == nil {
			t.Errorf("%s: no face; Human found one (score %.2f)", w.File, w.Score)
			continue
		}
		f := a.Face
		size := w.Box[2] - w.Box[0]
		pct := func(d float64) float64 { return 100 * d / size }
		box := [4]float64{f.Min.X, f.Min.Y, f.Max.X, f.Max.Y}
		for i := range box {
			if d := pct(math.Abs(box[i] - w.Box[i])); d > 1 {
				t.Errorf("%s: box[%d] %.1f, Human %.1f (%.1f %%)", w.File, i, box[i], w.Box[i], d)
			}
		}
		for k, q := range f.Keypoints {
			if d := pct(math.Hypot(q.X-w.Keypoints[k][0], q.Y-w.Keypoints[k][1])); d > 2 {
				t.Errorf("%s: keypoint %d off by %.1f %%", w.File, k, d)
			}
		}
		var sum float64
		for i, q := range f.Mesh {
			sum += math.Hypot(q.X-w.Mesh[i][0], q.Y-w.Mesh[i][1])
		}
		mean := pct(sum / float64(len(f.Mesh)))
		meshSum += mean
		if mean > 3 {
			t.Errorf("%s: landmarks off by %.1f %% on average", w.File, mean)
		}
		if math.Abs(f.Score-w.Score) > 0.02 {
			t.Errorf("%s: score %.3f, Human %.3f", w.File, f.Score, w.Score)
		}
	}
	if avg := meshSum / float64(len(want)); avg > 1 {
		t.Errorf("landmarks off by %.2f %% on average over all photos", avg)
	}
}
