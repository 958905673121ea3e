package nn

import (
	"fmt"
	"math"

	"github.com/portrait-id/portrait/nn/kernel"
)

// Padding selects how a window op pads its input, with TensorFlow's rules.
type Padding uint8

const (
	PadValid    Padding = iota // no padding; windows stay inside the input
	PadSame                    // output size ceil(in/stride), extra pad at the end
	PadExplicit                // Window.Top/Bottom/Left/Right
)

// Window is the geometry shared by convolutions and pools.
type Window struct {
	KH, KW           int
	StrideH, StrideW int // 0 means 1
	DilH, DilW       int // 0 means 1
	Padding          Padding
	// Explicit padding, used when Padding is PadExplicit.
	Top, Bottom, Left, Right int
}

// geometry is a window resolved against an input size.
type geometry struct {
	H, W, C         int
	KH, KW          int
	SH, SW, DH, DW  int
	PadTop, PadLeft int
	OH, OW          int
}

func (w Window) resolve(h, wd, c int) (geometry, error) {
	g := geometry{H: h, W: wd, C: c, KH: w.KH, KW: w.KW, SH: max(w.StrideH, 1), SW: max(w.StrideW, 1), DH: max(w.DilH, 1), DW: max(w.DilW, 1)}
	if g.KH <= 0 || g.KW <= 0 {
		return g, fmt.Errorf("window %dx%d", g.KH, g.KW)
	}
	ekh, ekw := (g.KH-1)*g.DH+1, (g.KW-1)*g.DW+1
	switch w.Padding {
	case PadValid:
		g.OH, g.OW = ceilDiv(h-ekh+1, g.SH), ceilDiv(wd-ekw+1, g.SW)
	case PadSame:
		g.OH, g.OW = ceilDiv(h, g.SH), ceilDiv(wd, g.SW)
		g.PadTop = max((g.OH-1)*g.SH+ekh-h, 0) / 2
		g.PadLeft = max((g.OW-1)*g.SW+ekw-wd, 0) / 2
	case PadExplicit:
		if w.Top < 0 || w.Bottom < 0 || w.Left < 0 || w.Right < 0 {
			return g, fmt.Errorf("negative padding %d,%d,%d,%d", w.Top, w.Bottom, w.Left, w.Right)
		}
		g.PadTop, g.PadLeft = w.Top, w.Left
		g.OH = (h+w.Top+w.Bottom-ekh)/g.SH + 1
		g.OW = (wd+w.Left+w.Right-ekw)/g.SW + 1
	default:
		return g, fmt.Errorf("padding mode %d", w.Padding)
	}
	if g.OH <= 0 || g.OW <= 0 {
		return g, fmt.Errorf("window %dx%d does not fit input %dx%d", g.KH, g.KW, h, wd)
	}
	return g, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// convOp is a prepared NHWC convolution: weights packed for kernel.Gemm and
// the epilogue fixed, so Forward only reorders input and multiplies.
type convOp struct {
	g      geometry
	cout   int
	k      int // KH*KW*C, the GEMM depth
	packed *kernel.PackedB
	ep     kernel.Epilogue
	direct bool // 1×1, stride 1, no padding: the input is the A matrix
	tile   int  // output pixels per tile
	band   int  // output rows per band when a depthwise runs first (runBands)
	// inPlace: output columns [xlo, xhi) of a row read their windows from
	// the input in place (runInPlace)
	inPlace  bool
	xlo, xhi int

	// residual add and activation after it, in the GEMM epilogue
	res       bool
	resC      int
	resPool   *kernel.MaxPool2x2Params // the shortcut is this pool of res
	post      kernel.Activation
	postAlpha []float32
}

// im2colBudget bounds an im2col tile (in float32s) so it stays in L2.
const im2colBudget = 1 << 16

// resTileBudget bounds the output tile (in float32s) of a residual add.
const resTileBudget = 1 << 13

func newConvOp(g geometry, filter []float32, cout int, ep kernel.Epilogue) *convOp {
	op := makeConvOp(g, kernel.PackB(g.KH*g.KW*g.C, cout, filter, cout), ep)
	return &op
}

// makeConvOp prepares a convolution over already packed weights.
func makeConvOp(g geometry, packed *kernel.PackedB, ep kernel.Epilogue) convOp {
	k := g.KH * g.KW * g.C
	op := convOp{g: g, cout: packed.N, k: k, ep: ep, packed: packed}
	op.direct = g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PadTop == 0 && g.PadLeft == 0 && g.OH == g.H && g.OW == g.W
	op.tile = min(max(im2colBudget/k, 8), g.OH*g.OW)
	if op.direct {
		// Only a residual add tiles a direct product: keep the output tile
		// in L1/L2 until the add reads it back.
		op.tile = min(max(resTileBudget/op.cout, 8), g.OH*g.OW)
	}
	if !op.direct && g.DW == 1 && g.W >= g.KW {
		op.xlo = min(ceilDiv(g.PadLeft, g.SW), g.OW)
		op.xhi = min((g.W-g.KW+g.PadLeft)/g.SW+1, g.OW)
		op.inPlace = op.xhi-op.xlo >= inPlaceMin
	}
	return op
}

// inPlaceMin is the fewest interior columns worth a product of their own
// (two AVX-512 row tiles): narrower rows multiply better as im2col tiles
// that span rows.
const inPlaceMin = 28

// setResidual adds a shortcut of resC ≤ cout channels (the rest zero
// padding; the 2×2 max pool of the step's res input when pool is set) to
// the output before the activation post. The GEMM's epilogue adds it while
// the tile is in registers, so the convolution's own epilogue must not
// activate (fuse absorbs a residual only then).
func (op *convOp) setResidual(resC int, pool *poolOp, post kernel.Activation, postAlpha []float32) {
	if op.ep.Act != kernel.ActNone || resC < 1 || resC > op.cout {
		panic(fmt.Sprintf("nn: residual of %d channels after a convolution to %d activated by %d", resC, op.cout, op.ep.Act))
	}
	op.res, op.resC, op.post, op.postAlpha = true, resC, post, postAlpha
	if pool != nil {
		p := pool.params()
		op.resPool = &p
	}
	op.ep.Act, op.ep.Alpha, op.ep.ResidualStride = post, postAlpha, resC
	if resC < op.cout {
		op.ep.ResidualCols = resC
	}
}

// residual returns the shortcut of output pixels [p0, p1): rows of res, or
// their pool computed into buf (poolLen floats).
func (op *convOp) residual(res, buf []float32, p0, p1 int) []float32 {
	if op.resPool == nil {
		return res[p0*op.resC : p1*op.resC]
	}
	r := buf[:(p1-p0)*op.resC]
	kernel.MaxPool2x2(*op.resPool, res, r, p0, p1)
	return r
}

// poolLen is the scratch a pooled shortcut of npix pixels needs.
func (op *convOp) poolLen(npix int) int {
	if op.resPool == nil {
		return 0
	}
	return npix * op.resC
}

// gemm multiplies rows a into o, output pixels [p0, p1), adding r, their
// residual rows, if the op has one.
func (op *convOp) gemm(a []float32, lda int, o, r []float32, p0, p1 int) {
	ep := op.ep
	ep.Residual = r
	kernel.Gemm(p1-p0, a, lda, op.packed, o, op.cout, ep)
}

// scratchLen is run's scratch: an im2col tile, then a pooled shortcut tile.
func (op *convOp) scratchLen() int {
	n := op.poolLen(op.tile)
	if !op.direct {
		n += op.tile * op.k
	}
	return n
}

// bandScratchLen is runBands' scratch: a depthwise band, then a pooled
// shortcut band.
func (op *convOp) bandScratchLen() int {
	return op.band*op.g.W*op.g.C + op.poolLen(op.band*op.g.OW)
}

func (op *convOp) flops() int64 { return 2 * int64(op.g.OH*op.g.OW) * int64(op.k) * int64(op.cout) }

func (op *convOp) run(in, out, scratch, res []float32) {
	g := &op.g
	npix := g.OH * g.OW
	switch {
	case op.direct && op.resPool == nil:
		var r []float32
		if op.res {
			r = res[:npix*op.resC]
		}
		op.gemm(in, g.C, out, r, 0, npix)
	case op.inPlace && !op.res:
		op.runInPlace(in, out, scratch)
	default:
		op.runTiles(in, out, scratch, res, 0, npix)
	}
}

// runInPlace multiplies the interior of each output row, whose windows lie
// inside the input, reading them in place (kernel.GemmSlices, one run per
// filter row) instead of copying every window with im2col: on blazeface's
// first layer, 3 channels in 15-float runs, the copies cost more than the
// product. The row's edges and the border rows go through im2col.
func (op *convOp) runInPlace(in, out, scratch []float32) {
	g := &op.g
	for oy := 0; oy < g.OH; oy++ {
		p0, p1 := oy*g.OW, (oy+1)*g.OW
		iy := oy*g.SH - g.PadTop
		if iy < 0 || iy+(g.KH-1)*g.DH >= g.H {
			op.runTiles(in, out, scratch, nil, p0, p1)
			continue
		}
		op.runTiles(in, out, scratch, nil, p0, p0+op.xlo)
		ix := op.xlo*g.SW - g.PadLeft
		kernel.GemmSlices(op.xhi-op.xlo, in[(iy*g.W+ix)*g.C:], g.SW*g.C, g.KW*g.C, g.DH*g.W*g.C,
			op.packed, out[(p0+op.xlo)*op.cout:], op.cout, op.ep)
		op.runTiles(in, out, scratch, nil, p0+op.xhi, p1)
	}
}

// runTiles computes output pixels [p0, p1) a tile at a time.
func (op *convOp) runTiles(in, out, scratch, res []float32, p0, p1 int) {
	g := &op.g
	pbuf := scratch[op.scratchLen()-op.poolLen(op.tile):]
	for ; p0 < p1; p0 += op.tile {
		p1 := min(p0+op.tile, p1)
		o := out[p0*op.cout : p1*op.cout]
		var r []float32
		if op.res {
			r = op.residual(res, pbuf, p0, p1)
		}
		if op.direct {
			op.gemm(in[p0*g.C:], g.C, o, r, p0, p1)
		} else {
			op.im2col(in, scratch[:op.tile*op.k], p0, p1)
			op.gemm(scratch, op.k, o, r, p0, p1)
		}
	}
}

// dwBandBudget bounds a band of depthwise output (in float32s) so it is
// still in L1/L2 when the pointwise product reads it.
const dwBandBudget = 1 << 14

func (op *convOp) setBand(dw *depthwiseOp) {
	// At least 64 product rows per band, or the GEMM runs at a loss.
	op.band = min(max(dwBandBudget/(op.g.W*op.g.C), ceilDiv(64, op.g.OW)), op.g.OH)
}

// runBands computes this 1×1 convolution of dw(in): each band of rows goes
// through the depthwise into scratch, then straight into the product.
func (op *convOp) runBands(dw *depthwiseOp, in, out, scratch, res []float32) {
	g := &op.g
	for y0 := 0; y0 < g.OH; y0 += op.band {
		y1 := min(y0+op.band, g.OH)
		p, src := dw.band(in, y0, y1)
		a := scratch[:(y1-y0)*g.W*g.C]
		kernel.DepthwiseConv2D(p, src, dw.filter, a, dw.ep)
		p0, p1 := y0*g.OW, y1*g.OW
		var r []float32
		if op.res {
			r = op.residual(res, scratch[op.band*g.W*g.C:], p0, p1)
		}
		op.gemm(a, g.C, out[p0*op.cout:p1*op.cout], r, p0, p1)
	}
}

// relu clears negative values by their sign bit: branch-free, since signs
// in activations are unpredictable.
func relu(v float32) float32 {
	b := math.Float32bits(v)
	return math.Float32frombits(b &^ uint32(int32(b)>>31))
}

// im2col writes one row of K values per output pixel in [p0, p1), in the
// filter's (ky, kx, c) order.
func (op *convOp) im2col(in, dst []float32, p0, p1 int) {
	g := &op.g
	c, kw, w, h := g.C, g.KW, g.W, g.H
	run := kw * c // one filter row of one pixel
	oy, ox := p0/g.OW, p0%g.OW
	d := 0
	for p := p0; p < p1; p++ {
		ix0 := ox*g.SW - g.PadLeft
		inside := g.DW == 1 && ix0 >= 0 && ix0+kw <= w
		iy := oy*g.SH - g.PadTop
		for ky := 0; ky < g.KH; ky, iy = ky+1, iy+g.DH {
			row := dst[d : d+run]
			d += run
			switch {
			case iy < 0 || iy >= h:
				clear(row)
			case inside:
				// The whole filter row is inside the image: one contiguous run.
				copy(row, in[(iy*w+ix0)*c:])
			default:
				op.im2colEdge(row, in[iy*w*c:(iy+1)*w*c], ix0)
			}
		}
		if ox++; ox == g.OW {
			ox = 0
			oy++
		}
	}
}

// im2colEdge fills one filter row that crosses the image's left or right
// edge (or is dilated) tap by tap.
func (op *convOp) im2colEdge(dst, row []float32, ix0 int) {
	g := &op.g
	c := g.C
	for kx := 0; kx < g.KW; kx++ {
		ix := ix0 + kx*g.DW
		seg := dst[kx*c : kx*c+c]
		if ix < 0 || ix >= g.W {
			clear(seg)
		} else {
			copy(seg, row[ix*c:])
		}
	}
}

// depthwiseOp is a prepared depthwise convolution. A channel multiplier M > 1
// is run as multiplier 1 over the input with each channel repeated M times,
// which matches the [KH,KW,C,M] filter flattened to [KH,KW,C*M].
type depthwiseOp struct {
	p      kernel.DepthwiseParams
	mult   int
	filter []float32
	ep     kernel.Epilogue
}

func newDepthwiseOp(g geometry, filter []float32, mult int, ep kernel.Epilogue) *depthwiseOp {
	op := makeDepthwiseOp(g, filter, mult, ep)
	return &op
}

func makeDepthwiseOp(g geometry, filter []float32, mult int, ep kernel.Epilogue) depthwiseOp {
	return depthwiseOp{
		p: kernel.DepthwiseParams{H: g.H, W: g.W, C: g.C * mult, KH: g.KH, KW: g.KW, StrideH: g.SH, StrideW: g.SW,
			DilH: g.DH, DilW: g.DW, PadTop: g.PadTop, PadLeft: g.PadLeft, OH: g.OH, OW: g.OW},
		mult: mult, filter: filter, ep: ep,
	}
}

// band returns the parameters and input that compute output rows [y0, y1)
// alone: the input rows they read, with the top padding only the first
// band has.
func (op *depthwiseOp) band(in []float32, y0, y1 int) (kernel.DepthwiseParams, []float32) {
	p := op.p
	r0 := y0*p.StrideH - p.PadTop
	r1 := (y1-1)*p.StrideH - p.PadTop + (p.KH-1)*max(p.DilH, 1) + 1
	start, end := max(r0, 0), min(r1, p.H)
	p.PadTop = start - r0
	p.H = end - start
	p.OH = y1 - y0
	return p, in[start*p.W*p.C:]
}

func (op *depthwiseOp) scratchLen() int {
	if op.mult == 1 {
		return 0
	}
	return op.p.H * op.p.W * op.p.C
}

func (op *depthwiseOp) flops() int64 {
	return 2 * int64(op.p.OH*op.p.OW) * int64(op.p.C) * int64(op.p.KH*op.p.KW)
}

func (op *depthwiseOp) run(in, out, scratch []float32) {
	if op.mult > 1 {
		c := op.p.C / op.mult
		d := 0
		for _, v := range in[:op.p.H*op.p.W*c] {
			for range op.mult {
				scratch[d] = v
				d++
			}
		}
		in = scratch
	}
	kernel.DepthwiseConv2D(op.p, in, op.filter, out, op.ep)
}

// poolOp is max or average pooling. Padded taps are ignored: a max never
// sees them and an average divides by the taps inside the input, as in TF.
type poolOp struct {
	g   geometry
	avg bool
}

// fast2x2 reports whether this is a 2×2 max pool with every window inside
// the input.
func (op *poolOp) fast2x2() bool {
	g := &op.g
	return !op.avg && g.KH == 2 && g.KW == 2 && g.DH == 1 && g.DW == 1 && g.PadTop == 0 && g.PadLeft == 0 &&
		(g.OH-1)*g.SH+2 <= g.H && (g.OW-1)*g.SW+2 <= g.W
}

func (op *poolOp) run(in, out []float32) {
	g := &op.g
	if op.fast2x2() {
		kernel.MaxPool2x2(op.params(), in, out, 0, g.OH*g.OW)
		return
	}
	c := g.C
	for oy := 0; oy < g.OH; oy++ {
		y0 := oy*g.SH - g.PadTop
		for ox := 0; ox < g.OW; ox++ {
			x0 := ox*g.SW - g.PadLeft
			dst := out[(oy*g.OW+ox)*c : (oy*g.OW+ox)*c+c]
			n := 0
			for ky := 0; ky < g.KH; ky++ {
				iy := y0 + ky*g.DH
				if iy < 0 || iy >= g.H {
					continue
				}
				for kx := 0; kx < g.KW; kx++ {
					ix := x0 + kx*g.DW
					if ix < 0 || ix >= g.W {
						continue
					}
					src := in[(iy*g.W+ix)*c : (iy*g.W+ix)*c+c]
					switch {
					case n == 0:
						copy(dst, src)
					case op.avg:
						for i, v := range src {
							dst[i] += v
						}
					default:
						for i, v := range src {
							dst[i] = max(dst[i], v)
						}
					}
					n++
				}
			}
			if op.avg && n > 0 {
				inv := 1 / float32(n)
				for i := range dst {
					dst[i] *= inv
				}
			}
		}
	}
}

// params is the kernel's description of a fast2x2 pool.
func (op *poolOp) params() kernel.MaxPool2x2Params {
	g := &op.g
	return kernel.MaxPool2x2Params{H: g.H, W: g.W, C: g.C, StrideH: g.SH, StrideW: g.SW, OH: g.OH, OW: g.OW}
}

// maxRank bounds tensor rank for the ops that index by coordinates, so they
// keep their counters on the stack.
const maxRank = 6

// padOp pads with zeros; before and after are per dimension.
type padOp struct {
	inShape, outShape []int
	before            []int
}

func (op *padOp) run(in, out []float32) {
	clear(out)
	r := len(op.inShape)
	if r == 0 {
		copy(out, in)
		return
	}
	// Copy whole innermost rows; iterate the outer coordinates.
	inner := op.inShape[r-1]
	var idx [maxRank]int
	rows := len(in) / max(inner, 1)
	for row := 0; row < rows; row++ {
		off := 0
		for d := 0; d < r-1; d++ {
			off = off*op.outShape[d] + idx[d] + op.before[d]
		}
		off = off*op.outShape[r-1] + op.before[r-1]
		copy(out[off:off+inner], in[row*inner:row*inner+inner])
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			if idx[d] < op.inShape[d] {
				break
			}
			idx[d] = 0
		}
	}
}

