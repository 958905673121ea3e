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

// golden is the metadata tools/tfjs-golden writes beside each model's input
// and reference outputs.
type golden struct {
	Model string `json:"model"`
	Input struct {
		Name   string  `json:"name"`
		Shape  []int   `json:"shape"`
		Scale  float64 `json:"scale"`
		Offset float64 `json:"offset"`
	} `json:"input"`
	Outputs []struct {
		Name  string `json:"name"`
		Shape []int  `json:"shape"`
	} `json:"outputs"`
}

type goldenCase struct {
	meta  golden
	input []float32
	want  map[string][]float32
}

func readGolden(t testing.TB, name string) goldenCase {
	t.Helper()
	base := filepath.Join("testdata", "golden", name)
	raw, err := os.ReadFile(base + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var gc goldenCase
	if err := json.Unmarshal(raw, &gc.meta); err != nil {
		t.Fatal(err)
	}
	px, err := os.ReadFile(base + ".in.u8")
	if err != nil {
		t.Fatal(err)
	}
	// The same float32 roundings as tfjs: mul, then add.
	scale, off := float32(gc.meta.Input.Scale), float32(gc.meta.Input.Offset)
	gc.input = make([]float32, len(px))
	for i, v := range px {
		p := float32(v) * scale
		gc.input[i] = p + off
	}
	outs, err := os.ReadFile(base + ".out.f32")
	if err != nil {
		t.Fatal(err)
	}
	gc.want = map[string][]float32{}
	for _, o := range gc.meta.Outputs {
		n := numel(o.Shape)
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(outs[4*i:]))
		}
		outs = outs[4*n:]
		gc.want[o.Name] = v
	}
	return gc
}

// compare checks one output against tfjs: cosine similarity ≥ 0.99999 and
// max abs error ≤ 1e-3 of the reference's range. An output of one value has
// no range; its own magnitude (at least 1) stands in.
func compare(got, want []float32) (cos, maxErr, tol float64, ok bool) {
	var dot, ng, nw float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		dot += g * w
		ng += g * g
		nw += w * w
		maxErr = max(maxErr, math.Abs(g-w))
		lo, hi = min(lo, w), max(hi, w)
	}
	cos = 1.0
	if ng > 0 || nw > 0 {
		cos = dot / math.Sqrt(ng*nw)
	}
	rng := hi - lo
	if len(want) == 1 {
		rng = max(math.Abs(hi), 1)
	}
	tol = 1e-3 * rng
	return cos, maxErr, tol, cos >= 0.99999 && maxErr <= tol
}

// forEachPath runs f with the kernels forced to each path this CPU has.
func forEachPath(t *testing.T, f func(t *testing.T)) {
	defer kernel.SetPath(kernel.Current())
	for _, p := range kernel.Available() {
		if err := kernel.SetPath(p); err != nil {
			t.Fatal(err)
		}
		t.Run(string(p), f)
	}
}

func TestGolden(t *testing.T) {
	dir := modelsDir(t)
	for _, tm := range testModels {
		t.Run(tm.name, func(t *testing.T) {
			gc := readGolden(t, tm.name)
			m, err := LoadGraphModel(models.Path(dir, tm.pkg, tm.rel))
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Inputs()) != 1 || m.Inputs()[0].Name != gc.meta.Input.Name || !slices.Equal(m.Inputs()[0].Shape, gc.meta.Input.Shape) {
				t.Fatalf("inputs %v, golden has %s%v", m.Inputs(), gc.meta.Input.Name, gc.meta.Input.Shape)
			}
			if len(m.Outputs()) != len(gc.want) {
				t.Fatalf("%d outputs, golden has %d", len(m.Outputs()), len(gc.want))
			}
			forEachPath(t, func(t *testing.T) {
				s := m.NewSession()
				copy(s.Input(0), gc.input)
				s.Run()
				for i, o := range m.Outputs() {
					want, found := gc.want[o.Name]
					if !found {
						t.Fatalf("output %s not in golden", o.Name)
					}
					cos, maxErr, tol, ok := compare(s.Output(i), want)
					t.Logf("%s%v: cos %.8f, max err %.3g (tol %.3g)", o.Name, o.Shape, cos, maxErr, tol)
					if !ok {
						t.Errorf("%s differs from tfjs", o.Name)
					}
				}
			})
		})
	}
}
