package nn

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// Hand-encoded ONNX messages, field numbers from onnx.proto.

func pbBytes(b []byte, num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

func pbVarint(b []byte, num protowire.Number, v int64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), uint64(v))
}

func pbValueInfo(name string, dims ...int64) []byte {
	var shape []byte
	for _, d := range dims {
		shape = pbBytes(shape, 1, pbVarint(nil, 1, d))
	}
	tensorType := pbBytes(pbVarint(nil, 1, onnxFloat), 2, shape)
	return pbBytes(pbBytes(nil, 1, []byte(name)), 2, pbBytes(nil, 1, tensorType))
}

func pbNode(op string, in, out []string) []byte {
	var b []byte
	for _, s := range in {
		b = pbBytes(b, 1, []byte(s))
	}
	for _, s := range out {
		b = pbBytes(b, 2, []byte(s))
	}
	return pbBytes(pbBytes(b, 3, []byte(op+"_0")), 4, []byte(op))
}

// pbTensor is an initializer with raw float32 data of rawLen bytes.
func pbTensor(name string, rawLen int, dims ...int64) []byte {
	return pbTensorRaw(name, make([]byte, rawLen), dims...)
}

func pbTensorRaw(name string, raw []byte, dims ...int64) []byte {
	var b []byte
	for _, d := range dims {
		b = pbVarint(b, 1, d)
	}
	b = pbVarint(b, 2, onnxFloat)
	b = pbBytes(b, 8, []byte(name))
	return pbBytes(b, 9, raw)
}

// pbFloats is an initializer holding v.
func pbFloats(name string, v []float32, dims ...int64) []byte {
	raw := make([]byte, 0, 4*len(v))
	for _, f := range v {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(f))
	}
	return pbTensorRaw(name, raw, dims...)
}

// pbAttrInts is an INTS attribute.
func pbAttrInts(name string, v ...int64) []byte {
	b := pbBytes(nil, 1, []byte(name))
	for _, x := range v {
		b = pbVarint(b, 8, x)
	}
	return pbVarint(b, 20, attrInts)
}

func pbAttrInt(name string, v int64) []byte {
	return pbVarint(pbVarint(pbBytes(nil, 1, []byte(name)), 3, v), 20, attrInt)
}

// withAttrs appends attributes to an encoded node.
func withAttrs(node []byte, attrs ...[]byte) []byte {
	for _, a := range attrs {
		node = pbBytes(node, 5, a)
	}
	return node
}

func pbModel(graph ...[]byte) []byte {
	var g []byte
	for _, f := range graph {
		g = append(g, f...)
	}
	b := pbVarint(nil, 1, 7)
	b = pbBytes(b, 8, pbVarint(nil, 2, 13))
	return pbBytes(b, 7, g)
}

// onnxGraphField wraps a message as graph field num (1 node, 5
// initializer, 11 input, 12 output).
func onnxGraphField(num protowire.Number, msg []byte) []byte { return pbBytes(nil, num, msg) }

func loadONNXBytes(t *testing.T, b []byte) (*Model, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.onnx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return LoadONNX(p)
}