// binaryKind is an elementwise op of two broadcast operands.
type binaryKind uint8

const (
	binAdd binaryKind = iota
	binSub
	binMul
	binDiv
	binMax
	binMin
	binPrelu
	binSquaredDiff
)

func (k binaryKind) apply(a, b float32) float32 {
	switch k {
	case binAdd:
		return a + b
	case binSub:
		return a - b
	case binMul:
		return a * b
	case binDiv:
		return a / b
	case binMax:
		return max(a, b)
	case binMin:
		return min(a, b)
	case binPrelu:
		if a < 0 {
			return a * b
		}
		return a
	}
	d := a - b
	return d * d
}

// binaryOp broadcasts with NumPy rules. The strides of each operand are
// precomputed against the output shape (0 on broadcast dimensions).
type binaryOp struct {
	kind     binaryKind
	outShape []int
	sa, sb   []int
	na, nb   int // element counts, for the fast paths
}

func newBinaryOp(kind binaryKind, a, b []int) (*binaryOp, error) {
	out, err := broadcastShape(a, b)
	if err != nil {
		return nil, err
	}
	if len(out) > maxRank {
		return nil, fmt.Errorf("rank %d above %d", len(out), maxRank)
	}
	return &binaryOp{kind: kind, outShape: out, sa: bstrides(a, out), sb: bstrides(b, out), na: numel(a), nb: numel(b)}, nil
}

