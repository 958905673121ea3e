package nn

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portrait-id/portrait/nn/kernel"
)

func randTensor(r *rand.Rand, shape ...int) *Tensor {
	t := NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = r.Float32()*2 - 1
	}
	return t
}

// tfPads is TensorFlow's SAME rule, written independently of Window.resolve.
func tfPads(in, k, s, d int) (out, before int) {
	out = (in + s - 1) / s
	total := max((out-1)*s+(k-1)*d+1-in, 0)
	return out, total / 2
}

// naiveConv is the definition: out[y][x][o] = Σ in[y·s-pad+ky·d][…][c]·f[ky][kx][c][o]
// (depthwise: o = c·M+m reads only channel c).
func naiveConv(in, f *Tensor, sh, sw, dh, dw, top, left, oh, ow int, depthwise bool) []float32 {
	h, w, c := in.Shape[1], in.Shape[2], in.Shape[3]
	kh, kw, fo := f.Shape[0], f.Shape[1], f.Shape[3]
	cout := fo
	if depthwise {
		cout = c * fo
	}
	out := make([]float32, oh*ow*cout)
	for y := range oh {
		for x := range ow {
			for o := range cout {
				var acc float64
				for ky := range kh {
					for kx := range kw {
						iy, ix := y*sh-top+ky*dh, x*sw-left+kx*dw
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							continue
						}
						if depthwise {
							ci, m := o/fo, o%fo
							acc += float64(in.Data[(iy*w+ix)*c+ci]) * float64(f.Data[((ky*kw+kx)*c+ci)*fo+m])
							continue
						}
						for ci := range c {
							acc += float64(in.Data[(iy*w+ix)*c+ci]) * float64(f.Data[((ky*kw+kx)*c+ci)*fo+o])
						}
					}
				}
				out[(y*ow+x)*cout+o] = float32(acc)
			}
		}
	}
	return out
}

