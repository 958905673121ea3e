package face

import "math"

// Point is a position in the upright source image, in pixels, continuous:
// pixel (i, j) covers [i, i+1)×[j, j+1), so its centre is (i+0.5, j+0.5).
type Point struct{ X, Y float64 }

// affine maps a destination pixel centre (x, y) to the source position
// (A*x + B*y + C, D*x + E*y + F). Every crop the pipeline feeds a model — the
// detector's letterbox, the mesh's rotated face box, the quality crop — is one
// of these, so each is a single resampling pass and the inverse maps model
// coordinates back to the image exactly.
type affine struct{ A, B, C, D, E, F float64 }

func (t affine) apply(x, y float64) Point {
	return Point{t.A*x + t.B*y + t.C, t.D*x + t.E*y + t.F}
}

// cropTransform maps an n×n destination onto the square of side `side`
// centred at c in the source, turned by angle radians (positive turns the
// crop's x axis clockwise in the image, whose y axis points down).
func cropTransform(c Point, side, angle float64, n int) affine {
	s := side / float64(n)
	cos, sin := math.Cos(angle)*s, math.Sin(angle)*s
	h := float64(n) / 2
	// source = c + R·s·(dst − n/2)
	return affine{
		A: cos, B: -sin, C: c.X - cos*h + sin*h,
		D: sin, E: cos, F: c.Y - sin*h - cos*h,
	}
}

// scale is the source pixels covered by one destination pixel.
func (t affine) scale() float64 { return math.Sqrt(math.Abs(t.A*t.E - t.B*t.D)) }

// pyramid holds the image and its successive 2× box-filtered reductions,
// built on demand, so that a crop shrinking a face by 5× averages the pixels
// it covers instead of aliasing (bilinear sampling only reads four).
type pyramid struct {
	W, H   int         // full-resolution size, upright
	levels []*rgbImage // levels[i] is 2^i times smaller; nil until built
	// base is the level decoded first: above 0 when a large JPEG was
	// decoded reduced (see decodePyramid). finer builds a level below it
	// when a crop needs more pixels after all; ok false if it cannot.
	base  int
	finer func(level int) (m *rgbImage, ok bool)
}

func newPyramid(m *rgbImage) *pyramid { return &pyramid{W: m.W, H: m.H, levels: []*rgbImage{m}} }

// level returns level i, or the finest level above it when i cannot be
// built, and the level it returned.
func (p *pyramid) level(i int) (*rgbImage, int) {
	for len(p.levels) <= i {
		p.levels = append(p.levels, nil)
	}
	if p.levels[i] != nil {
		return p.levels[i], i
	}
	if i < p.base {
		if m, ok := p.finer(i); ok {
			p.levels[i] = m
			return m, i
		}
		return p.levels[p.base], p.base
	}
	below, _ := p.level(i - 1)
	if below.W < 2 || below.H < 2 {
		return below, i - 1
	}
	p.levels[i] = halve(below)
	return p.levels[i], i
}

func halve(m *rgbImage) *rgbImage {
	w, h := m.W/2, m.H/2
	out := &rgbImage{W: w, H: h, Pix: make([]byte, 3*w*h)}
	o := 0
	for y := 0; y < h; y++ {
		r0 := m.Pix[3*(2*y)*m.W:]
		r1 := m.Pix[3*(2*y+1)*m.W:]
		for x := 0; x < w; x++ {
			a, b := r0[6*x:6*x+6:6*x+6], r1[6*x:6*x+6:6*x+6]
			d := out.Pix[o : o+3 : o+3]
			d[0] = byte((uint(a[0]) + uint(a[3]) + uint(b[0]) + uint(b[3]) + 2) >> 2)
			d[1] = byte((uint(a[1]) + uint(a[4]) + uint(b[1]) + uint(b[4]) + 2) >> 2)
			d[2] = byte((uint(a[2]) + uint(a[5]) + uint(b[2]) + uint(b[5]) + 2) >> 2)
			o += 3
		}
	}
	return out
}

// baseStretch: a model's crop whose pixels are at least this fraction of
// the first decoded level's reads that level, enlarged, rather than pay for
// decoding the JPEG again at a finer scale. A selfie's face a quarter to a
// third of the frame wide needs this for faceres' wide crop. Enlarging by up
// to 1.67× loses no detail the models were measured with: faces-dev's faces
// are ~105 px wide, so its faceres crops are enlarged as much. The quality
// gate's sharpness measure would see the blur, so its crops never stretch.
const baseStretch = 0.6

// sample fills dst (n×n×3, NHWC) with the source under t, bilinearly, as
// v*mul + add per channel; outside the image reads as black. It picks the
// pyramid level whose pixels are no smaller than half a destination pixel,
// or with stretch, a coarser first decoded level (see baseStretch).
func (p *pyramid) sample(dst []float32, w, h int, t affine, mul, add float32, stretch bool) {
	lvl := 0
	for s := t.scale(); s >= 2 && lvl < 8; s /= 2 {
		lvl++
	}
	if stretch && lvl < p.base && p.levels[lvl] == nil && t.scale() >= baseStretch*float64(int(1)<<p.base) {
		lvl = p.base
	}
	m, lvl := p.level(lvl)
	if lvl > 0 {
		// Positions are continuous (pixel i spans [i, i+1)), so a level's
		// coordinates are the source's divided by its reduction.
		k := 1 / math.Pow(2, float64(lvl))
		t = affine{t.A * k, t.B * k, t.C * k, t.D * k, t.E * k, t.F * k}
	}
	o := 0
	for y := 0; y < h; y++ {
		// Walk the row incrementally: source position of (x+0.5, y+0.5) in
		// pixel-index coordinates, stepping by (A, D) per pixel.
		s := t.apply(0.5, float64(y)+0.5)
		sx, sy := s.X-0.5, s.Y-0.5
		// The row is a straight segment: when both ends lie inside, every
		// pixel between does, and the row needs no edge checks.
		ex, ey := sx+t.A*float64(w-1), sy+t.D*float64(w-1)
		if m.interior(sx, sy) && m.interior(ex, ey) {
			m.interiorRow(dst[o:o+3*w], sx, sy, t.A, t.D, mul, add)
			o += 3 * w
			continue
		}
		for x := 0; x < w; x++ {
			r, g, b := m.bilinear(sx, sy)
			dst[o] = r*mul + add
			dst[o+1] = g*mul + add
			dst[o+2] = b*mul + add
			o += 3
			sx += t.A
			sy += t.D
		}
	}
}

