package nn

import (
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
	var b []byte
	for _, d := range dims {
		b = pbVarint(b, 1, d)
	}
	b = pbVarint(b, 2, onnxFloat)
	b = pbBytes(b, 8, []byte(name))
	return pbBytes(b, 9, make([]byte, rawLen))
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