func TestLoadONNXErrors(t *testing.T) {
	in := onnxGraphField(11, pbValueInfo("x", 1, 3, 4, 4))
	out := onnxGraphField(12, pbValueInfo("y", 1, 3, 4, 4))
	tests := []struct {
		name  string
		model []byte
		want  string
	}{
		{"unsupported op", pbModel(in, out, onnxGraphField(1, pbNode("LpNormalization", []string{"x"}, []string{"y"}))), "unsupported op LpNormalization"},
		{"unknown input", pbModel(in, out, onnxGraphField(1, pbNode("Relu", []string{"z"}, []string{"y"}))), "input z is not defined"},
		{"undefined output", pbModel(in, out, onnxGraphField(1, pbNode("Relu", []string{"x"}, []string{"w"}))), "output y is not computed"},
		{"weights larger than the file", pbModel(in, out, onnxGraphField(5, pbTensor("w", 16, 1<<20, 1<<20, 1<<10))), "more values than the file"},
		{"raw data short of its dims", pbModel(in, out, onnxGraphField(5, pbTensor("w", 16, 3, 3))), "raw data of 16 bytes for 9 values"},
		{"truncated", pbModel(in, out)[:20], "truncated"},
		{"not protobuf", []byte("{\"format\": \"graph-model\"}"), ""},
		{"no graph", pbVarint(nil, 1, 7), "no graph"},
		{"opset 6", pbBytes(pbBytes(nil, 8, pbVarint(nil, 2, 6)), 7, nil), "opset 6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadONNXBytes(t, tc.model)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadONNXRelu(t *testing.T) {
	m, err := loadONNXBytes(t, pbModel(
		onnxGraphField(11, pbValueInfo("x", 1, 2, 1, 3)),
		onnxGraphField(12, pbValueInfo("y", 1, 2, 1, 3)),
		onnxGraphField(1, pbNode("Relu", []string{"x"}, []string{"y"}))))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Inputs()[0].Shape; len(got) != 4 || got[1] != 1 || got[2] != 3 || got[3] != 2 {
		t.Fatalf("input shape %v, want NHWC [1 1 3 2]", got)
	}
	s := m.NewSession()
	copy(s.Input(0), []float32{-1, 2, 3, -4, 5, -6})
	s.Run()
	want := []float32{0, 2, 3, 0, 5, 0}
	for i, v := range s.Output(0) {
		if v != want[i] {
			t.Fatalf("output %v, want %v", s.Output(0), want)
		}
	}
}

// convModel is a Conv (then PRelu) of x [1,c,h,w] by weights [m,c/group,k,k]
// with the given stride, padding and dilation.
func convModel(w []float32, c, h, wd, m, group, k, stride, pad, dil int, slope []float32) []byte {
	conv := withAttrs(pbNode("Conv", []string{"x", "w", "b"}, []string{"c"}),
		pbAttrInt("group", int64(group)), pbAttrInts("kernel_shape", int64(k), int64(k)),
		pbAttrInts("strides", int64(stride), int64(stride)), pbAttrInts("dilations", int64(dil), int64(dil)),
		pbAttrInts("pads", int64(pad), int64(pad), int64(pad), int64(pad)))
	bias := make([]float32, m)
	for i := range bias {
		bias[i] = float32(i) / 10
	}
	oh := (h+2*pad-(k-1)*dil-1)/stride + 1
	ow := (wd+2*pad-(k-1)*dil-1)/stride + 1
	return pbModel(
		onnxGraphField(11, pbValueInfo("x", 1, int64(c), int64(h), int64(wd))),
		onnxGraphField(12, pbValueInfo("y", 1, int64(m), int64(oh), int64(ow))),
		onnxGraphField(5, pbFloats("w", w, int64(m), int64(c/group), int64(k), int64(k))),
		onnxGraphField(5, pbFloats("b", bias, int64(m))),
		onnxGraphField(5, pbFloats("slope", slope, int64(m), 1, 1)),
		onnxGraphField(1, conv),
		onnxGraphField(1, pbNode("PRelu", []string{"c", "slope"}, []string{"y"})))
}

// refConv is the NCHW grouped convolution, bias and PReLU, written out.
func refConv(x, w []float32, c, h, wd, m, group, k, stride, pad, dil int, slope []float32) (out []float32, oh, ow int) {
	oh = (h+2*pad-(k-1)*dil-1)/stride + 1
	ow = (wd+2*pad-(k-1)*dil-1)/stride + 1
	cg, mg := c/group, m/group
	out = make([]float32, m*oh*ow)
	for o := range m {
		g := o / mg
		for oy := range oh {
			for ox := range ow {
				s := float64(o) / 10
				for ci := range cg {
					for ky := range k {
						for kx := range k {
							iy, ix := oy*stride-pad+ky*dil, ox*stride-pad+kx*dil
							if iy < 0 || iy >= h || ix < 0 || ix >= wd {
								continue
							}
							s += float64(x[((g*cg+ci)*h+iy)*wd+ix]) * float64(w[((o*cg+ci)*k+ky)*k+kx])
						}
					}
				}
				if s < 0 {
					s *= float64(slope[o])
				}
				out[(o*oh+oy)*ow+ox] = float32(s)
			}
		}
	}
	return out, oh, ow
}

// TestONNXConv checks the weight conversion of every kind of Conv against
// the NCHW definition: dense, grouped, depthwise and depthwise with a
// channel multiplier, with strides, padding and dilation.
func TestONNXConv(t *testing.T) {
	tests := []struct {
		name                                   string
		c, h, w, m, group, k, stride, pad, dil int
	}{
		{"dense 3x3", 3, 7, 6, 5, 1, 3, 1, 1, 1},
		{"dense 1x1 stride 2", 4, 8, 8, 6, 1, 1, 2, 0, 1},
		{"grouped", 4, 6, 6, 6, 2, 3, 1, 1, 1},
		{"depthwise 3x3 stride 2", 5, 9, 9, 5, 5, 3, 2, 1, 1},
		{"depthwise 7x7 unpadded", 4, 7, 7, 4, 4, 7, 1, 0, 1},
		{"depthwise multiplier 2 dilated", 3, 9, 8, 6, 3, 3, 1, 2, 2},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := make([]float32, tc.m*tc.c/tc.group*tc.k*tc.k)
			for i := range w {
				w[i] = r.Float32() - 0.5
			}
			slope := make([]float32, tc.m)
			for i := range slope {
				slope[i] = r.Float32()
			}
			x := make([]float32, tc.c*tc.h*tc.w)
			for i := range x {
				x[i] = r.Float32()*2 - 1
			}
			want, oh, ow := refConv(x, w, tc.c, tc.h, tc.w, tc.m, tc.group, tc.k, tc.stride, tc.pad, tc.dil, slope)
			m, err := loadONNXBytes(t, convModel(w, tc.c, tc.h, tc.w, tc.m, tc.group, tc.k, tc.stride, tc.pad, tc.dil, slope))
			if err != nil {
				t.Fatal(err)
			}
			s := m.NewSession()
			in := s.Input(0)
			for ch := range tc.c {
				for p := range tc.h * tc.w {
					in[p*tc.c+ch] = x[ch*tc.h*tc.w+p]
				}
			}
			s.Run()
			got := s.Output(0)
			if len(got) != len(want) {
				t.Fatalf("%d outputs, want %d", len(got), len(want))
			}
			for o := range tc.m {
				for p := range oh * ow {
					if g, w := got[p*tc.m+o], want[o*oh*ow+p]; math.Abs(float64(g-w)) > 1e-5 {
						t.Fatalf("channel %d pixel %d: %g, want %g", o, p, g, w)
					}
				}
			}
		})
	}
}

