package face

import (
	"context"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/portrait-id/portrait/models"
)

var updateAnalysisGolden = flag.Bool("update-analysis-golden", false, "rewrite testdata/golden/*.json from this build")

// goldenAnalysis is what the pipeline sees in a fixed photo, pinned so that
// a change anywhere below it (decoder, resampling, runtime kernels, model
// post-processing) that moves a face shows up here first.
type goldenAnalysis struct {
	Width, Height int
	Faces         int // detections, the chosen one included
	Box           [4]float64
	Score         float64
	Landmarks     [5]Point // FaceMesh points 1 (nose tip), 33, 263 (eye corners), 61, 291 (mouth corners)
	MeshScore     float64
	Pose          Pose
	Measures      Measures
}

func TestGoldenAnalyses(t *testing.T) {
	p := testPipeline(t)
	dir := models.DefaultDir()
	for _, c := range []struct{ name, pkg, path string }{
		{"face-api-sample1", "face-api", "demo/sample1.jpg"},
		{"face-api-sample3", "face-api", "demo/sample3.jpg"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := os.ReadFile(models.Path(dir, c.pkg, c.path))
			if err != nil {
				t.Fatal(err)
			}
			a, err := p.Analyze(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			if a.Face == nil {
				t.Fatal("no face")
			}
			f := a.Face
			got := goldenAnalysis{
				Width: a.Width, Height: a.Height, Faces: 1 + len(a.Others),
				Box:   [4]float64{f.Min.X, f.Min.Y, f.Max.X, f.Max.Y},
				Score: f.Score, MeshScore: f.MeshScore, Pose: f.Pose, Measures: f.Measures,
			}
			for i, k := range []int{1, 33, 263, 61, 291} {
				got.Landmarks[i] = Point{f.Mesh[k].X, f.Mesh[k].Y}
			}
			path := filepath.Join("testdata", "golden", c.name+".json")
			if *updateAnalysisGolden {
				out, _ := json.MarshalIndent(got, "", "  ")
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -args -update-analysis-golden to create)", err)
			}
			var want goldenAnalysis
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			// Tolerances: a pixel or two in a 1920-pixel photo, a degree,
			// a few percent of the photometric figures.
			if got.Width != want.Width || got.Height != want.Height || got.Faces != want.Faces {
				t.Errorf("%d×%d with %d faces, want %d×%d with %d", got.Width, got.Height, got.Faces, want.Width, want.Height, want.Faces)
			}
			for i := range got.Box {
				check(t, "box", got.Box[i], want.Box[i], 2)
			}
			for i := range got.Landmarks {
				check(t, "landmark x", got.Landmarks[i].X, want.Landmarks[i].X, 2)
				check(t, "landmark y", got.Landmarks[i].Y, want.Landmarks[i].Y, 2)
			}
			check(t, "score", got.Score, want.Score, 0.02)
			check(t, "mesh score", got.MeshScore, want.MeshScore, 0.02)
			check(t, "yaw", got.Pose.Yaw, want.Pose.Yaw, 1)
			check(t, "pitch", got.Pose.Pitch, want.Pose.Pitch, 1)
			check(t, "roll", got.Pose.Roll, want.Pose.Roll, 1)
			check(t, "sharpness", got.Measures.Sharpness, want.Measures.Sharpness, 0.05*want.Measures.Sharpness)
			check(t, "brightness", got.Measures.Brightness, want.Measures.Brightness, 1)
			check(t, "surround", got.Measures.Surround, want.Measures.Surround, 1)
		})
	}
}

func check(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.3f, want %.3f ± %.3f", what, got, want, tol)
	}
}
