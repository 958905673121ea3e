package kernel

import (
	"math"
	"testing"
)

// halve is not inlined so that the multiply happens at run time, under
// whatever MXCSR the thread has.
//
//go:noinline
func halve(v float32) float32 { return v * 0.5 }

// The SIMD kernels run with flush-to-zero and denormals-are-zero (an Intel
// core takes a microcode assist per subnormal operand or result), and must
// hand Go its MXCSR back unchanged: Go code after a kernel still computes
// subnormals as IEEE 754 says.
func TestSubnormalsFlushedInsideKernelsOnly(t *testing.T) {
	tiny := math.Float32frombits(0x00400000) // 2^-127, subnormal
	if halve(tiny) == 0 {
		t.Fatal("Go arithmetic flushes subnormals before any kernel ran")
	}
	const k, n = 4, 32
	a := []float32{tiny, tiny, tiny, tiny}
	b := make([]float32, k*n)
	for i := range b {
		b[i] = 1
	}
	packed := PackB(k, n, b, n)
	filter := make([]float32, 9*n)
	for i := range filter {
		filter[i] = tiny
	}
	in := make([]float32, 3*3*n)
	for i := range in {
		in[i] = 0.25
	}
	forEachPath(t, func(p Path) {
		c := make([]float32, n)
		Gemm(1, a, k, packed, c, n, Epilogue{})
		dw := make([]float32, n)
		DepthwiseConv2D(dwParams(3, 3, n, 3, 3, 1, 1, 0, 0, 0, 0), in, filter, dw, Epilogue{})
		if halve(tiny) == 0 {
			t.Fatalf("%s: a kernel left flush-to-zero set for Go code", p)
		}
		if p == PathPortable {
			return // Go arithmetic: subnormal results stay, as IEEE 754 has them
		}
		if c[0] != 0 || dw[0] != 0 {
			t.Errorf("%s: subnormal products gave gemm %g, depthwise %g; want them flushed to 0", p, c[0], dw[0])
		}
	})
}