// FuzzLoadONNX feeds the parser and planner arbitrary bytes: a malformed
// or hostile file must fail to load with an error, and one that loads must
// run.
func FuzzLoadONNX(f *testing.F) {
	in := onnxGraphField(11, pbValueInfo("x", 1, 3, 4, 4))
	out := onnxGraphField(12, pbValueInfo("y", 1, 3, 4, 4))
	f.Add(pbModel(in, out, onnxGraphField(1, pbNode("Relu", []string{"x"}, []string{"y"}))))
	f.Add(pbModel(in, out, onnxGraphField(5, pbTensor("w", 16, 1<<20, 1<<20, 1<<10))))
	f.Add(convModel(make([]float32, 6*2*9), 4, 6, 6, 6, 2, 3, 1, 1, 1, make([]float32, 6)))
	f.Add(convModel(make([]float32, 4*49), 4, 7, 7, 4, 4, 7, 1, 0, 1, make([]float32, 4)))
	head, _, _ := arcFaceHead()
	f.Add(head)
	pool, _, _ := poolPadSoftmax()
	f.Add(pool)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := buildONNX("fuzz", b)
		if err != nil || m.ArenaBytes() > 1<<24 {
			return
		}
		s := m.NewSession()
		s.Run()
	})
}

func pbAttrFloat(name string, v float32) []byte {
	b := pbBytes(nil, 1, []byte(name))
	b = protowire.AppendFixed32(protowire.AppendTag(b, 2, protowire.Fixed32Type), math.Float32bits(v))
	return pbVarint(b, 20, attrFloat)
}

