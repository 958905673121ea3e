package nn

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/portrait-id/portrait/models"
	"github.com/portrait-id/portrait/nn/kernel"
)

// onnxModels are the ONNX models the runtime must run, by golden name: the
// pinned package's, and one an operator brings (../shared/models).
var onnxModels = []struct {
	name string
	path func(t testing.TB) string
}{
	{"fr_feature", faceplugin("fr_feature")},
	{"fr_liveness", faceplugin("fr_liveness")},
	{"fr_detect", faceplugin("fr_detect")},
	{"fr_landmark", faceplugin("fr_landmark")},
	{"fr_pose", faceplugin("fr_pose")},
	{"fr_eye", faceplugin("fr_eye")},
	{"foamliu-mobilefacenet", sharedModel("foamliu-mobilefacenet.onnx")},
}

func faceplugin(stem string) func(t testing.TB) string {
	return func(t testing.TB) string {
		return models.Path(modelsDir(t), "faceplugin", "model/"+stem+".onnx")
	}
}

// sharedModel locates a model of ../shared/models, or skips the test.
func sharedModel(file string) func(t testing.TB) string {
	return func(t testing.TB) string {
		p := filepath.Join("..", "..", "shared", "models", file)
		if _, err := os.Stat(p); err != nil {
			t.Skipf("../shared/models absent: %v", err)
		}
		return p
	}
}

// onnxGolden is the metadata tools/onnx-golden writes beside each model's
// input pixels and onnxruntime's outputs.
type onnxGolden struct {
	Input struct {
		Name   string    `json:"name"`
		Shape  []int     `json:"shape"` // NCHW, as the model declares it
		Scale  []float64 `json:"scale"` // per channel, or one for all
		Offset []float64 `json:"offset"`
	} `json:"input"`
	Outputs []struct {
		Name  string `json:"name"`
		Shape []int  `json:"shape"`
	} `json:"outputs"`
}

// readONNXGolden returns the golden's metadata, its input as the runtime
// takes it (NHWC) and the reference outputs in order.
func readONNXGolden(t testing.TB, name string) (onnxGolden, []float32, [][]float32) {
	t.Helper()
	base := filepath.Join("testdata", "onnx", name)
	raw, err := os.ReadFile(base + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var g onnxGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	px, err := os.ReadFile(base + ".in.u8")
	if err != nil {
		t.Fatal(err)
	}
	c := g.Input.Shape[1]
	in := make([]float32, len(px))
	for i, v := range px {
		k := i % c
		// The same float32 roundings as the script: mul, then add.
		p := float32(v) * float32(g.Input.Scale[k%len(g.Input.Scale)])
		in[i] = p + float32(g.Input.Offset[k%len(g.Input.Offset)])
	}
	outs, err := os.ReadFile(base + ".out.f32")
	if err != nil {
		t.Fatal(err)
	}
	var want [][]float32
	for _, o := range g.Outputs {
		v := make([]float32, numel(o.Shape))
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(outs[4*i:]))
		}
		outs = outs[4*len(v):]
		want = append(want, v)
	}
	return g, in, want
}

func TestONNXGolden(t *testing.T) {
	for _, tm := range onnxModels {
		t.Run(tm.name, func(t *testing.T) {
			g, input, want := readONNXGolden(t, tm.name)
			m, err := LoadONNX(tm.path(t))
			if err != nil {
				t.Fatal(err)
			}
			s := g.Input.Shape
			nhwc := []int{s[0], s[2], s[3], s[1]}
			if len(m.Inputs()) != 1 || m.Inputs()[0].Name != g.Input.Name || !slices.Equal(m.Inputs()[0].Shape, nhwc) {
				t.Fatalf("inputs %v, golden has %s%v (NCHW)", m.Inputs(), g.Input.Name, s)
			}
			if len(m.Outputs()) != len(g.Outputs) {
				t.Fatalf("%d outputs, golden has %d", len(m.Outputs()), len(g.Outputs))
			}
			for i, o := range m.Outputs() {
				if o.Name != g.Outputs[i].Name || !slices.Equal(o.Shape, g.Outputs[i].Shape) {
					t.Fatalf("output %d is %s%v, golden has %s%v", i, o.Name, o.Shape, g.Outputs[i].Name, g.Outputs[i].Shape)
				}
			}
			forEachPath(t, func(t *testing.T) {
				s := m.NewSession()
				copy(s.Input(0), input)
				s.Run()
				for i, o := range m.Outputs() {
					cos, maxErr, tol, ok := compare(s.Output(i), want[i])
					t.Logf("%s%v: cos %.8f, max err %.3g (tol %.3g)", o.Name, o.Shape, cos, maxErr, tol)
					if !ok {
						t.Errorf("%s differs from onnxruntime", o.Name)
					}
				}
				// Allocation is path-independent: check it where Run is fast.
				if kernel.Current() != kernel.Available()[0] {
					return
				}
				if n := allocs(s.Run); n != 0 {
					t.Errorf("Run: %v allocations", n)
				}
			})
		})
	}
}