func closeTo(t *testing.T, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > tol {
			t.Fatalf("[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

var convCases = []struct {
	name                   string
	h, w, c, kh, kw, m     int // m: output channels (depthwise: multiplier)
	sh, sw, dh, dw         int
	pad                    Padding
	top, bottom, left, rgt int
}{
	{"3x3 same s1 odd", 7, 5, 3, 3, 3, 4, 1, 1, 1, 1, PadSame, 0, 0, 0, 0},
	{"3x3 same s2", 9, 9, 5, 3, 3, 6, 2, 2, 1, 1, PadSame, 0, 0, 0, 0},
	{"3x3 same s2 even", 8, 10, 3, 3, 3, 17, 2, 2, 1, 1, PadSame, 0, 0, 0, 0},
	{"5x5 valid s2", 11, 13, 3, 5, 5, 7, 2, 2, 1, 1, PadValid, 0, 0, 0, 0},
	{"1x1 direct", 6, 7, 17, 1, 1, 19, 1, 1, 1, 1, PadValid, 0, 0, 0, 0},
	{"1x1 s2", 6, 7, 9, 1, 1, 5, 2, 2, 1, 1, PadSame, 0, 0, 0, 0},
	{"explicit", 6, 5, 2, 3, 2, 3, 1, 2, 1, 1, PadExplicit, 1, 2, 0, 3},
	{"dilated same", 9, 8, 3, 3, 3, 2, 1, 1, 2, 2, PadSame, 0, 0, 0, 0},
	{"4x4 same s2 odd", 7, 7, 1, 4, 4, 33, 2, 2, 1, 1, PadSame, 0, 0, 0, 0},
	// Rows wide enough for convOp.runInPlace.
	{"5x5 same s2 wide", 9, 70, 3, 5, 5, 24, 2, 2, 1, 1, PadSame, 0, 0, 0, 0},
	{"3x3 dilated rows wide", 8, 34, 2, 3, 3, 5, 1, 1, 2, 1, PadSame, 0, 0, 0, 0},
}

// expectGeometry derives output size and leading pads from TF's rules.
func expectGeometry(h, w, kh, kw, sh, sw, dh, dw int, pad Padding, top, bottom, left, right int) (oh, ow, t, l int) {
	switch pad {
	case PadSame:
		oh, t = tfPads(h, kh, sh, dh)
		ow, l = tfPads(w, kw, sw, dw)
	case PadValid:
		oh = (h-(kh-1)*dh-1)/sh + 1
		ow = (w-(kw-1)*dw-1)/sw + 1
	default:
		oh = (h+top+bottom-(kh-1)*dh-1)/sh + 1
		ow = (w+left+right-(kw-1)*dw-1)/sw + 1
		t, l = top, left
	}
	return
}

func TestConv2D(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		for _, tc := range convCases {
			t.Run(tc.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(1, 2))
				in := randTensor(r, 1, tc.h, tc.w, tc.c)
				f := randTensor(r, tc.kh, tc.kw, tc.c, tc.m)
				bias := randTensor(r, tc.m).Data
				win := Window{StrideH: tc.sh, StrideW: tc.sw, DilH: tc.dh, DilW: tc.dw, Padding: tc.pad, Top: tc.top, Bottom: tc.bottom, Left: tc.left, Right: tc.rgt}
				conv, err := NewConv2D(f, win, Epilogue{Bias: bias, Act: ActRelu6})
				if err != nil {
					t.Fatal(err)
				}
				oh, ow, top, left := expectGeometry(tc.h, tc.w, tc.kh, tc.kw, tc.sh, tc.sw, tc.dh, tc.dw, tc.pad, tc.top, tc.bottom, tc.left, tc.rgt)
				shape, err := conv.OutShape(in.Shape)
				if err != nil || !slices.Equal(shape, []int{1, oh, ow, tc.m}) {
					t.Fatalf("OutShape = %v, %v; want [1 %d %d %d]", shape, err, oh, ow, tc.m)
				}
				out := NewTensor(shape...)
				if err := conv.Forward(out, in, nil); err != nil {
					t.Fatal(err)
				}
				want := naiveConv(in, f, tc.sh, tc.sw, tc.dh, tc.dw, top, left, oh, ow, false)
				for i := range want {
					want[i] = min(max(want[i]+bias[i%tc.m], 0), 6)
				}
				closeTo(t, out.Data, want, 1e-4)
			})
		}
	})
}

func TestDepthwiseConv2D(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		for _, tc := range convCases {
			mult := tc.m%2 + 1 // exercise multipliers 1 and 2
			t.Run(tc.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(3, 4))
				in := randTensor(r, 1, tc.h, tc.w, tc.c)
				f := randTensor(r, tc.kh, tc.kw, tc.c, mult)
				win := Window{StrideH: tc.sh, StrideW: tc.sw, DilH: tc.dh, DilW: tc.dw, Padding: tc.pad, Top: tc.top, Bottom: tc.bottom, Left: tc.left, Right: tc.rgt}
				dw, err := NewDepthwiseConv2D(f, win, Epilogue{})
				if err != nil {
					t.Fatal(err)
				}
				oh, ow, top, left := expectGeometry(tc.h, tc.w, tc.kh, tc.kw, tc.sh, tc.sw, tc.dh, tc.dw, tc.pad, tc.top, tc.bottom, tc.left, tc.rgt)
				out := NewTensor(1, oh, ow, tc.c*mult)
				if err := dw.Forward(out, in, nil); err != nil {
					t.Fatal(err)
				}
				closeTo(t, out.Data, naiveConv(in, f, tc.sh, tc.sw, tc.dh, tc.dw, top, left, oh, ow, true), 1e-4)
			})
		}
	})
}