// pbInt64s is an int64 initializer (shapes, pads).
func pbInt64s(name string, v ...int64) []byte {
	b := pbVarint(nil, 1, int64(len(v)))
	b = pbVarint(b, 2, onnxInt64)
	b = pbBytes(b, 8, []byte(name))
	raw := make([]byte, 0, 8*len(v))
	for _, x := range v {
		raw = binary.LittleEndian.AppendUint64(raw, uint64(x))
	}
	return pbBytes(b, 9, raw)
}

func randFloats(r *rand.Rand, n int, lo, hi float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = lo + (hi-lo)*r.Float32()
	}
	return v
}

// runNCHW feeds x (NCHW) to a model with one rank-4 input and returns its
// first output.
func runNCHW(t *testing.T, model []byte, x []float32, c, hw int) []float32 {
	t.Helper()
	m, err := loadONNXBytes(t, model)
	if err != nil {
		t.Fatal(err)
	}
	s := m.NewSession()
	in := s.Input(0)
	for ch := range c {
		for p := range hw {
			in[p*c+ch] = x[ch*hw+p]
		}
	}
	s.Run()
	return s.Output(0)
}

func closeAll(t *testing.T, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	for i, w := range want {
		if math.Abs(float64(got[i])-w) > tol*max(1, math.Abs(w)) {
			t.Fatalf("value %d: %g, want %g (all: %v)", i, got[i], w, got)
		}
	}
}

// TestONNXArcFaceHead runs the shape of an ArcFace ResNet export — input
// normalisation, Conv, BatchNormalization, PRelu, a residual Add, then
// Flatten of a 3×3 map (NCHW order, so the NHWC buffer is transposed),
// Gemm with alpha and beta, and a BatchNormalization of the vector —
// against the ONNX definitions written out.
func TestONNXArcFaceHead(t *testing.T) {
	model, x, want := arcFaceHead()
	closeAll(t, runNCHW(t, model, x, 4, 9), want, 1e-4)
}

