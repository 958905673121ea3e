package face

import (
	"math"
	"testing"
)

func TestBlazeAnchors(t *testing.T) {
	for _, size := range []int{128, 256} {
		a := blazeAnchors(size)
		if len(a) != 896 {
			t.Fatalf("%d: %d anchors", size, len(a))
		}
		s1, s2 := float64(size/16), float64(size/8)
		checks := []struct {
			i    int
			want Point
		}{
			{0, Point{s1 / 2, s1 / 2}},
			{1, Point{s1 / 2, s1 / 2}}, // two anchors per cell on the fine grid
			{2, Point{1.5 * s1, s1 / 2}},
			{511, Point{float64(size) - s1/2, float64(size) - s1/2}},
			{512, Point{s2 / 2, s2 / 2}},
			{517, Point{s2 / 2, s2 / 2}}, // six per cell on the coarse grid
			{518, Point{1.5 * s2, s2 / 2}},
			{895, Point{float64(size) - s2/2, float64(size) - s2/2}},
		}
		for _, c := range checks {
			if a[c.i] != c.want {
				t.Errorf("%d: anchor %d = %v, want %v", size, c.i, a[c.i], c.want)
			}
		}
	}
}

func box(x0, y0, x1, y1, score float64) Detection {
	return Detection{Min: Point{x0, y0}, Max: Point{x1, y1}, Score: score}
}

func TestNMS(t *testing.T) {
	tests := []struct {
		name string
		in   []Detection
		want []float64 // scores kept, in order
	}{
		{"empty", nil, nil},
		{"duplicates merge to the best", []Detection{box(0, 0, 10, 10, 0.6), box(1, 1, 11, 11, 0.9)}, []float64{0.9}},
		{"neighbours stay apart", []Detection{box(0, 0, 10, 10, 0.6), box(8, 0, 18, 10, 0.9)}, []float64{0.9, 0.6}},
		{"disjoint", []Detection{box(0, 0, 10, 10, 0.7), box(20, 20, 30, 30, 0.8), box(40, 0, 50, 10, 0.75)}, []float64{0.8, 0.75, 0.7}},
	}
	for _, tc := range tests {
		got := nms(tc.in, nmsOverlap)
		if len(got) != len(tc.want) {
			t.Fatalf("%s: kept %d, want %d", tc.name, len(got), len(tc.want))
		}
		for i, d := range got {
			if d.Score != tc.want[i] {
				t.Errorf("%s: kept[%d] score %v, want %v", tc.name, i, d.Score, tc.want[i])
			}
		}
	}
	if o := overlap(box(0, 0, 10, 10, 0), box(5, 0, 15, 10, 0)); math.Abs(o-1.0/3) > 1e-9 {
		t.Errorf("IoU of half-overlapping squares = %v, want 1/3", o)
	}
}