func TestDense(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, mkn := range [][3]int{{1, 7, 3}, {3, 33, 17}, {5, 1, 40}} {
			m, k, n := mkn[0], mkn[1], mkn[2]
			a, w := randTensor(r, m, k), randTensor(r, k, n)
			alpha := randTensor(r, n).Data
			d, err := NewDense(w, Epilogue{Act: ActPrelu, Alpha: alpha})
			if err != nil {
				t.Fatal(err)
			}
			out := NewTensor(m, n)
			if err := d.Forward(out, a); err != nil {
				t.Fatal(err)
			}
			want := make([]float32, m*n)
			for i := range m {
				for j := range n {
					var acc float32
					for kk := range k {
						acc += a.Data[i*k+kk] * w.Data[kk*n+j]
					}
					if acc < 0 {
						acc *= alpha[j]
					}
					want[i*n+j] = acc
				}
			}
			closeTo(t, out.Data, want, 1e-4)
		}
	})
}

func seq(shape ...int) *Tensor {
	t := NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = float32(i + 1)
	}
	return t
}

func TestPool(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   *Tensor
		win  Window
		avg  bool
		want []float32
	}{
		{"max 2x2 valid s2", seq(1, 4, 4, 1), Window{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, false, []float32{6, 8, 14, 16}},
		{"max 2x2 same s2 odd", seq(1, 3, 3, 1), Window{KH: 2, KW: 2, StrideH: 2, StrideW: 2, Padding: PadSame}, false, []float32{5, 6, 8, 9}},
		{"avg 3x3 same s1 ignores pads", seq(1, 3, 3, 1), Window{KH: 3, KW: 3, Padding: PadSame}, true, []float32{3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7}},
		{"max 2 channels", seq(1, 2, 2, 2), Window{KH: 2, KW: 2}, false, []float32{7, 8}},
		{"max of negatives with pads", &Tensor{Shape: []int{1, 1, 2, 1}, Data: []float32{-3, -2}}, Window{KH: 1, KW: 3, Padding: PadSame}, false, []float32{-2, -2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shape, err := PoolShape(tc.in.Shape, tc.win)
			if err != nil {
				t.Fatal(err)
			}
			out := NewTensor(shape...)
			f := MaxPool
			if tc.avg {
				f = AvgPool
			}
			if err := f(out, tc.in, tc.win); err != nil {
				t.Fatal(err)
			}
			closeTo(t, out.Data, tc.want, 1e-6)
		})
	}
}

func TestPad(t *testing.T) {
	out := NewTensor(1, 3, 4, 1)
	if err := Pad(out, seq(1, 2, 2, 1), []int{0, 1, 0, 0}, []int{0, 0, 2, 0}); err != nil {
		t.Fatal(err)
	}
	closeTo(t, out.Data, []float32{0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0}, 0)
}

func TestBinaryBroadcast(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   BinaryOp
		a, b *Tensor
		want []float32
	}{
		{"same", OpSub, seq(2, 2), seq(2, 2), []float32{0, 0, 0, 0}},
		{"channel vector", OpAdd, seq(2, 3), seq(3), []float32{2, 4, 6, 5, 7, 9}},
		{"vector first", OpSub, seq(3), seq(2, 3), []float32{0, 0, 0, -3, -3, -3}},
		{"scalar", OpMul, seq(2, 2), &Tensor{Shape: []int{}, Data: []float32{2}}, []float32{2, 4, 6, 8}},
		{"outer", OpMul, seq(2, 1), seq(1, 3), []float32{1, 2, 3, 2, 4, 6}},
		{"general", OpMax, seq(2, 1, 3), &Tensor{Shape: []int{1, 2, 1}, Data: []float32{2, 5}}, []float32{2, 2, 3, 5, 5, 5, 4, 5, 6, 5, 5, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shape, err := broadcastShape(tc.a.Shape, tc.b.Shape)
			if err != nil {
				t.Fatal(err)
			}
			out := NewTensor(shape...)
			if err := Binary(tc.op, out, tc.a, tc.b); err != nil {
				t.Fatal(err)
			}
			closeTo(t, out.Data, tc.want, 0)
		})
	}
	if err := Add(NewTensor(2, 3), seq(2, 3), seq(2)); err == nil {
		t.Error("[2,3]+[2] broadcast")
	}
}

