package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

var allActs = []Activation{ActNone, ActRelu, ActRelu6, ActPrelu, ActElu, ActSigmoid, ActLeakyRelu}

// forEachPath runs f under every path this CPU has and restores the default.
func forEachPath(t testing.TB, f func(p Path)) {
	def := Current()
	defer SetPath(def)
	for _, p := range Available() {
		if err := SetPath(p); err != nil {
			t.Fatal(err)
		}
		f(p)
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// randEpilogue draws an epilogue for an m×n product; with res, a residual
// over all n columns or (half the time) fewer, whose row stride exceeds its
// width by up to 2.
func randEpilogue(r *rand.Rand, m, n int, act Activation, bias, res bool) Epilogue {
	ep := Epilogue{Act: act, Leak: 0.1}
	if bias {
		ep.Bias = randSlice(r, n)
	}
	if res {
		cols := n
		if n > 0 && r.IntN(2) == 0 {
			ep.ResidualCols = 1 + r.IntN(n)
			cols = ep.ResidualCols
		}
		ep.ResidualStride = cols + r.IntN(3)
		ep.Residual = randSlice(r, max(0, (m-1)*ep.ResidualStride+cols))
	}
	if act == ActPrelu {
		ep.Alpha = randSlice(r, n)
	}
	return ep
}

// refGemm is the naive triple loop in float64; tol bounds the float32
// kernels' rounding, whatever order they sum in.
func refGemm(m, n, k int, a []float32, lda int, b []float32, ldb int, ep *Epilogue) []float64 {
	c := make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for kk := range k {
				s += float64(a[i*lda+kk]) * float64(b[kk*ldb+j])
			}
			if ep.Bias != nil {
				s += float64(ep.Bias[j])
			}
			if ep.Residual != nil && (ep.ResidualCols == 0 || j < ep.ResidualCols) {
				s += float64(ep.Residual[i*ep.ResidualStride+j])
			}
			c[i*n+j] = refAct(s, ep, j)
		}
	}
	return c
}

func refAct(v float64, ep *Epilogue, j int) float64 {
	switch ep.Act {
	case ActRelu:
		return max(v, 0)
	case ActRelu6:
		return min(max(v, 0), 6)
	case ActPrelu:
		if v < 0 {
			return v * float64(ep.Alpha[j])
		}
	case ActElu:
		if v < 0 {
			return math.Expm1(v)
		}
	case ActSigmoid:
		return 1 / (1 + math.Exp(-v))
	case ActLeakyRelu:
		if v < 0 {
			return v * float64(ep.Leak)
		}
	}
	return v
}

// within allows float32 rounding of a k-term dot product of values in
// [-1,1] (plus bias) in any summation order.
func within(got float32, want float64, terms int) bool {
	tol := 1e-5 * float64(terms+2)
	return math.Abs(float64(got)-want) <= tol*max(1, math.Abs(want))
}

var gemmSizes = []int{1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 65}

func TestGemm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	type tc struct{ m, n, k int }
	var cases []tc
	for _, m := range gemmSizes {
		for _, n := range gemmSizes {
			for _, k := range []int{1, 2, 7, 16, 33, 65} {
				cases = append(cases, tc{m, n, k})
			}
		}
	}
	cases = append(cases, tc{3, 5, 0})
	// Several K blocks, several M blocks (rows past one L2-sized block),
	// an FC-like row: too slow to cross with every epilogue.
	big := []tc{{29, 100, 385}, {800, 40, 700}, {5000, 140, 17}, {1, 70, 2000}}
	forEachPath(t, func(p Path) {
		for _, c := range cases {
			for _, act := range allActs {
				for _, ep := range []struct{ bias, res bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
					checkGemmCase(t, r, p, c.m, c.n, c.k, act, ep.bias, ep.res)
				}
			}
		}
		for _, c := range big {
			checkGemmCase(t, r, p, c.m, c.n, c.k, ActPrelu, true, true)
			checkGemmCase(t, r, p, c.m, c.n, c.k, ActSigmoid, false, false)
		}
	})
}

