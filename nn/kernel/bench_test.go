package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// benchPaths runs f as a sub-benchmark per available path.
func benchPaths(b *testing.B, f func(b *testing.B)) {
	def := Current()
	defer SetPath(def)
	for _, p := range Available() {
		SetPath(p)
		b.Run(string(p), f)
	}
}

// loop times op and reports its mean rate and its best single call: on a
// core shared with other work the mean mostly measures the neighbours, while
// the best call is what the kernel does when it has the core.
func loop(b *testing.B, flops float64, op func()) {
	best := time.Duration(math.MaxInt64)
	for b.Loop() {
		t0 := time.Now()
		op()
		best = min(best, time.Since(t0))
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
	b.ReportMetric(flops/best.Seconds()/1e9, "best-GFLOPS")
}

func BenchmarkGemm(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, s := range []struct{ m, k, n int }{
		{256, 256, 1024},
		{4096, 27, 32},  // 3×3×3 stem conv on 64×64
		{1024, 288, 64}, // 3×3×32 → 64 at 32×32
		{64, 1152, 256}, // 3×3×128 → 256 at 8×8
		{4096, 24, 24},  // BlazeFace-style 1×1, width not a multiple of 32
		{1, 25088, 512}, // the embedding FC layer: bound by reading B
	} {
		a := randSlice(r, s.m*s.k)
		pb := PackB(s.k, s.n, randSlice(r, s.k*s.n), s.n)
		c := make([]float32, s.m*s.n)
		ep := Epilogue{Bias: randSlice(r, s.n), Act: ActRelu}
		b.Run(fmt.Sprintf("M%dK%dN%d", s.m, s.k, s.n), func(b *testing.B) {
			benchPaths(b, func(b *testing.B) {
				loop(b, 2*float64(s.m*s.k*s.n), func() { Gemm(s.m, a, s.k, pb, c, s.n, ep) })
			})
		})
	}
}

func BenchmarkDepthwise(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, p := range []DepthwiseParams{
		dwParams(128, 128, 16, 3, 3, 1, 1, 1, 1, 1, 1),
		dwParams(64, 64, 64, 3, 3, 2, 1, 0, 0, 1, 1),
		dwParams(32, 32, 128, 3, 3, 1, 1, 1, 1, 1, 1),
		dwParams(16, 16, 256, 3, 3, 1, 1, 1, 1, 1, 1),
		dwParams(8, 8, 512, 5, 5, 1, 1, 2, 2, 2, 2),
	} {
		in := randSlice(r, p.H*p.W*p.C)
		f := randSlice(r, p.KH*p.KW*p.C)
		out := make([]float32, p.OH*p.OW*p.C)
		ep := Epilogue{Bias: randSlice(r, p.C), Act: ActRelu6}
		b.Run(fmt.Sprintf("%dx%dx%d_k%d_s%d", p.H, p.W, p.C, p.KH, p.StrideH), func(b *testing.B) {
			benchPaths(b, func(b *testing.B) {
				loop(b, 2*float64(p.OH*p.OW*p.C*p.KH*p.KW), func() { DepthwiseConv2D(p, in, f, out, ep) })
			})
		})
	}
}