// interior reports whether all four bilinear taps of (x, y) lie inside.
func (m *rgbImage) interior(x, y float64) bool {
	return x >= 0 && y >= 0 && x < float64(m.W-1) && y < float64(m.H-1)
}

// interiorRow is sample's inner loop for a row whose every position is
// interior: crops are most of what the pipeline does besides the models,
// so the loop keeps positions in 16.16 fixed point and weights in float32
// over a bounds-check-free view of the two source rows.
func (m *rgbImage) interiorRow(dst []float32, x, y, dx, dy float64, mul, add float32) {
	const one = 1 << 16
	// Truncating the start and the steps toward zero keeps every fixed-point
	// position between the row's start and its exact position, so inside.
	fx, fy := int64(x*one), int64(y*one)
	sx, sy := int64(dx*one), int64(dy*one)
	stride := 3 * m.W
	pix := m.Pix
	for o := 0; o+2 < len(dst); o += 3 {
		x0, y0 := int(fx>>16), int(fy>>16)
		ax := float32(fx&(one-1)) * (1.0 / one)
		ay := float32(fy&(one-1)) * (1.0 / one)
		i := 3*x0 + y0*stride
		p := pix[i : i+6 : i+6]
		q := pix[i+stride : i+stride+6 : i+stride+6]
		w00, w01, w10, w11 := (1-ax)*(1-ay), ax*(1-ay), (1-ax)*ay, ax*ay
		d := dst[o : o+3 : o+3]
		d[0] = (w00*float32(p[0])+w01*float32(p[3])+w10*float32(q[0])+w11*float32(q[3]))*mul + add
		d[1] = (w00*float32(p[1])+w01*float32(p[4])+w10*float32(q[1])+w11*float32(q[4]))*mul + add
		d[2] = (w00*float32(p[2])+w01*float32(p[5])+w10*float32(q[2])+w11*float32(q[5]))*mul + add
		fx += sx
		fy += sy
	}
}

// bilinear reads the image at a continuous position in pixel-index
// coordinates (pixel i's centre at i); outside reads as black.
func (m *rgbImage) bilinear(x, y float64) (r, g, b float32) {
	if m.interior(x, y) {
		// Inside: all four taps exist (the common case, kept branch-free).
		x0, y0 := int(x), int(y)
		ax, ay := float32(x-float64(x0)), float32(y-float64(y0))
		i := 3 * (y0*m.W + x0)
		j := i + 3*m.W
		p := m.Pix[i : i+6 : i+6]
		q := m.Pix[j : j+6 : j+6]
		w00, w01, w10, w11 := (1-ax)*(1-ay), ax*(1-ay), (1-ax)*ay, ax*ay
		r = w00*float32(p[0]) + w01*float32(p[3]) + w10*float32(q[0]) + w11*float32(q[3])
		g = w00*float32(p[1]) + w01*float32(p[4]) + w10*float32(q[1]) + w11*float32(q[4])
		b = w00*float32(p[2]) + w01*float32(p[5]) + w10*float32(q[2]) + w11*float32(q[5])
		return r, g, b
	}
	return m.bilinearEdge(x, y)
}

// tapWeight is the bilinear weight of tap k (0 or 1) along an axis where
// the position lies a past the first tap.
func tapWeight(a float32, k int) float32 {
	if k == 1 {
		return a
	}
	return 1 - a
}

// bilinearEdge is bilinear for positions whose taps fall partly or wholly
// outside the image, which read as black.
func (m *rgbImage) bilinearEdge(x, y float64) (r, g, b float32) {
	fx, fy := math.Floor(x), math.Floor(y)
	x0, y0 := int(fx), int(fy)
	if x0 < -1 || y0 < -1 || x0 >= m.W || y0 >= m.H {
		return 0, 0, 0
	}
	ax, ay := float32(x-fx), float32(y-fy)
	var acc [3]float32
	for j := 0; j < 2; j++ {
		yy := y0 + j
		wy := tapWeight(ay, j)
		if yy < 0 || yy >= m.H || wy == 0 {
			continue
		}
		for i := 0; i < 2; i++ {
			xx := x0 + i
			wx := tapWeight(ax, i)
			if xx < 0 || xx >= m.W || wx == 0 {
				continue
			}
			p := m.Pix[3*(yy*m.W+xx):]
			wgt := wx * wy
			acc[0] += wgt * float32(p[0])
			acc[1] += wgt * float32(p[1])
			acc[2] += wgt * float32(p[2])
		}
	}
	return acc[0], acc[1], acc[2]
}