func checkGemmCase(t *testing.T, r *rand.Rand, p Path, m, n, k int, act Activation, bias, res bool) {
	t.Helper()
	lda, ldb, ldc := k+r.IntN(3), n+r.IntN(3), n+r.IntN(3)
	a := randSlice(r, max(0, (m-1)*lda+k))
	b := randSlice(r, max(0, (k-1)*ldb+n))
	ep := randEpilogue(r, m, n, act, bias, res)
	want := refGemm(m, n, k, a, lda, b, ldb, &ep)
	c := randSlice(r, (m-1)*ldc+n) // garbage: Gemm must overwrite
	Gemm(m, a, lda, PackB(k, n, b, ldb), c, ldc, ep)
	for i := range m {
		for j := range n {
			if got := c[i*ldc+j]; !within(got, want[i*n+j], k) {
				t.Fatalf("%s m=%d n=%d k=%d act=%d bias=%v res=%v (cols %d): C[%d][%d]=%v want %v", p, m, n, k, act, bias, res, ep.ResidualCols, i, j, got, want[i*n+j])
			}
		}
	}
}

func refDepthwise(p DepthwiseParams, in, filter []float32, ep *Epilogue) []float64 {
	dh, dw := max(p.DilH, 1), max(p.DilW, 1)
	out := make([]float64, p.OH*p.OW*p.C)
	for oy := range p.OH {
		for ox := range p.OW {
			for ch := range p.C {
				var s float64
				for ky := range p.KH {
					for kx := range p.KW {
						iy, ix := oy*p.StrideH-p.PadTop+ky*dh, ox*p.StrideW-p.PadLeft+kx*dw
						if iy >= 0 && iy < p.H && ix >= 0 && ix < p.W {
							s += float64(in[(iy*p.W+ix)*p.C+ch]) * float64(filter[(ky*p.KW+kx)*p.C+ch])
						}
					}
				}
				if ep.Bias != nil {
					s += float64(ep.Bias[ch])
				}
				out[(oy*p.OW+ox)*p.C+ch] = refAct(s, ep, ch)
			}
		}
	}
	return out
}

// dwParams fills OH/OW for the given geometry.
func dwParams(h, w, c, kh, kw, stride, dil, padT, padL, padB, padR int) DepthwiseParams {
	p := DepthwiseParams{H: h, W: w, C: c, KH: kh, KW: kw, StrideH: stride, StrideW: stride, DilH: dil, DilW: dil, PadTop: padT, PadLeft: padL}
	p.OH = (h+padT+padB-((kh-1)*dil+1))/stride + 1
	p.OW = (w+padL+padR-((kw-1)*dil+1))/stride + 1
	return p
}

func TestDepthwise(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var cases []DepthwiseParams
	for _, c := range []int{1, 3, 8, 16, 17, 33, 64, 100} {
		for _, g := range [][6]int{ // h, w, k, stride, dil, pad
			{7, 9, 3, 1, 1, 1},
			{8, 8, 3, 2, 1, 1},
			{9, 7, 3, 2, 1, 0},
			{10, 11, 5, 1, 1, 2},
			{12, 12, 5, 2, 1, 2},
			{9, 9, 3, 1, 2, 2},
			{4, 4, 3, 1, 1, 1},
			{2, 3, 5, 1, 1, 2},
			{13, 12, 9, 1, 1, 4}, // more taps than the SIMD paths list
		} {
			cases = append(cases, dwParams(g[0], g[1], c, g[2], g[2], g[3], g[4], g[5], g[5], g[5], g[5]))
		}
		// Asymmetric "same" padding as TF pads stride-2 layers, and a
		// 1×1 depthwise.
		cases = append(cases, dwParams(8, 8, c, 3, 3, 2, 1, 0, 0, 1, 1), dwParams(5, 6, c, 1, 1, 1, 1, 0, 0, 0, 0))
	}
	forEachPath(t, func(path Path) {
		for _, p := range cases {
			for _, act := range allActs {
				for _, bias := range []bool{false, true} {
					checkDepthwiseCase(t, r, path, p, act, bias)
				}
			}
		}
	})
}