func TestReduceSoftmaxScale(t *testing.T) {
	out := NewTensor(1, 1, 1, 2)
	if err := Mean(out, seq(1, 2, 2, 2), 1, 2); err != nil {
		t.Fatal(err)
	}
	closeTo(t, out.Data, []float32{4, 5}, 1e-6)

	op, kept, err := newReduceOp([]int{2, 3}, []int{-1}, false)
	if err != nil || !slices.Equal(kept.d[:kept.r], []int{2, 1}) {
		t.Fatal(kept, err)
	}
	sum := make([]float32, 2)
	op.run(seq(2, 3).Data, sum)
	closeTo(t, sum, []float32{6, 15}, 0)

	sm := NewTensor(2, 2)
	if err := Softmax(sm, &Tensor{Shape: []int{2, 2}, Data: []float32{0, 0, 100, 100 + float32(math.Log(3))}}); err != nil {
		t.Fatal(err)
	}
	closeTo(t, sm.Data, []float32{0.5, 0.5, 0.25, 0.75}, 1e-5)

	ss := NewTensor(2, 2)
	if err := ScaleShift(ss, seq(2, 2), []float32{2, -1}, []float32{1, 0}); err != nil {
		t.Fatal(err)
	}
	closeTo(t, ss.Data, []float32{3, -2, 7, -4}, 0)

	act := NewTensor(1, 4)
	if err := Activate(act, &Tensor{Shape: []int{1, 4}, Data: []float32{-1, 2, -8, 7}}, ActRelu6, nil); err != nil {
		t.Fatal(err)
	}
	closeTo(t, act.Data, []float32{0, 2, 0, 6}, 0)
}

func TestHalfToFloat(t *testing.T) {
	for _, tc := range []struct {
		h    uint16
		want float32
	}{
		{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0400, 6.1035156e-05},
		{0x0001, 5.9604645e-08}, {0x03ff, 6.097555e-05}, {0x8000, float32(math.Copysign(0, -1))},
		{0x7c00, float32(math.Inf(1))}, {0x3555, 0.33325195},
	} {
		if got := halfToFloat(tc.h); got != tc.want || math.Signbit(float64(got)) != math.Signbit(float64(tc.want)) {
			t.Errorf("halfToFloat(%#04x) = %v, want %v", tc.h, got, tc.want)
		}
	}
}

func TestLoadWeightsManifest(t *testing.T) {
	dir := t.TempDir()
	manifest := `[{"paths":["w.bin"],"weights":[
		{"name":"q8","shape":[3],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.5,"min":-1}},
		{"name":"q16","shape":[1],"dtype":"float32","quantization":{"dtype":"uint16","scale":0.25,"min":0}},
		{"name":"h","shape":[1,1],"dtype":"float32","quantization":{"dtype":"float16"}},
		{"name":"i","shape":[2],"dtype":"int32"}]}]`
	bin := []byte{0, 2, 255, 0x10, 0x00, 0x00, 0x3c, 0xff, 0xff, 0xff, 0xff, 7, 0, 0, 0}
	if err := os.WriteFile(filepath.Join(dir, "m.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), bin, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := LoadWeightsManifest(filepath.Join(dir, "m.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]float32{"q8": {-1, 0, 126.5}, "q16": {4}, "h": {1}, "i": {-1, 7}} {
		closeTo(t, w[name].Data, want, 0)
	}
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), bin[:5], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWeightsManifest(filepath.Join(dir, "m.json")); err == nil {
		t.Error("short shard loaded")
	}
}

