package face

import (
	"encoding/binary"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/portrait-id/portrait/models"
)

var updateEmbedGolden = flag.Bool("update-embed-golden", false, "rewrite testdata/embed/*.f32 from this build")

// sample1Face is the largest face of face-api's demo/sample1.jpg, as the
// pipeline's FaceMesh located it (Landmarks5FromMesh), fixed here so the
// test covers alignment and embedding only.
var sample1Face = Landmarks5{
	{1568.911, 268.339}, {1629.389, 325.388}, {1545.189, 338.629}, {1503.532, 343.345}, {1555.390, 394.874},
}

func openTestEmbedder(t *testing.T, model string) (*Embedder, image.Image) {
	t.Helper()
	dir := models.DefaultDir()
	if err := models.Check(dir); err != nil {
		t.Skipf("models not fetched: %v", err)
	}
	e, err := OpenEmbedder(dir, EmbedderConfig{Model: model})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	fh, err := os.Open(models.Path(dir, "face-api", "demo/sample1.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := jpeg.Decode(fh)
	if err != nil {
		t.Fatal(err)
	}
	return e, img
}

func cosine(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return d / math.Sqrt(na*nb)
}

// TestEmbedderGolden pins each model's embedding of a fixed face: a change in
// alignment, crop or input normalisation shows up here even when the network
// itself still matches TF.js.
func TestEmbedderGolden(t *testing.T) {
	for _, model := range []string{EmbedFaceAPI, EmbedFaceAPI + FlipSuffix, EmbedFaceRes, EmbedFaceAPI + "+" + EmbedFaceRes, EmbedFRFeature, EmbedFRFeature + FlipSuffix} {
		t.Run(model, func(t *testing.T) {
			e, img := openTestEmbedder(t, model)
			got, err := e.Embed(img, sample1Face)
			if err != nil {
				t.Fatal(err)
			}
			if got.Model != model {
				t.Errorf("template model %q, want %q", got.Model, model)
			}
			if n := cosine(got.Vector, got.Vector); math.Abs(n-1) > 1e-5 {
				t.Errorf("vector not normalised")
			}
			path := filepath.Join("testdata", "embed", model+".f32")
			if *updateEmbedGolden {
				buf := make([]byte, 4*len(got.Vector))
				for i, v := range got.Vector {
					binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
				}
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update-embed-golden to create)", err)
			}
			want := make([]float32, len(raw)/4)
			for i := range want {
				want[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
			if len(want) != len(got.Vector) {
				t.Fatalf("golden has %d values, embedding %d", len(want), len(got.Vector))
			}
			if c := cosine(got.Vector, want); c < 0.999 {
				t.Errorf("cosine to golden %.5f, want ≥ 0.999", c)
			}
		})
	}
}

// TestEmbedderMirror: the flip-averaged embedding of the mirrored photo (its
// landmarks mirrored and swapped left for right) is the same face, so it
// must be nearly the original's; and without flip averaging it is still the
// same person.
func TestEmbedderMirror(t *testing.T) {
	for _, c := range []struct {
		model string
		min   float64
	}{{EmbedFaceAPI + FlipSuffix, 0.99}, {EmbedFaceAPI, 0.95}, {EmbedFRFeature + FlipSuffix, 0.99}, {EmbedFRFeature, 0.8}} {
		e, img := openTestEmbedder(t, c.model)
		b := img.Bounds()
		mir := image.NewRGBA(b)
		draw.Draw(mir, b, img, b.Min, draw.Src)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := 0; x < b.Dx()/2; x++ {
				l, r := mir.RGBAAt(b.Min.X+x, y), mir.RGBAAt(b.Max.X-1-x, y)
				mir.SetRGBA(b.Min.X+x, y, r)
				mir.SetRGBA(b.Max.X-1-x, y, l)
			}
		}
		w := float64(b.Dx())
		m := func(p Point) Point { return Point{w - p.X, p.Y} }
		lm := sample1Face
		mlm := Landmarks5{m(lm[1]), m(lm[0]), m(lm[2]), m(lm[4]), m(lm[3])}
		a, err := e.Embed(img, lm)
		if err != nil {
			t.Fatal(err)
		}
		bb, err := e.Embed(mir, mlm)
		if err != nil {
			t.Fatal(err)
		}
		if cs := cosine(a.Vector, bb.Vector); cs < c.min {
			t.Errorf("%s: cosine of a face and its mirror %.4f, want ≥ %.2f", c.model, cs, c.min)
		}
	}
}

func TestAlignTransformRecoversSimilarity(t *testing.T) {
	tests := []struct {
		name         string
		scale, angle float64
		dx, dy       float64
	}{
		{"identity", 1, 0, 0, 0},
		{"scaled and moved", 2.5, 0, 300, 120},
		{"rolled 20°", 1.7, 20 * math.Pi / 180, 50, 80},
		{"upside down", 0.8, math.Pi, 400, 400},
	}
	for _, tc := range tests {
		cos, sin := tc.scale*math.Cos(tc.angle), tc.scale*math.Sin(tc.angle)
		var lm Landmarks5
		for i, p := range arcFaceTemplate {
			x, y := p.X+0.5, p.Y+0.5
			lm[i] = Point{cos*x - sin*y + tc.dx, sin*x + cos*y + tc.dy}
		}
		a, err := alignTransform(arcFaceTemplate, lm)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range arcFaceTemplate {
			q := a.apply(p.X+0.5, p.Y+0.5)
			if math.Hypot(q.X-lm[i].X, q.Y-lm[i].Y) > 1e-9 {
				t.Errorf("%s: template point %d maps to %v, want %v", tc.name, i, q, lm[i])
			}
		}
	}
	if _, err := alignTransform(arcFaceTemplate, Landmarks5{}); err == nil {
		t.Error("degenerate landmarks aligned without error")
	}
}

func TestOpenEmbedderRejectsUnknownModel(t *testing.T) {
	if _, err := OpenEmbedder(t.TempDir(), EmbedderConfig{Model: "mobilefacenet"}); err == nil {
		t.Error("unknown model opened")
	}
}

// TestEmbedderConcurrent: one Embedder serves many goroutines (pooled
// scratch), each getting the answer a lone call gets.
func TestEmbedderConcurrent(t *testing.T) {
	e, img := openTestEmbedder(t, DefaultEmbedding)
	p := newPyramid(toRGB(img, 1))
	want, err := e.embed(p, sample1Face)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for range 3 {
				got, err := e.embed(p, sample1Face)
				if err == nil && cosine(got.Vector, want.Vector) < 0.99999 {
					err = fmt.Errorf("concurrent embedding differs: cosine %v", cosine(got.Vector, want.Vector))
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkEmbed times alignment plus embedding of one face per model.
func BenchmarkEmbed(b *testing.B) {
	for _, model := range []string{EmbedFaceAPI, EmbedFaceAPI + FlipSuffix, EmbedFaceRes, EmbedFaceAPI + "+" + EmbedFaceRes, EmbedFRFeature, EmbedFRFeature + FlipSuffix} {
		b.Run(model, func(b *testing.B) {
			t := &testing.T{}
			e, img := openTestEmbedder(t, model)
			p := newPyramid(toRGB(img, 1))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.embed(p, sample1Face); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