func checkDepthwiseCase(t *testing.T, r *rand.Rand, path Path, p DepthwiseParams, act Activation, bias bool) {
	t.Helper()
	in := randSlice(r, p.H*p.W*p.C)
	filter := randSlice(r, p.KH*p.KW*p.C)
	ep := randEpilogue(r, 1, p.C, act, bias, false)
	want := refDepthwise(p, in, filter, &ep)
	out := randSlice(r, len(want))
	DepthwiseConv2D(p, in, filter, out, ep)
	for i, w := range want {
		if !within(out[i], w, p.KH*p.KW) {
			t.Fatalf("%s %+v act=%d bias=%v: out[%d]=%v want %v", path, p, act, bias, i, out[i], w)
		}
	}
}

// NaNs must come out of every path and activation as they do from the
// portable one, or a model's bad input would be masked by the path it ran on.
func TestNaNPropagates(t *testing.T) {
	const m, n, k = 3, 40, 5
	a := make([]float32, m*k)
	a[k] = float32(math.NaN()) // row 1
	b := PackB(k, n, make([]float32, k*n), n)
	in := make([]float32, 4*4*n)
	in[5*n] = float32(math.NaN()) // pixel (1,1)
	dp := dwParams(4, 4, n, 1, 1, 1, 1, 0, 0, 0, 0)
	for _, act := range allActs {
		ep := Epilogue{Act: act, Alpha: make([]float32, n), Leak: 0.1}
		forEachPath(t, func(p Path) {
			c := make([]float32, m*n)
			Gemm(m, a, k, b, c, n, ep)
			for i, v := range c {
				if nan := i/n == 1; math.IsNaN(float64(v)) != nan {
					t.Fatalf("%s act=%d: Gemm C[%d]=%v", p, act, i, v)
				}
			}
			out := make([]float32, len(in))
			DepthwiseConv2D(dp, in, make([]float32, n), out, ep)
			for i, v := range out {
				if nan := i == 5*n; math.IsNaN(float64(v)) != nan {
					t.Fatalf("%s act=%d: depthwise out[%d]=%v", p, act, i, v)
				}
			}
		})
	}
}

func TestSetPath(t *testing.T) {
	def := Current()
	if av := Available(); av[0] != def || av[len(av)-1] != PathPortable {
		t.Fatalf("Available() = %v, Current() = %v", av, def)
	}
	forEachPath(t, func(p Path) {
		if Current() != p {
			t.Fatalf("SetPath(%s) left Current() = %s", p, Current())
		}
	})
	if Current() != def {
		t.Fatalf("path not restored: %s, want %s", Current(), def)
	}
	if err := SetPath("sse9"); err == nil {
		t.Fatal("SetPath accepted an unknown path")
	}
}

func TestGemmZeroAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const m, n, k = 50, 150, 500 // packs A, blocks K, has an edge tile
	a, c := randSlice(r, m*k), make([]float32, m*n)
	b := PackB(k, n, randSlice(r, k*n), n)
	for _, act := range allActs {
		ep := randEpilogue(r, m, n, act, true, true)
		forEachPath(t, func(p Path) {
			if allocs := testing.AllocsPerRun(20, func() { Gemm(m, a, k, b, c, n, ep) }); allocs != 0 {
				t.Errorf("%s act=%d: %v allocs per Gemm", p, act, allocs)
			}
		})
	}
	dp := dwParams(9, 9, 33, 3, 3, 1, 1, 1, 1, 1, 1)
	in, f, out := randSlice(r, 9*9*33), randSlice(r, 9*33), make([]float32, 9*9*33)
	forEachPath(t, func(p Path) {
		if allocs := testing.AllocsPerRun(20, func() { DepthwiseConv2D(dp, in, f, out, Epilogue{Act: ActRelu}) }); allocs != 0 {
			t.Errorf("%s: %v allocs per DepthwiseConv2D", p, allocs)
		}
	})
}

func TestGemmConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const m, n, k = 70, 200, 300
	a := randSlice(r, m*k)
	bm := randSlice(r, k*n)
	b := PackB(k, n, bm, n)
	ep := randEpilogue(r, m, n, ActRelu6, true, true)
	want := refGemm(m, n, k, a, k, bm, n, &ep)
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			c := make([]float32, m*n)
			for range 20 {
				Gemm(m, a, k, b, c, n, ep)
				for i, w := range want {
					if !within(c[i], w, k) {
						errs <- fmt.Errorf("goroutine %d: C[%d]=%v want %v", g, i, c[i], w)
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzPaths checks that every path agrees with the portable one.
func FuzzPaths(f *testing.F) {
	f.Add(uint8(5), uint8(17), uint8(33), uint8(1), uint64(1))
	f.Add(uint8(15), uint8(40), uint8(3), uint8(5), uint64(2))
	f.Fuzz(func(t *testing.T, m8, n8, k8, act8 uint8, seed uint64) {
		m, n, k := int(m8%40)+1, int(n8%80)+1, int(k8%80)
		act := allActs[int(act8)%len(allActs)]
		r := rand.New(rand.NewPCG(seed, 9))
		a, bm := randSlice(r, m*k), randSlice(r, k*n)
		b := PackB(k, n, bm, n)
		ep := randEpilogue(r, m, n, act, seed%2 == 0, seed%4 < 2)
		def := Current()
		defer SetPath(def)
		SetPath(PathPortable)
		want := make([]float32, m*n)
		Gemm(m, a, k, b, want, n, ep)

		c := n // the epilogue's vectors have n entries
		dwEp := ep
		dwEp.Residual = nil // the depthwise kernels take no residual
		dp := randDepthwise(r, c)
		in, filt := randSlice(r, dp.H*dp.W*c), randSlice(r, dp.KH*dp.KW*c)
		dwWant := make([]float32, max(0, dp.OH*dp.OW*c))
		if dp.OH > 0 && dp.OW > 0 {
			DepthwiseConv2D(dp, in, filt, dwWant, dwEp)
		}
		for _, p := range Available() {
			SetPath(p)
			got := make([]float32, m*n)
			Gemm(m, a, k, b, got, n, ep)
			for i := range got {
				if !within(got[i], float64(want[i]), k) {
					t.Fatalf("%s m=%d n=%d k=%d act=%d: C[%d]=%v portable %v", p, m, n, k, act, i, got[i], want[i])
				}
			}
			if dp.OH > 0 && dp.OW > 0 {
				dwGot := make([]float32, len(dwWant))
				DepthwiseConv2D(dp, in, filt, dwGot, dwEp)
				for i := range dwGot {
					if !within(dwGot[i], float64(dwWant[i]), dp.KH*dp.KW) {
						t.Fatalf("%s %+v: out[%d]=%v portable %v", p, dp, i, dwGot[i], dwWant[i])
					}
				}
			}
		}
	})
}

// randDepthwise draws a layer geometry: odd and even filters, strides up to
// 3, dilation up to 2, and independent padding on each side.
func randDepthwise(r *rand.Rand, c int) DepthwiseParams {
	p := DepthwiseParams{
		H: 1 + r.IntN(20), W: 1 + r.IntN(40), C: c,
		KH: 1 + r.IntN(7), KW: 1 + r.IntN(7),
		StrideH: 1 + r.IntN(3), StrideW: 1 + r.IntN(3),
		DilH: 1 + r.IntN(2), DilW: 1 + r.IntN(2),
		PadTop: r.IntN(4), PadLeft: r.IntN(4),
	}
	p.OH = (p.H+p.PadTop+r.IntN(4)-((p.KH-1)*p.DilH+1))/p.StrideH + 1
	p.OW = (p.W+p.PadLeft+r.IntN(4)-((p.KW-1)*p.DilW+1))/p.StrideW + 1
	return p
}

func refMaxPool2x2(p MaxPool2x2Params, in []float32) []float32 {
	out := make([]float32, p.OH*p.OW*p.C)
	for oy := range p.OH {
		for ox := range p.OW {
			for ch := range p.C {
				v := float32(math.Inf(-1))
				for _, d := range [][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
					x := in[((oy*p.StrideH+d[0])*p.W+ox*p.StrideW+d[1])*p.C+ch]
					if x > v || x != x {
						v = x
					}
					if v != v {
						break
					}
				}
				out[(oy*p.OW+ox)*p.C+ch] = v
			}
		}
	}
	return out
}

func TestMaxPool2x2(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	var cases []MaxPool2x2Params
	for _, c := range []int{1, 3, 8, 16, 17, 24, 33, 48} {
		for _, g := range [][4]int{{4, 4, 2, 2}, {5, 7, 2, 2}, {6, 5, 1, 1}, {9, 8, 2, 3}} { // h, w, sh, sw
			cases = append(cases, MaxPool2x2Params{H: g[0], W: g[1], C: c, StrideH: g[2], StrideW: g[3],
				OH: (g[0]-2)/g[2] + 1, OW: (g[1]-2)/g[3] + 1})
		}
	}
	forEachPath(t, func(path Path) {
		for _, p := range cases {
			in := randSlice(r, p.H*p.W*p.C)
			in[r.IntN(len(in))] = float32(math.NaN())
			want := refMaxPool2x2(p, in)
			// Whole, then in two calls split mid-row, as a tile would.
			npix := p.OH * p.OW
			for _, split := range []int{npix, npix/2 + 1} {
				got := randSlice(r, npix*p.C)
				MaxPool2x2(p, in, got, 0, split)
				MaxPool2x2(p, in, got[split*p.C:], split, npix)
				for i, w := range want {
					if g := got[i]; g != w && !(math.IsNaN(float64(g)) && math.IsNaN(float64(w))) {
						t.Fatalf("%s %+v split %d: out[%d]=%v want %v", path, p, split, i, g, w)
					}
				}
			}
		}
	})
}

// TestGemmSlices checks A read in place as runs against the same A
// gathered into a matrix: overlapping rows as a strided convolution reads
// them, runs of odd widths, K blocks made of whole runs.
func TestGemmSlices(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	cases := []struct{ m, n, run, slices, lda, sliceStride int }{
		{1, 5, 3, 1, 0, 0},
		{20, 24, 15, 5, 6, 768},  // 5×5 stride-2 conv over 3 channels
		{29, 24, 9, 3, 3, 100},   // 3×3 stride-1 conv, rows overlapping
		{15, 33, 7, 4, 20, 7},    // runs back to back
		{33, 17, 1, 16, 1, 40},   // one-float runs
		{9, 40, 100, 8, 50, 130}, // K 800: several K blocks
	}
	forEachPath(t, func(p Path) {
		for _, tc := range cases {
			for _, act := range []Activation{ActNone, ActRelu, ActPrelu, ActSigmoid} {
				k := tc.run * tc.slices
				a := randSlice(r, (tc.m-1)*tc.lda+(tc.slices-1)*tc.sliceStride+tc.run)
				dense := make([]float32, tc.m*k)
				for i := range tc.m {
					for s := range tc.slices {
						copy(dense[i*k+s*tc.run:], a[i*tc.lda+s*tc.sliceStride:][:tc.run])
					}
				}
				bm := randSlice(r, k*tc.n)
				ep := randEpilogue(r, tc.m, tc.n, act, true, act == ActRelu)
				want := refGemm(tc.m, tc.n, k, dense, k, bm, tc.n, &ep)
				c := randSlice(r, tc.m*tc.n)
				GemmSlices(tc.m, a, tc.lda, tc.run, tc.sliceStride, PackB(k, tc.n, bm, tc.n), c, tc.n, ep)
				for i, w := range want {
					if !within(c[i], w, k) {
						t.Fatalf("%s %+v act=%d: C[%d]=%v want %v", p, tc, act, i, c[i], w)
					}
				}
			}
		}
	})
}