// TestUnsupportedOpFailsAtLoad checks a graph names the missing op on load.
func TestUnsupportedOpFailsAtLoad(t *testing.T) {
	dir := t.TempDir()
	model := `{"format":"graph-model","modelTopology":{"node":[
		{"name":"x","op":"Placeholder","attr":{"shape":{"shape":{"dim":[{"size":"-1"},{"size":"4"}]}}}},
		{"name":"y","op":"Erf","input":["x"]}]},"weightsManifest":[]}`
	path := filepath.Join(dir, "model.json")
	if err := os.WriteFile(path, []byte(model), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadGraphModel(path)
	if err == nil || !strings.Contains(err.Error(), "Erf") {
		t.Errorf("err = %v, want one naming Erf", err)
	}
}

// TestTinyGraph runs a hand-written graph: the input shape only in the
// signature, a zero Pad folded into a VALID convolution, and a Mul+Add+Relu
// chain fused into its epilogue.
func TestTinyGraph(t *testing.T) {
	dir := t.TempDir()
	model := `{"format":"graph-model","signature":{"inputs":{"x:0":{"name":"x:0","tensorShape":{"dim":[{"size":"-1"},{"size":"3"},{"size":"3"},{"size":"1"}]}}}},
	"modelTopology":{"node":[
		{"name":"x","op":"Placeholder"},
		{"name":"pads","op":"Const"},
		{"name":"f","op":"Const"},
		{"name":"s","op":"Const"},
		{"name":"b","op":"Const"},
		{"name":"p","op":"Pad","input":["x","pads"]},
		{"name":"c","op":"Conv2D","input":["p","f"],"attr":{"padding":{"s":"VkFMSUQ="},"strides":{"list":{"i":["1","1","1","1"]}}}},
		{"name":"m","op":"Mul","input":["c","s"]},
		{"name":"a","op":"AddV2","input":["m","b"]},
		{"name":"y","op":"Relu","input":["a"]}]},
	"weightsManifest":[{"paths":["w.bin"],"weights":[
		{"name":"pads","shape":[4,2],"dtype":"int32"},
		{"name":"f","shape":[2,2,1,1],"dtype":"float32"},
		{"name":"s","shape":[1],"dtype":"float32"},
		{"name":"b","shape":[1],"dtype":"float32"}]}]}`
	var bin []byte
	le := func(v uint32) { bin = append(bin, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
	for _, v := range []int32{0, 0, 1, 0, 1, 0, 0, 0} { // pad one row on top, one column on the left
		le(uint32(v))
	}
	for _, v := range []float32{1, 1, 1, 1, 2, -10} { // 2×2 box sum, ×2, −10
		le(math.Float32bits(v))
	}
	if err := os.WriteFile(filepath.Join(dir, "model.json"), []byte(model), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), bin, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := LoadGraphModel(filepath.Join(dir, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.steps) != 1 {
		t.Errorf("%d steps, want the pad, scale, bias and relu fused into one convolution", len(m.steps))
	}
	if got := m.Outputs()[0].Shape; !slices.Equal(got, []int{1, 3, 3, 1}) {
		t.Fatalf("output shape %v", got)
	}
	s := m.NewSession()
	copy(s.Input(0), seq(1, 3, 3, 1).Data)
	s.Run()
	// Box sums of the top/left-padded 1..9 grid: 1 3 5 / 5 12 16 / 11 24 28.
	closeTo(t, s.Output(0), []float32{0, 0, 0, 0, 14, 22, 12, 38, 46}, 0)
}

// TestLayersAllocateNothing keeps hand-written networks allocation-free
// when they pass scratch and preallocated outputs.
func TestLayersAllocateNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	in := randTensor(r, 1, 9, 9, 8)
	conv, err := NewConv2D(randTensor(r, 3, 3, 8, 8), Window{Padding: PadSame}, Epilogue{Act: ActRelu})
	if err != nil {
		t.Fatal(err)
	}
	dw, err := NewDepthwiseConv2D(randTensor(r, 3, 3, 8, 1), Window{Padding: PadSame, StrideH: 2, StrideW: 2}, Epilogue{})
	if err != nil {
		t.Fatal(err)
	}
	dense, err := NewDense(randTensor(r, 8, 4), Epilogue{})
	if err != nil {
		t.Fatal(err)
	}
	out, small, pooled := NewTensor(1, 9, 9, 8), NewTensor(1, 5, 5, 8), NewTensor(1, 4, 4, 8)
	vec, fc := NewTensor(1, 1, 1, 8), NewTensor(1, 4)
	scratch := make([]float32, conv.ScratchLen(in.Shape))
	scale := randTensor(r, 8).Data
	for _, tc := range []struct {
		name string
		f    func() error
	}{
		{"conv", func() error { return conv.Forward(out, in, scratch) }},
		{"depthwise", func() error { return dw.Forward(small, in, nil) }},
		{"maxpool", func() error { return MaxPool(pooled, in, Window{KH: 3, KW: 3, StrideH: 2, StrideW: 2}) }},
		{"scaleshift", func() error { return ScaleShift(out, out, scale, scale) }},
		{"activate", func() error { return Activate(out, out, ActRelu, nil) }},
		{"dense", func() error { return dense.Forward(fc, vec) }},
	} {
		if n := testing.AllocsPerRun(1, func() {
			if err := tc.f(); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations", tc.name, n)
		}
	}
}

func TestConcat(t *testing.T) {
	a := &node{name: "a", shape: []int{2, 1}}
	b := &node{name: "b", shape: []int{2, 2}}
	axis := &node{name: "axis", op: opConst, shape: []int{}, val: []float32{-1}}
	n := &node{name: "c", op: opConcat, in: []*node{a, b, axis}}
	if err := inferNode(n); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(n.shape, []int{2, 3}) {
		t.Fatalf("shape %v", n.shape)
	}
	bufs := [][]float32{{1, 2}, {3, 4, 5, 6}, {-1}, make([]float32, 6)}
	n.exec([]int{0, 1, 2}, 3).run(bufs)
	closeTo(t, bufs[3], []float32{1, 3, 4, 2, 5, 6}, 0)
}

func TestFoldScaleShift(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	in, f := randTensor(r, 1, 5, 5, 3), randTensor(r, 3, 3, 3, 4)
	bias, scale, shift := randTensor(r, 4).Data, randTensor(r, 4).Data, randTensor(r, 4).Data
	conv, err := NewConv2D(f, Window{Padding: PadSame}, Epilogue{Bias: bias})
	if err != nil {
		t.Fatal(err)
	}
	want := NewTensor(1, 5, 5, 4)
	if err := conv.Forward(want, in, nil); err != nil {
		t.Fatal(err)
	}
	if err := ScaleShift(want, want, scale, shift); err != nil {
		t.Fatal(err)
	}
	fw, fb, err := FoldScaleShift(f, bias, scale, shift)
	if err != nil {
		t.Fatal(err)
	}
	folded, err := NewConv2D(fw, Window{Padding: PadSame}, Epilogue{Bias: fb})
	if err != nil {
		t.Fatal(err)
	}
	got := NewTensor(1, 5, 5, 4)
	if err := folded.Forward(got, in, nil); err != nil {
		t.Fatal(err)
	}
	closeTo(t, got.Data, want.Data, 1e-5)
}

// TestDepthwiseBands checks the banded depthwise+pointwise step against the
// two ops run whole, over strides, dilations and paddings.
func TestDepthwiseBands(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		for _, tc := range convCases {
			if tc.c > 8 {
				continue
			}
			t.Run(tc.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(11, 12))
				win := Window{KH: tc.kh, KW: tc.kw, StrideH: tc.sh, StrideW: tc.sw, DilH: tc.dh, DilW: tc.dw, Padding: tc.pad, Top: tc.top, Bottom: tc.bottom, Left: tc.left, Right: tc.rgt}
				g0, err := win.resolve(tc.h, tc.w, tc.c)
				if err != nil {
					t.Fatal(err)
				}
				in, res := randTensor(r, 1, tc.h, tc.w, tc.c), randTensor(r, g0.OH*g0.OW*tc.m)
				dw := newDepthwiseOp(g0, randTensor(r, tc.kh, tc.kw, tc.c).Data, 1, kernel.Epilogue{Act: kernel.ActRelu})
				g1, _ := Window{KH: 1, KW: 1}.resolve(g0.OH, g0.OW, tc.c)
				mid := make([]float32, g0.OH*g0.OW*tc.c)
				dw.run(in.Data, mid, nil)
				// A residual of every output channel, and a narrower
				// (channel-padded) one.
				wts := randTensor(r, tc.c, tc.m).Data
				for _, resC := range []int{tc.m, tc.m - 1} {
					pw := newConvOp(g1, wts, tc.m, kernel.Epilogue{})
					pw.setResidual(resC, nil, kernel.ActRelu, nil)
					want := make([]float32, g0.OH*g0.OW*tc.m)
					for p := range g0.OH * g0.OW {
						for j := range tc.m {
							var v float32
							for k, x := range mid[p*tc.c : (p+1)*tc.c] {
								v += x * wts[k*tc.m+j]
							}
							if j < resC {
								v += res.Data[p*resC+j]
							}
							want[p*tc.m+j] = max(v, 0)
						}
					}

					got := make([]float32, len(want))
					pw.run(mid, got, nil, res.Data)
					closeTo(t, got, want, 1e-5)
					pw.band = 1 // one output row per band: every band edge case
					clear(got)
					pw.runBands(dw, in.Data, got, make([]float32, g0.OW*tc.c), res.Data)
					closeTo(t, got, want, 1e-5)
				}
			})
		}
	})
}

