package jpeg

import (
	"math"
	"math/rand/v2"
	"testing"
)

// reducedIDCT is the definition the fixed-point reduced IDCTs implement: the
// JPEG IDCT of the top-left n×n coefficients evaluated at the centres of the
// (8/n)×(8/n) pixel groups, level-shifted and clamped but not rounded.
func reducedIDCT(coef *block, n int) []float64 {
	k := 8 / n
	out := make([]float64, n*n)
	for y := range n {
		for x := range n {
			cx, cy := float64(k*x)+float64(k-1)/2, float64(k*y)+float64(k-1)/2
			var s float64
			for v := range n {
				for u := range n {
					cu, cv := 1.0, 1.0
					if u == 0 {
						cu = math.Sqrt2 / 2
					}
					if v == 0 {
						cv = math.Sqrt2 / 2
					}
					s += cu * cv * float64(coef[8*v+u]) *
						math.Cos((2*cx+1)*float64(u)*math.Pi/16) *
						math.Cos((2*cy+1)*float64(v)*math.Pi/16)
				}
			}
			out[y*n+x] = math.Max(0, math.Min(255, s/4+128))
		}
	}
	return out
}

// TestReducedIDCTMatchesDefinition checks the fixed-point arithmetic, not
// the approach: on random blocks with coefficients of the size an 8-bit
// image produces, each output is the exact value correctly rounded (2×2 and
// 1×1, which only add and shift), or within 0.6 of it (4×4, whose 13-bit
// constants and rounded first pass add a few hundredths of a level to the
// ½ of the final rounding; 0.556 measured).
func TestReducedIDCTMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var q block
	for i := range q {
		q[i] = 1 + rng.Int32N(8)
	}
	for _, tc := range []struct {
		name string
		n    int
		idct func(dst []byte, stride int, b, q *block)
		tol  float64
	}{
		{"4x4", 4, idct4x4, 0.6},
		// The slack above ½ absorbs float error at exact ties.
		{"2x2", 2, idct2x2, 0.5 + 1e-9},
		{"1x1", 1, func(dst []byte, _ int, b, q *block) { idct1x1(dst, b, q) }, 0.5 + 1e-9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var worst float64
			for iter := range 20000 {
				var b, coef block
				// Flat blocks, gentle ones and ones with every coefficient
				// large, so that clamping happens too.
				scale := []int32{0, 8, 64, 300}[iter%4]
				b[0] = rng.Int32N(2048/q[0]) - 1024/q[0]
				for i := 1; i < blockSize; i++ {
					if scale > 0 {
						b[i] = (rng.Int32N(2*scale+1) - scale) / q[i]
					}
				}
				for i := range coef {
					coef[i] = b[i] * q[i]
				}
				want := reducedIDCT(&coef, tc.n)
				stride := 8 + iter%3 // the IDCTs must honour the stride
				dst := make([]byte, stride*tc.n)
				tc.idct(dst, stride, &b, &q)
				for y := range tc.n {
					for x := range tc.n {
						got, w := float64(dst[y*stride+x]), want[y*tc.n+x]
						if d := math.Abs(got - w); d > tc.tol {
							t.Fatalf("block %v: pixel (%d, %d) = %v, want %.3f", coef, x, y, got, w)
						} else {
							worst = math.Max(worst, d)
						}
					}
				}
			}
			t.Logf("largest error %.3f levels", worst)
		})
	}
}