// arcFaceHead builds that model with random weights, an input [1,4,3,3]
// and the output the definitions give.
func arcFaceHead() (model []byte, x []float32, want []float64) {
	const c, h, w, n = 4, 3, 3, 5
	r := rand.New(rand.NewPCG(3, 4))
	x = randFloats(r, c*h*w, 0, 255)
	mean, inv := randFloats(r, c, 100, 150), randFloats(r, c, 0.005, 0.01)
	cw, cb := randFloats(r, c*c*9, -0.5, 0.5), randFloats(r, c, -0.1, 0.1)
	var bn [4][]float32
	bn[0], bn[1], bn[2], bn[3] = randFloats(r, c, 0.5, 1.5), randFloats(r, c, -0.2, 0.2), randFloats(r, c, -0.3, 0.3), randFloats(r, c, 0.5, 2)
	slope := randFloats(r, c, 0, 0.3)
	gw, gc := randFloats(r, n*c*h*w, -0.2, 0.2), randFloats(r, n, -1, 1)
	var bn2 [4][]float32
	bn2[0], bn2[1], bn2[2], bn2[3] = randFloats(r, n, 0.5, 1.5), randFloats(r, n, -0.2, 0.2), randFloats(r, n, -0.3, 0.3), randFloats(r, n, 0.5, 2)
	const eps = 1e-3

	g := [][]byte{
		onnxGraphField(11, pbValueInfo("x", 1, c, h, w)),
		onnxGraphField(12, pbValueInfo("y", 1, n)),
		onnxGraphField(5, pbFloats("mean", mean, 1, c, 1, 1)),
		onnxGraphField(5, pbFloats("inv", inv, 1, c, 1, 1)),
		onnxGraphField(5, pbFloats("cw", cw, c, c, 3, 3)),
		onnxGraphField(5, pbFloats("cb", cb, c)),
		onnxGraphField(5, pbFloats("slope", slope, c, 1, 1)),
		onnxGraphField(5, pbFloats("gw", gw, n, c*h*w)),
		onnxGraphField(5, pbFloats("gc", gc, n)),
	}
	for i, nm := range []string{"s", "b", "m", "v"} {
		g = append(g, onnxGraphField(5, pbFloats("bn_"+nm, bn[i], c)), onnxGraphField(5, pbFloats("bn2_"+nm, bn2[i], n)))
	}
	g = append(g,
		onnxGraphField(1, pbNode("Sub", []string{"x", "mean"}, []string{"a"})),
		onnxGraphField(1, pbNode("Mul", []string{"a", "inv"}, []string{"b"})),
		onnxGraphField(1, withAttrs(pbNode("Conv", []string{"b", "cw", "cb"}, []string{"c"}), pbAttrInts("pads", 1, 1, 1, 1))),
		onnxGraphField(1, withAttrs(pbNode("BatchNormalization", []string{"c", "bn_s", "bn_b", "bn_m", "bn_v"}, []string{"d"}), pbAttrFloat("epsilon", eps))),
		onnxGraphField(1, pbNode("PRelu", []string{"d", "slope"}, []string{"e"})),
		onnxGraphField(1, pbNode("Add", []string{"e", "b"}, []string{"f"})),
		onnxGraphField(1, pbNode("Flatten", []string{"f"}, []string{"g"})),
		onnxGraphField(1, withAttrs(pbNode("Gemm", []string{"g", "gw", "gc"}, []string{"h"}), pbAttrInt("transB", 1), pbAttrFloat("alpha", 0.5), pbAttrFloat("beta", 2))),
		onnxGraphField(1, withAttrs(pbNode("BatchNormalization", []string{"h", "bn2_s", "bn2_b", "bn2_m", "bn2_v"}, []string{"y"}), pbAttrFloat("epsilon", eps))),
	)

	// The reference, in NCHW and float64.
	b := make([]float64, c*h*w)
	for i := range b {
		ch := i / (h * w)
		b[i] = (float64(x[i]) - float64(mean[ch])) * float64(inv[ch])
	}
	f := make([]float64, c*h*w)
	for o := range c {
		for y := range h {
			for xx := range w {
				s := float64(cb[o])
				for ci := range c {
					for ky := range 3 {
						for kx := range 3 {
							iy, ix := y+ky-1, xx+kx-1
							if iy >= 0 && iy < h && ix >= 0 && ix < w {
								s += b[(ci*h+iy)*w+ix] * float64(cw[((o*c+ci)*3+ky)*3+kx])
							}
						}
					}
				}
				s = (s-float64(bn[2][o]))/math.Sqrt(float64(bn[3][o])+eps)*float64(bn[0][o]) + float64(bn[1][o])
				if s < 0 {
					s *= float64(slope[o])
				}
				f[(o*h+y)*w+xx] = s + b[(o*h+y)*w+xx]
			}
		}
	}
	want = make([]float64, n)
	for j := range n {
		s := 0.0
		for k, v := range f {
			s += v * float64(gw[j*c*h*w+k])
		}
		s = 0.5*s + 2*float64(gc[j])
		want[j] = (s-float64(bn2[2][j]))/math.Sqrt(float64(bn2[3][j])+eps)*float64(bn2[0][j]) + float64(bn2[1][j])
	}
	return pbModel(g...), x, want
}

// TestONNXPoolPadSoftmax runs a zero Pad, an AveragePool with ceil_mode
// (its last window partly outside the input, averaged over the taps inside
// as onnxruntime does) and a Softmax over channels (opset 13), whose rank-4
// output the runtime gives NHWC.
func TestONNXPoolPadSoftmax(t *testing.T) {
	model, x, want := poolPadSoftmax()
	closeAll(t, runNCHW(t, model, x, 3, 25), want, 1e-5)
}