func TestCropTransform(t *testing.T) {
	c := Point{100, 50}
	near := func(what string, got, want Point) {
		if math.Hypot(got.X-want.X, got.Y-want.Y) > 1e-9 {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	level := cropTransform(c, 40, 0, 20)
	near("level top-left", level.apply(0, 0), Point{80, 30})
	near("level centre", level.apply(10, 10), c)
	near("level bottom-right", level.apply(20, 20), Point{120, 70})
	if s := level.scale(); math.Abs(s-2) > 1e-9 {
		t.Errorf("scale %v, want 2", s)
	}
	// Turned a quarter clockwise (image y points down): the crop's x axis
	// runs down the image.
	turned := cropTransform(c, 40, math.Pi/2, 20)
	near("turned centre", turned.apply(10, 10), c)
	near("turned right edge", turned.apply(20, 10), Point{100, 70})
	near("turned bottom edge", turned.apply(10, 20), Point{80, 50})
}

// gradient is an image whose red channel is its x coordinate and green its
// y coordinate (pixel centres), to check where a crop samples.
func gradient(w, h int) *rgbImage {
	m := &rgbImage{W: w, H: h, Pix: make([]byte, 3*w*h)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Pix[3*(y*w+x)] = byte(x)
			m.Pix[3*(y*w+x)+1] = byte(y)
		}
	}
	return m
}

// TestSampleCoordinates checks that a crop reads where its transform says,
// at every pyramid level: the pyramid must not shift the image.
func TestSampleCoordinates(t *testing.T) {
	img := newPyramid(gradient(256, 256))
	for _, side := range []float64{16, 48, 100, 200} { // levels 0, 1, 2, 3
		const n = 16
		tr := cropTransform(Point{128, 120}, side, 0, n)
		buf := make([]float32, 3*n*n)
		img.sample(buf, n, n, tr, 1, 0, false)
		for _, p := range [][2]int{{4, 4}, {8, 8}, {11, 5}} {
			want := tr.apply(float64(p[0])+0.5, float64(p[1])+0.5)
			got := Point{float64(buf[3*(p[1]*n+p[0])]) + 0.5, float64(buf[3*(p[1]*n+p[0])+1]) + 0.5}
			if math.Abs(got.X-want.X) > 0.75 || math.Abs(got.Y-want.Y) > 0.75 {
				t.Errorf("side %v: crop pixel %v read %v, want %v", side, p, got, want)
			}
		}
	}
}

// TestPoseFromRotatedFace turns a face's four pose landmarks by known angles
// and expects them back, with the documented signs.
func TestPoseFromRotatedFace(t *testing.T) {
	// A level face: forehead above the chin, leaning back by pitchZero as
	// real foreheads do; cheeks level, at the same depth.
	tilt := math.Tan(pitchZero * math.Pi / 180)
	face := map[int]Point3{
		meshForehead:   {0, -60, -60 * tilt},
		meshChin:       {0, 60, 60 * tilt},
		meshCheekLeft:  {-50, 0, 0},
		meshCheekRight: {50, 0, 0},
	}
	rad := math.Pi / 180
	tests := []struct{ yaw, pitch, roll float64 }{
		{0, 0, 0}, {20, 0, 0}, {-20, 0, 0}, {0, 12, 0}, {0, -12, 0}, {0, 0, 30}, {0, 0, -30}, {10, 8, 15},
	}
	for _, tc := range tests {
		// Yaw about the vertical axis (positive takes the image-right
		// cheek away, +z), pitch about the horizontal one (positive takes
		// the chin away), then roll in the image plane (clockwise, y down).
		mesh := make([]Point3, MeshPoints)
		for i, p := range face {
			cy, sy := math.Cos(tc.yaw*rad), math.Sin(tc.yaw*rad)
			p = Point3{cy*p.X - sy*p.Z, p.Y, sy*p.X + cy*p.Z}
			cp, sp := math.Cos(tc.pitch*rad), math.Sin(tc.pitch*rad)
			p = Point3{p.X, cp*p.Y - sp*p.Z, sp*p.Y + cp*p.Z}
			cr, sr := math.Cos(tc.roll*rad), math.Sin(tc.roll*rad)
			p = Point3{cr*p.X - sr*p.Y, sr*p.X + cr*p.Y, p.Z}
			mesh[i] = Point3{p.X + 300, p.Y + 200, p.Z}
		}
		got := poseFromMesh(mesh)
		if math.Abs(got.Yaw-tc.yaw) > 1.5 || math.Abs(got.Pitch-tc.pitch) > 1.5 || math.Abs(got.Roll-tc.roll) > 1.5 {
			t.Errorf("turned by %+v: measured %+v", tc, got)
		}
	}
}

// TestBilinearPaths: the fast interior path and the general edge path must
// agree wherever both apply.
func TestBilinearPaths(t *testing.T) {
	m := quadrantsRGB(37, 23)
	for i := range m.Pix {
		m.Pix[i] = byte(i * 31)
	}
	for y := 0.0; y < 22; y += 0.37 {
		for x := 0.0; x < 36; x += 0.41 {
			r1, g1, b1 := m.bilinear(x, y)
			r2, g2, b2 := m.bilinearEdge(x, y)
			if math.Abs(float64(r1-r2)) > 1e-3 || math.Abs(float64(g1-g2)) > 1e-3 || math.Abs(float64(b1-b2)) > 1e-3 {
				t.Fatalf("at %.2f,%.2f: fast %v,%v,%v, edge %v,%v,%v", x, y, r1, g1, b1, r2, g2, b2)
			}
		}
	}
}

func TestHalve(t *testing.T) {
	m := &rgbImage{W: 5, H: 3, Pix: make([]byte, 45)}
	for i := range m.Pix {
		m.Pix[i] = byte(10 * i)
	}
	h := halve(m)
	if h.W != 2 || h.H != 1 {
		t.Fatalf("%d×%d", h.W, h.H)
	}
	// Pixel (0,0) averages source pixels (0,0), (1,0), (0,1), (1,1).
	for c := range 3 {
		want := (int(m.Pix[c]) + int(m.Pix[3+c]) + int(m.Pix[15+c]) + int(m.Pix[18+c]) + 2) / 4
		if int(h.Pix[c]) != want {
			t.Errorf("channel %d = %d, want %d", c, h.Pix[c], want)
		}
	}
}

// BenchmarkSample is one embedding-sized crop, turned as a tilted face's is,
// from a half-resolution selfie: the pipeline samples about eight of these
// per call.
func BenchmarkSample(b *testing.B) {
	img := newPyramid(gradient(480, 640))
	const n = 224
	tr := cropTransform(Point{240, 300}, 300, 0.2, n)
	buf := make([]float32, 3*n*n)
	for b.Loop() {
		img.sample(buf, n, n, tr, 1, 0, false)
	}
}

// TestInteriorRowMatchesBilinear: the fixed-point row loop reads what
// per-pixel bilinear sampling reads, on rows running every direction.
func TestInteriorRowMatchesBilinear(t *testing.T) {
	m := gradient(97, 61)
	for i := range m.Pix {
		m.Pix[i] = byte(i*37 + i/291)
	}
	for _, step := range [][2]float64{{0.73, 0}, {-0.61, 0.2}, {0.3, -0.45}, {0, 0.7}} {
		const n = 40
		x, y := 48.3, 30.2
		got := make([]float32, 3*n)
		m.interiorRow(got, x, y, step[0], step[1], 1, 0)
		for k := 0; k < n; k++ {
			r, g, b := m.bilinear(x+float64(k)*step[0], y+float64(k)*step[1])
			for c, want := range []float32{r, g, b} {
				// Fixed point drifts by under n/65536 px over the row; on
				// this noise that moves a value by at most 255·n/65536.
				if d := got[3*k+c] - want; d > 0.25 || d < -0.25 {
					t.Fatalf("step %v pixel %d channel %d: row %v, bilinear %v", step, k, c, got[3*k+c], want)
				}
			}
		}
	}
}

// TestSampleStretchesTheBaseLevel: on a pyramid decoded reduced, a model's
// crop slightly finer than the base reads the base instead of decoding
// again; a much finer one, or the quality gate's, decodes the finer level.
func TestSampleStretchesTheBaseLevel(t *testing.T) {
	tests := []struct {
		side    float64 // source pixels the 16-pixel crop covers
		stretch bool
		finer   bool // want a finer level decoded
	}{
		{side: 40, stretch: true, finer: false},  // 2.5 source pixels per crop pixel: the base level's own
		{side: 26, stretch: true, finer: false},  // 1.6: stretched base
		{side: 16, stretch: true, finer: true},   // 1.0: too far
		{side: 26, stretch: false, finer: true},  // quality crop: never stretched
		{side: 40, stretch: false, finer: false}, // quality crop at the base's own scale
	}
	for _, tc := range tests {
		decoded := 0
		full := gradient(256, 256)
		p := &pyramid{W: 256, H: 256, levels: []*rgbImage{nil, halve(full)}, base: 1,
			finer: func(level int) (*rgbImage, bool) { decoded++; return full, true }}
		const n = 16
		buf := make([]float32, 3*n*n)
		tr := cropTransform(Point{128, 120}, tc.side, 0, n)
		p.sample(buf, n, n, tr, 1, 0, tc.stretch)
		if got := decoded > 0; got != tc.finer {
			t.Errorf("side %v stretch %v: finer level decoded %v, want %v", tc.side, tc.stretch, got, tc.finer)
		}
		// Either way the crop reads where its transform says.
		want := tr.apply(8.5, 8.5)
		got := Point{float64(buf[3*(8*n+8)]) + 0.5, float64(buf[3*(8*n+8)+1]) + 0.5}
		if math.Abs(got.X-want.X) > 1.5 || math.Abs(got.Y-want.Y) > 1.5 {
			t.Errorf("side %v stretch %v: read %v, want %v", tc.side, tc.stretch, got, want)
		}
	}
}
