package faceapi

import (
	"encoding/binary"
	"math"
	"os"
	"testing"

	"github.com/portrait-id/portrait/models"
	"github.com/portrait-id/portrait/nn/kernel"
)

func loadNet(tb testing.TB) *Net {
	tb.Helper()
	dir := models.DefaultDir()
	if err := models.Check(dir); err != nil {
		tb.Skipf("models not fetched: %v", err)
	}
	n, err := Load(models.Path(dir, "face-api", "model/face_recognition_model-weights_manifest.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func goldenInput(tb testing.TB) []float32 {
	px, err := os.ReadFile("testdata/golden.in.u8")
	if err != nil {
		tb.Fatal(err)
	}
	mean := [3]float32{122.782, 117.001, 104.298}
	in := make([]float32, len(px))
	for i, v := range px {
		in[i] = (float32(v) - mean[i%3]) / 255
	}
	return in
}

// TestGolden compares the Go network with face-api's forward pass run by
// TensorFlow.js (tools/tfjs-golden/faceapi.mjs) on the same input, on every
// kernel path this CPU has.
func TestGolden(t *testing.T) {
	n := loadNet(t)
	raw, err := os.ReadFile("testdata/golden.out.f32")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, len(raw)/4)
	for i := range want {
		want[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	in := goldenInput(t)
	defer kernel.SetPath(kernel.Current())
	for _, path := range kernel.Available() {
		if err := kernel.SetPath(path); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, Dim)
		if err := n.Descriptor(in, got); err != nil {
			t.Fatal(err)
		}
		var dot, ng, nw, maxErr, rng float64
		for i := range got {
			g, w := float64(got[i]), float64(want[i])
			dot += g * w
			ng += g * g
			nw += w * w
			maxErr = math.Max(maxErr, math.Abs(g-w))
			rng = math.Max(rng, math.Abs(w))
		}
		cos := dot / math.Sqrt(ng*nw)
		if cos < 0.99999 || maxErr > 1e-3*rng {
			t.Errorf("%s: cosine %.7f, max error %.2e (range %.3f) vs TF.js", path, cos, maxErr, rng)
		}
	}
}

func BenchmarkDescriptor(b *testing.B) {
	n := loadNet(b)
	in := goldenInput(b)
	out := make([]float32, Dim)
	b.ReportAllocs()
	for b.Loop() {
		if err := n.Descriptor(in, out); err != nil {
			b.Fatal(err)
		}
	}
}