// poolPadSoftmax builds that model, an input [1,3,5,5] and the output
// (NHWC) the definitions give.
func poolPadSoftmax() (model []byte, x []float32, want []float64) {
	const c, h, w = 3, 5, 5
	r := rand.New(rand.NewPCG(5, 6))
	x = randFloats(r, c*h*w, -2, 2)
	model = pbModel(
		onnxGraphField(11, pbValueInfo("x", 1, c, h, w)),
		onnxGraphField(12, pbValueInfo("y", 1, c, 3, 3)),
		onnxGraphField(5, pbInt64s("pads", 0, 0, 1, 0, 0, 0, 0, 1)),
		onnxGraphField(1, pbNode("Pad", []string{"x", "pads"}, []string{"p"})),
		onnxGraphField(1, withAttrs(pbNode("AveragePool", []string{"p"}, []string{"a"}),
			pbAttrInts("kernel_shape", 3, 3), pbAttrInts("strides", 2, 2), pbAttrInt("ceil_mode", 1))),
		onnxGraphField(1, withAttrs(pbNode("Softmax", []string{"a"}, []string{"y"}), pbAttrInt("axis", 1))),
	)
	// Pad: one zero row on top, one zero column on the right: 6×6.
	const ph, pw = h + 1, w + 1
	padded := func(ch, y, xx int) float64 {
		if y < 1 || xx >= w {
			return 0
		}
		return float64(x[(ch*h+y-1)*w+xx])
	}
	avg := make([]float64, c*9)
	for ch := range c {
		for oy := range 3 {
			for ox := range 3 {
				s, k := 0.0, 0
				for y := 2 * oy; y < min(2*oy+3, ph); y++ {
					for xx := 2 * ox; xx < min(2*ox+3, pw); xx++ {
						s += padded(ch, y, xx)
						k++
					}
				}
				avg[(ch*3+oy)*3+ox] = s / float64(k)
			}
		}
	}
	want = make([]float64, c*9) // NHWC
	for p := range 9 {
		sum := 0.0
		for ch := range c {
			sum += math.Exp(avg[ch*9+p])
		}
		for ch := range c {
			want[p*c+ch] = math.Exp(avg[ch*9+p]) / sum
		}
	}
	return model, x, want
}

// swapOp re-encodes a model with node i's op_type replaced by op.
func swapOp(model []byte, i int, op string) []byte {
	var out []byte
	_ = fields(model, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != 7 {
			out = appendField(out, num, typ, v)
			return nil
		}
		var g []byte
		k := 0
		_ = fields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
			if num == 1 {
				if k == i {
					var nb []byte
					_ = fields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
						if num == 4 {
							v = []byte(op)
						}
						nb = appendField(nb, num, typ, v)
						return nil
					})
					v = nb
				}
				k++
			}
			g = appendField(g, num, typ, v)
			return nil
		})
		out = pbBytes(out, 7, g)
		return nil
	})
	return out
}

// appendField re-encodes one field as fields() handed it over.
func appendField(b []byte, num protowire.Number, typ protowire.Type, v []byte) []byte {
	if typ == protowire.BytesType {
		return pbBytes(b, num, v)
	}
	return append(protowire.AppendTag(b, num, typ), v...)
}

// TestONNXOpSwaps gives every node of the test models every op the front
// end knows, attributes and inputs unchanged: each must fail to load with
// an error or load and run, never panic.
func TestONNXOpSwaps(t *testing.T) {
	head, _, _ := arcFaceHead()
	pool, _, _ := poolPadSoftmax()
	seeds := [][]byte{head, pool, convModel(make([]float32, 6*2*9), 4, 6, 6, 6, 2, 3, 1, 1, 1, make([]float32, 6))}
	if _, err := buildONNX("swap", swapOp(seeds[2], 0, "Nonexistent")); err == nil || !strings.Contains(err.Error(), "unsupported op Nonexistent") {
		t.Fatalf("swapping in an unknown op: %v", err)
	}
	loaded := 0
	for _, seed := range seeds {
		om, err := parseONNX(seed)
		if err != nil {
			t.Fatal(err)
		}
		for i := range om.graph.nodes {
			for op := range onnxOps {
				m, err := buildONNX("swap", swapOp(seed, i, op))
				if err != nil {
					continue
				}
				loaded++
				if m.ArenaBytes() < 1<<24 {
					m.NewSession().Run()
				}
			}
		}
	}
	t.Logf("%d of the swapped models loaded and ran", loaded)
}