func broadcastShape(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := range r {
		da, db := 1, 1
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

func bstrides(s, out []int) []int {
	st := make([]int, len(out))
	acc := 1
	for i := len(out) - 1; i >= 0; i-- {
		j := i - (len(out) - len(s))
		if j >= 0 && s[j] != 1 {
			st[i] = acc
			acc *= s[j]
		}
	}
	return st
}

func numel(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func (op *binaryOp) run(a, b, out []float32) {
	n := len(out)
	k := op.kind
	switch {
	case op.na == n && op.nb == n:
		for i := range out {
			out[i] = k.apply(a[i], b[i])
		}
	case op.na == n && op.nb == 1:
		bv := b[0]
		for i := range out {
			out[i] = k.apply(a[i], bv)
		}
	case op.nb == n && op.na == 1:
		av := a[0]
		for i := range out {
			out[i] = k.apply(av, b[i])
		}
	case op.na == n && op.trailing(op.sb):
		// b varies along the innermost dimensions only (a per-channel vector).
		for i := 0; i < n; i += op.nb {
			o, x := out[i:i+op.nb], a[i:i+op.nb]
			for j, bv := range b[:op.nb] {
				o[j] = k.apply(x[j], bv)
			}
		}
	case op.nb == n && op.trailing(op.sa):
		for i := 0; i < n; i += op.na {
			o, y := out[i:i+op.na], b[i:i+op.na]
			for j, av := range a[:op.na] {
				o[j] = k.apply(av, y[j])
			}
		}
	default:
		op.general(a, b, out)
	}
}

// trailing reports whether an operand with strides st is contiguous over
// the trailing output dimensions it spans and broadcast over the rest.
func (op *binaryOp) trailing(st []int) bool {
	acc := 1
	i := len(st) - 1
	for ; i >= 0 && st[i] == acc && op.outShape[i] > 1; i-- {
		acc *= op.outShape[i]
	}
	for ; i >= 0; i-- {
		if st[i] != 0 && op.outShape[i] > 1 {
			return false
		}
	}
	return true
}

func (op *binaryOp) general(a, b, out []float32) {
	r := len(op.outShape)
	var idx [maxRank]int
	ia, ib := 0, 0
	for i := range out {
		out[i] = op.kind.apply(a[ia], b[ib])
		for d := r - 1; d >= 0; d-- {
			idx[d]++
			ia += op.sa[d]
			ib += op.sb[d]
			if idx[d] < op.outShape[d] {
				break
			}
			ia -= op.sa[d] * idx[d]
			ib -= op.sb[d] * idx[d]
			idx[d] = 0
		}
	}
}

// unaryKind is an elementwise op of one operand.
type unaryKind uint8

const (
	unRelu unaryKind = iota
	unRelu6
	unAbs
	unSquare
	unRsqrt
	unSqrt
	unSigmoid
	unTanh
	unExp
	unNeg
	unElu
)

func (k unaryKind) run(in, out []float32) {
	switch k {
	case unRelu:
		for i, v := range in {
			out[i] = relu(v)
		}
	case unRelu6:
		for i, v := range in {
			out[i] = min(max(v, 0), 6)
		}
	case unAbs:
		for i, v := range in {
			out[i] = float32(math.Abs(float64(v)))
		}
	case unSquare:
		for i, v := range in {
			out[i] = v * v
		}
	case unRsqrt:
		for i, v := range in {
			out[i] = float32(1 / math.Sqrt(float64(v)))
		}
	case unSqrt:
		for i, v := range in {
			out[i] = float32(math.Sqrt(float64(v)))
		}
	case unSigmoid:
		for i, v := range in {
			out[i] = float32(1 / (1 + math.Exp(-float64(v))))
		}
	case unTanh:
		for i, v := range in {
			out[i] = float32(math.Tanh(float64(v)))
		}
	case unExp:
		for i, v := range in {
			out[i] = float32(math.Exp(float64(v)))
		}
	case unNeg:
		for i, v := range in {
			out[i] = -v
		}
	case unElu:
		for i, v := range in {
			if v < 0 {
				v = float32(math.Expm1(float64(v)))
			}
			out[i] = v
		}
	}
}

// reduceOp sums (or averages) over a set of axes. The input is walked once;
// each element adds into the output cell its kept coordinates select.
type reduceOp struct {
	inShape []int
	ostride [maxRank]int // output stride per input dimension, 0 on reduced axes
	mean    bool
	count   int // elements per output cell
}

func newReduceOp(inShape []int, axes []int, mean bool) (reduceOp, dims, error) {
	r := len(inShape)
	if r > maxRank {
		return reduceOp{}, dims{}, fmt.Errorf("rank %d above %d", r, maxRank)
	}
	// Fixed-size arrays, not slices: Mean builds this op on every call of a
	// hand-written network, which must not allocate.
	var red [maxRank]bool
	for _, a := range axes {
		if a < 0 {
			a += r
		}
		if a < 0 || a >= r {
			return reduceOp{}, dims{}, fmt.Errorf("axis %d out of rank %d", a, r)
		}
		red[a] = true
	}
	op := reduceOp{inShape: inShape, mean: mean, count: 1}
	kept := dims{r: r}
	acc := 1
	for i := r - 1; i >= 0; i-- {
		if red[i] {
			op.count *= inShape[i]
			kept.d[i] = 1
			continue
		}
		op.ostride[i] = acc
		acc *= inShape[i]
		kept.d[i] = inShape[i]
	}
	return op, kept, nil
}

func (op *reduceOp) run(in, out []float32) {
	clear(out)
	r := len(op.inShape)
	var idx [maxRank]int
	o := 0
	for _, v := range in {
		out[o] += v
		for d := r - 1; d >= 0; d-- {
			idx[d]++
			o += op.ostride[d]
			if idx[d] < op.inShape[d] {
				break
			}
			o -= op.ostride[d] * idx[d]
			idx[d] = 0
		}
	}
	if op.mean {
		inv := 1 / float32(op.count)
		for i := range out {
			out[i] *= inv
		}
	}
}

// softmax normalizes each run of n values (the last axis).
func softmax(in, out []float32, n int) {
	for i := 0; i < len(in); i += n {
		x, y := in[i:i+n], out[i:i+n]
		m := x[0]
		for _, v := range x {
			m = max(m, v)
		}
		var s float32
		for j, v := range x {
			e := float32(math.Exp(float64(v - m)))
			y[j] = e
			s += e
		}
		inv := 1 / s
		for j := range y {
			y[j] *= inv
		}
	}
}

// concatOp joins inputs along an axis: for each of outer slices, each
// input contributes its chunk of contiguous values in turn.
type concatOp struct {
	outer  int
	chunks []int
}

func (op *concatOp) run(b [][]float32, ins []int, out []float32) {
	d := 0
	for o := 0; o < op.outer; o++ {
		for i, id := range ins {
			c := op.chunks[i]
			d += copy(out[d:d+c], b[id][o*c:o*c+c])
		}
	}
}

// viewOp copies a strided view of its input: output element idx is input
// element base + Σ idx[d]·st[d]. A transpose permutes the input strides; a
// slice offsets and steps them.
type viewOp struct {
	outShape []int
	st       [maxRank]int
	base     int
}

// inStrides are the row-major strides of a shape.
func inStrides(in []int) [maxRank]int {
	var st [maxRank]int
	acc := 1
	for i := len(in) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= in[i]
	}
	return st
}

// newTransposeOp permutes the axes: output axis d is input axis perm[d].
func newTransposeOp(in, perm []int) (*viewOp, error) {
	r := len(in)
	if len(perm) != r || r > maxRank {
		return nil, fmt.Errorf("permutation %v for shape %v", perm, in)
	}
	istride := inStrides(in)
	op := &viewOp{outShape: make([]int, r)}
	seen := [maxRank]bool{}
	for d, p := range perm {
		if p < 0 || p >= r || seen[p] {
			return nil, fmt.Errorf("permutation %v", perm)
		}
		seen[p] = true
		op.outShape[d] = in[p]
		op.st[d] = istride[p]
	}
	return op, nil
}

// newSliceOp takes elements begin[d], begin[d]+step[d], … below end[d] on
// every axis d; begin and end are already clamped to the shape.
func newSliceOp(in, begin, end, step []int) (*viewOp, error) {
	r := len(in)
	if len(begin) != r || len(end) != r || len(step) != r || r > maxRank {
		return nil, fmt.Errorf("slice %v:%v:%v of shape %v", begin, end, step, in)
	}
	istride := inStrides(in)
	op := &viewOp{outShape: make([]int, r)}
	for d := range r {
		if step[d] < 1 || begin[d] < 0 || end[d] > in[d] || begin[d] > end[d] {
			return nil, fmt.Errorf("slice %v:%v:%v of shape %v", begin, end, step, in)
		}
		op.outShape[d] = ceilDiv(end[d]-begin[d], step[d])
		op.st[d] = istride[d] * step[d]
		op.base += begin[d] * istride[d]
	}
	return op, nil
}

func (op *viewOp) run(in, out []float32) {
	r := len(op.outShape)
	if r == 0 {
		copy(out, in[op.base:op.base+1])
		return
	}
	if len(out) == 0 {
		return
	}
	var idx [maxRank]int
	inner, ist := op.outShape[r-1], op.st[r-1]
	o := op.base
	for i := 0; i < len(out); i += inner {
		if ist == 1 {
			copy(out[i:i+inner], in[o:])
		} else {
			for j := range out[i : i+inner] {
				out[i+j] = in[o+j*ist]
			}
		}
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			o += op.st[d]
			if idx[d] < op.outShape[d] {
				break
			}
			o -= op.st[d] * idx[d]
			idx[d] = 0
		}
	}
}
