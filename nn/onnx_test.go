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
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := buildONNX("fuzz", b)
		if err != nil || m.ArenaBytes() > 1<<24 {
			return
		}
		s := m.NewSession()
		s.Run()
	})
}
