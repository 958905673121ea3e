package kernel

// maxPool512 and maxPool256 pool npix windows of one output row, c
// channels each: windows step bytes apart, lower rows row bytes below.
//
//go:noescape
func maxPool512(out, in *float32, row, npix, c, step int)

//go:noescape
func maxPool256(out, in *float32, row, npix, c, step int)

// maxPoolSIMD pools n windows of one output row; MaxPool2x2 has checked
// that they lie inside in and out.
func maxPoolSIMD(p *MaxPool2x2Params, in, out []float32, n int, wide bool) {
	row, step := 4*p.W*p.C, 4*p.StrideW*p.C
	if wide {
		maxPool512(&out[0], &in[0], row, n, p.C, step)
	} else {
		maxPool256(&out[0], &in[0], row, n, p.C, step)
	}
}
