// Package kernel holds the numeric kernels of the inference runtime: a packed
// SGEMM with a fused epilogue (bias, activation) and depthwise convolution,
// each with SIMD paths (AVX-512, AVX2+FMA) chosen from the CPU's features at
// start and a portable pure-Go path that gives the same results everywhere.
//
// All matrices are row-major float32. Weights are packed once (PackB) and
// reused by every call, so a steady-state inference allocates nothing.
package kernel

import "fmt"

// Activation is applied per output element after the bias.
type Activation uint8

const (
	ActNone Activation = iota
	ActRelu
	ActRelu6
	ActPrelu // per-column slope in Epilogue.Alpha
	ActElu
	ActSigmoid
	ActLeakyRelu // scalar slope in Epilogue.Leak
)

// Epilogue is fused into the kernels' store of C.
type Epilogue struct {
	Bias  []float32 // per output column (len n), or nil
	Act   Activation
	Alpha []float32 // per output column PReLU slopes when Act == ActPrelu
	Leak  float32   // LeakyRelu slope
}

// Path names one implementation of the kernels.
type Path string

const (
	PathAVX512   Path = "avx512"
	PathAVX2     Path = "avx2"
	PathPortable Path = "portable"
)

var current = PathPortable

// Current is the path the kernels use now.
func Current() Path { return current }

// Available lists the paths this CPU can run, fastest first.
func Available() []Path { return available() }

// SetPath forces a path (tests and benchmarks compare them). It is not safe to
// call while kernels run.
func SetPath(p Path) error {
	for _, a := range available() {
		if a == p {
			current = p
			return nil
		}
	}
	return fmt.Errorf("kernel path %q not available on this CPU", p)
}

func init() {
	if av := available(); len(av) > 0 {
		current = av[0]
	}
}

// panel is the column width of a packed panel of B: two zmm vectors, the
// width of the AVX-512 register tile; the AVX2 tile reads half a panel.
const panel = 32

// PackedB is the right-hand matrix of a GEMM laid out in column panels for
// the kernels. Its layout is the same for every path.
type PackedB struct {
	K, N int
	Data []float32 // ceil(N/panel) panels of K×panel, zero-padded
}

// PackedLen is the number of float32s a packed K×N matrix needs.
func PackedLen(k, n int) int { return ((n + panel - 1) / panel) * panel * k }

// PackB packs the K×N matrix b (row stride ldb) into a new PackedB.
func PackB(k, n int, b []float32, ldb int) *PackedB {
	pb := &PackedB{Data: make([]float32, PackedLen(k, n))}
	PackBInto(pb, k, n, b, ldb)
	return pb
}

// PackBInto packs b into dst, reusing dst.Data when it is large enough; for
// right-hand operands computed at run time.
func PackBInto(dst *PackedB, k, n int, b []float32, ldb int) {
	need := PackedLen(k, n)
	if cap(dst.Data) < need {
		dst.Data = make([]float32, need)
	}
	dst.Data = dst.Data[:need]
	dst.K, dst.N = k, n
	for p0 := 0; p0 < n; p0 += panel {
		w := min(panel, n-p0)
		base := (p0 / panel) * panel * k
		for kk := 0; kk < k; kk++ {
			row := dst.Data[base+kk*panel : base+kk*panel+panel]
			copy(row, b[kk*ldb+p0:kk*ldb+p0+w])
			clear(row[w:])
		}
	}
}

// Gemm computes C[m×n] = epilogue(A[m×k] · B) with A's row stride lda and C's
// ldc; n and k come from b.
func Gemm(m int, a []float32, lda int, b *PackedB, c []float32, ldc int, ep Epilogue) {
	if m == 0 || b.N == 0 {
		return
	}
	gemm(m, a, lda, b, c, ldc, &ep)
}

// DepthwiseParams describes an NHWC depthwise convolution with channel
// multiplier 1 (batch 1). Padding is given explicitly; out-of-image taps are
// zero.
type DepthwiseParams struct {
	H, W, C          int
	KH, KW           int
	StrideH, StrideW int
	DilH, DilW       int // 0 means 1
	PadTop, PadLeft  int
	OH, OW           int
}

// DepthwiseConv2D computes out[OH][OW][C] from in[H][W][C] and
// filter[KH][KW][C], then applies the epilogue per channel.
func DepthwiseConv2D(p DepthwiseParams, in, filter, out []float32, ep Epilogue) {
	if p.DilH == 0 {
		p.DilH = 1
	}
	if p.DilW == 0 {
		p.DilW = 1
	}
	depthwise(&p, in, filter, out, &ep)
}

// gemmPortable is the reference: every SIMD path must match it. Its sums
// stay in a panel-wide array the compiler indexes without bounds checks;
// that measured faster in Go than register-blocked scalar tiles, which spill.
func gemmPortable(m int, a []float32, lda int, b *PackedB, c []float32, ldc int, ep *Epilogue) {
	k, n := b.K, b.N
	var acc [panel]float32
	for p0 := 0; p0 < n; p0 += panel {
		w := min(panel, n-p0)
		pd := b.Data[(p0/panel)*panel*k : (p0/panel+1)*panel*k]
		for i := 0; i < m; i++ {
			acc = [panel]float32{}
			for kk, x := range a[i*lda : i*lda+k] {
				for j, v := range (*[panel]float32)(pd[kk*panel:]) {
					acc[j] += x * v
				}
			}
			cr := c[i*ldc+p0 : i*ldc+p0+w]
			copy(cr, acc[:])
			applyRow(cr, p0, ep)
		}
	}
}

func depthwisePortable(p *DepthwiseParams, in, filter, out []float32, ep *Epilogue) {
	c := p.C
	for oy := 0; oy < p.OH; oy++ {
		for ox := 0; ox < p.OW; ox++ {
			// Accumulate straight into the output pixel: no scratch to
			// allocate.
			acc := out[(oy*p.OW+ox)*c : (oy*p.OW+ox)*c+c]
			clear(acc)
			for ky := 0; ky < p.KH; ky++ {
				iy := oy*p.StrideH - p.PadTop + ky*p.DilH
				if iy < 0 || iy >= p.H {
					continue
				}
				for kx := 0; kx < p.KW; kx++ {
					ix := ox*p.StrideW - p.PadLeft + kx*p.DilW
					if ix < 0 || ix >= p.W {
						continue
					}
					src := in[(iy*p.W+ix)*c:][:len(acc)]
					f := filter[(ky*p.KW+kx)*c:][:len(acc)]
					for ch, x := range src {
						acc[ch] += x * f[ch]
					}
				}
			}
			applyRow(acc, 0, ep)
		}
	}
}
