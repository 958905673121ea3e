package nn

import (
	"os"
	"testing"
	"time"

	"github.com/portrait-id/portrait/nn/kernel"
)

func TestZZMicro2(t *testing.T) {
	if os.Getenv("NN_MICRO") == "" {
		t.Skip()
	}
	for _, c := range [][4]int{{256, 3, 5, 2}, {224, 3, 3, 2}, {63, 64, 3, 1}} {
		g, _ := Window{KH: c[2], KW: c[2], StrideH: c[3], StrideW: c[3], Padding: PadSame}.resolve(c[0], c[0], c[1])
		k := c[2] * c[2] * c[1]
		f := make([]float32, k*24)
		op := newConvOp(g, f, 24, kernel.Epilogue{})
		in := make([]float32, c[0]*c[0]*c[1])
		out := make([]float32, g.OH*g.OW*24)
		sc := make([]float32, op.scratchLen())
		best := func(fn func()) time.Duration {
			var b time.Duration
			for range 30 {
				t0 := time.Now()
				fn()
				if d := time.Since(t0); b == 0 || d < b {
					b = d
				}
			}
			return b
		}
		d1 := best(func() { op.run(in, out, sc, nil) })
		d2 := best(func() {
			for p0 := 0; p0 < g.OH*g.OW; p0 += op.tile {
				op.im2col(in, sc, p0, min(p0+op.tile, g.OH*g.OW))
			}
		})
		t.Logf("%v conv %v, im2col alone %v, tile %d", c, d1, d2, op.tile)
	}
}
