package kernel

// dwArgs is read by the depthwise kernels at fixed offsets (see
// internal/asmgen); keep the field order.
type dwArgs struct {
	out, in, filter *float32
	bias, alpha     *float32
	taps            *int // ntaps pairs of byte offsets, input (from in) and filter, then -1
	ntaps, c, npix  int
	inStep, outStep int // bytes between consecutive output pixels
	mode            int
	leak            float32
	cvec            int // bytes of channels in whole vectors
}

// depthwise512 and depthwise256 compute npix consecutive output pixels of a
// row that share one tap list; depthwise512 only for C%16 == 0.
//
//go:noescape
func depthwise512(p *dwArgs)

//go:noescape
func depthwise256(p *dwArgs)

// maxTaps bounds the on-stack tap list (7×7 filters and below).
const maxTaps = 64

func depthwiseSIMD(p *DepthwiseParams, in, filter, out []float32, ep *Epilogue, wide bool) {
	c := p.C
	if c <= 0 || p.OH <= 0 || p.OW <= 0 {
		return
	}
	if p.KH <= 0 || p.KW <= 0 || p.KH*p.KW > maxTaps {
		depthwisePortable(p, in, filter, out, ep)
		return
	}
	switch {
	case len(in) < p.H*p.W*c || len(filter) < p.KH*p.KW*c || len(out) < p.OH*p.OW*c:
		panic("kernel: DepthwiseConv2D: operand shorter than its shape")
	case ep.Bias != nil && len(ep.Bias) < c:
		panic("kernel: DepthwiseConv2D: bias shorter than C")
	case ep.Act == ActPrelu && len(ep.Alpha) < c:
		panic("kernel: DepthwiseConv2D: alpha shorter than C")
	}
	var taps [2*maxTaps + 1]int
	args := dwArgs{
		filter: &filter[0],
		taps:   &taps[0],
		c:      c,
		cvec:   4 * (c &^ 7),
		mode:   asmAct(ep.Act) << actShift,
		leak:   ep.Leak,
	}
	if wide {
		if c%16 != 0 {
			panic("kernel: depthwise512 takes whole vectors of channels only")
		}
		args.cvec = 4 * c
	}
	if len(in) > 0 {
		args.in = &in[0]
	}
	if ep.Bias != nil {
		args.bias = &ep.Bias[0]
		args.mode |= modeBias
	}
	if ep.Act == ActPrelu {
		args.alpha = &ep.Alpha[0]
	}
	// Output rows [ylo,yhi) and columns [xlo,xhi) read every tap inside the
	// image. Pixels that share their in-image taps and sit a fixed step
	// apart go to the kernels as one run: the interior of each row, and
	// each border column down the interior rows. Only the corners and the
	// border rows go a pixel at a time.
	ylo, yhi := interior(p.PadTop, p.StrideH, p.H, p.KH, p.DilH, p.OH)
	xlo, xhi := interior(p.PadLeft, p.StrideW, p.W, p.KW, p.DilW, p.OW)
	across := [2]int{4 * c * p.StrideW, 4 * c}
	down := [2]int{4 * c * p.W * p.StrideH, 4 * c * p.OW}
	for oy := range p.OH {
		inner := oy >= ylo && oy < yhi
		for ox := 0; ox < xlo && !inner; ox++ {
			dwRun(p, &args, &taps, out, oy, ox, 1, across, wide, ep)
		}
		if xhi > xlo {
			dwRun(p, &args, &taps, out, oy, xlo, xhi-xlo, across, wide, ep)
		}
		for ox := xhi; ox < p.OW && !inner; ox++ {
			dwRun(p, &args, &taps, out, oy, ox, 1, across, wide, ep)
		}
	}
	if yhi > ylo {
		for ox := range xlo {
			dwRun(p, &args, &taps, out, ylo, ox, yhi-ylo, down, wide, ep)
		}
		for ox := xhi; ox < p.OW; ox++ {
			dwRun(p, &args, &taps, out, ylo, ox, yhi-ylo, down, wide, ep)
		}
	}
}

// interior is the range of outputs along one axis whose k taps all fall
// inside [0,size), clamped to [0,out) and empty as lo == hi.
func interior(pad, stride, size, k, dil, out int) (lo, hi int) {
	lo = min(max(0, ceilDiv(pad, stride)), out)
	hi = floorDiv(size-1-(k-1)*dil+pad, stride) + 1
	return lo, max(lo, min(hi, out))
}

// dwRun computes npix output pixels from (oy, ox) on, step[0] input and
// step[1] output bytes apart, all of which have the in-image taps of the
// first.
func dwRun(p *DepthwiseParams, a *dwArgs, taps *[2*maxTaps + 1]int, out []float32, oy, ox, npix int, step [2]int, wide bool, ep *Epilogue) {
	c := p.C
	iy0 := oy*p.StrideH - p.PadTop
	ix0 := ox*p.StrideW - p.PadLeft
	nt := 0
	for ky := range p.KH {
		iy := iy0 + ky*p.DilH
		if iy < 0 || iy >= p.H {
			continue
		}
		for kx := range p.KW {
			ix := ix0 + kx*p.DilW
			if ix < 0 || ix >= p.W {
				continue
			}
			taps[2*nt] = 4 * c * (iy*p.W + ix)
			taps[2*nt+1] = 4 * c * (ky*p.KW + kx)
			nt++
		}
	}
	taps[2*nt] = -1
	o := (oy*p.OW + ox) * c
	a.ntaps, a.npix, a.out = nt, npix, &out[o]
	a.inStep, a.outStep = step[0], step[1]
	if wide {
		depthwise512(a)
	} else {
		depthwise256(a)
	}
	if ep.Act == ActElu || ep.Act == ActSigmoid {
		for px := range npix {
			po := o + px*step[1]/4
			activateRow(out[po:po+c], 0, ep)
		}
	}
}

func ceilDiv(a, b int) int { return -floorDiv(-a, b) }

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && (a < 0) != (b < 0) {
		q--
	}
	return q
}