// TestPooledResidual checks a convolution with a max-pooled shortcut, of
// every output channel or channel-padded, against pooling, padding the
// channels, adding and activating as separate passes; whole and in tiles
// that start mid-row.
func TestPooledResidual(t *testing.T) {
	const h, w, cin = 6, 10, 4
	forEachPath(t, func(t *testing.T) {
		for _, tc := range []struct{ rc, c, tile int }{{5, 5, 0}, {3, 5, 0}, {5, 5, 7}, {3, 5, 7}} {
			r := rand.New(rand.NewPCG(13, 14))
			pg, err := Window{KH: 2, KW: 2, StrideH: 2, StrideW: 2, Padding: PadSame}.resolve(h, w, tc.rc)
			if err != nil {
				t.Fatal(err)
			}
			pool := &poolOp{g: pg}
			if !pool.fast2x2() {
				t.Fatal("not the fast 2x2 pool")
			}
			g, err := Window{KH: 1, KW: 1}.resolve(pg.OH, pg.OW, cin)
			if err != nil {
				t.Fatal(err)
			}
			x, in := randTensor(r, 1, h, w, tc.rc), randTensor(r, 1, g.OH, g.OW, cin)
			wts, alpha := randTensor(r, cin, tc.c).Data, randTensor(r, tc.c).Data
			pooled := make([]float32, g.OH*g.OW*tc.rc)
			pool.run(x.Data, pooled)
			want := make([]float32, g.OH*g.OW*tc.c)
			for p := range g.OH * g.OW {
				for j := range tc.c {
					var v float32
					for k, a := range in.Data[p*cin : (p+1)*cin] {
						v += a * wts[k*tc.c+j]
					}
					if j < tc.rc {
						v += pooled[p*tc.rc+j]
					}
					if v < 0 {
						v *= alpha[j]
					}
					want[p*tc.c+j] = v
				}
			}
			op := newConvOp(g, wts, tc.c, kernel.Epilogue{})
			if tc.tile > 0 {
				op.tile = tc.tile
			}
			op.setResidual(tc.rc, pool, kernel.ActPrelu, alpha)
			got := make([]float32, len(want))
			op.run(in.Data, got, make([]float32, op.scratchLen()), x.Data)
			closeTo(t, got, want, 1e-5)
		}
	})
}

// Mean runs on every call of a hand-written network (face-api's ResNet pools
// with it), so it must not allocate.
func TestMeanAllocatesNothing(t *testing.T) {
	src, dst := seq(1, 4, 4, 8), NewTensor(1, 1, 1, 8)
	if n := testing.AllocsPerRun(20, func() {
		if err := Mean(dst, src, 1, 2); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Mean allocates %.0f times per call", n)
	}
}
