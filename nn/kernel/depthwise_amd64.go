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
// row that share one tap list.
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
		inStep: 4 * c * p.StrideW, outStep: 4 * c,
		mode: asmAct(ep.Act) << actShift,
		leak: ep.Leak,
	}
	if wide {
		args.cvec = 4 * (c &^ 15)
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
	// Output columns [lo,hi) read all KW taps inside the image, so one asm
	// call covers them per row; the few border columns go one by one.
	lo := max(0, ceilDiv(p.PadLeft, p.StrideW))
	hi := floorDiv(p.W-1-(p.KW-1)*p.DilW+p.PadLeft, p.StrideW) + 1
	lo = min(lo, p.OW)
	hi = max(lo, min(hi, p.OW))
	for oy := range p.OH {
		for ox := range lo {
			dwRun(p, &args, &taps, out, oy, ox, 1, wide, ep)
		}
		if hi > lo {
			dwRun(p, &args, &taps, out, oy, lo, hi-lo, wide, ep)
		}
		for ox := hi; ox < p.OW; ox++ {
			dwRun(p, &args, &taps, out, oy, ox, 1, wide, ep)
		}
	}
}

// dwRun computes npix output pixels from (oy, ox) on, all of which have the
// in-image taps of the first.
func dwRun(p *DepthwiseParams, a *dwArgs, taps *[2*maxTaps + 1]int, out []float32, oy, ox, npix int, wide bool, ep *Epilogue) {
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
	if wide {
		depthwise512(a)
	} else {
		depthwise256(a)
	}
	if ep.Act == ActElu || ep.Act == ActSigmoid {
		for px := range npix {
			activateRow(out[o+px*c:o+px*c+c], 0, ep)
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
