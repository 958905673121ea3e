package face

import (
	"fmt"
	"math"
	"slices"

	"github.com/portrait-id/portrait/models"
	"github.com/portrait-id/portrait/nn"
)

// Detection is one face BlazeFace found, in source-image pixels.
type Detection struct {
	Min, Max Point // box corners
	Score    float64
	// Keypoints as BlazeFace orders them: the eye on the image's left, the
	// eye on the image's right, nose tip, mouth centre, then the two ear
	// tragions (image left, image right).
	Keypoints [6]Point
}

// Size is the longer side of the box.
func (d Detection) Size() float64 { return max(d.Max.X-d.Min.X, d.Max.Y-d.Min.Y) }

func (d Detection) area() float64 { return (d.Max.X - d.Min.X) * (d.Max.Y - d.Min.Y) }

func (d Detection) centre() Point { return Point{(d.Min.X + d.Max.X) / 2, (d.Min.Y + d.Max.Y) / 2} }

// Detector names a BlazeFace variant in the pinned model packages.
type Detector string

const (
	// DetectorFront is the 128×128 short-range model, made for faces that
	// fill a good part of the frame — which is what a selfie is. It costs a
	// sixth of the 256×256 model's work (61 vs 377 MFLOP).
	DetectorFront Detector = "blazeface-front"
	// DetectorBack is Human's default 256×256 model, for faces further away.
	DetectorBack Detector = "blazeface"
	// NoFallback as Config.Fallback runs no second detector.
	NoFallback Detector = "none"
)

func (d Detector) modelPath(dir string) (string, error) {
	switch d {
	case DetectorFront:
		return models.Path(dir, "human-models", "models/blazeface-front.json"), nil
	case DetectorBack:
		return models.Path(dir, "human", "models/blazeface.json"), nil
	}
	return "", fmt.Errorf("unknown face detector %q (want %q or %q)", d, DetectorFront, DetectorBack)
}

// detector runs BlazeFace: one square input, 896 anchors over two grids
// (16×16 with 2 anchors per cell, then 8×8 with 6), each anchor predicting a
// logit and 16 regressors (box centre offset, box size, 6 keypoint offsets)
// in input pixels.
type detector struct {
	model   *nn.Model
	size    int
	anchors []Point
	// Output indices of the two grids' logits and regressors.
	logits, regs [2]int
}

func newDetector(path string) (*detector, error) {
	m, err := loadModel(path)
	if err != nil {
		return nil, err
	}
	in := m.Inputs()
	if len(in) != 1 || len(in[0].Shape) != 4 || in[0].Shape[1] != in[0].Shape[2] || in[0].Shape[3] != 3 {
		return nil, fmt.Errorf("face detector %s: unexpected input %v", path, in)
	}
	d := &detector{model: m, size: in[0].Shape[1]}
	d.anchors = blazeAnchors(d.size)
	// The converted graphs emit four outputs in no fixed order; they are
	// told apart by shape: [1, 512|384, 1|16].
	found := 0
	for i, o := range m.Outputs() {
		if len(o.Shape) != 3 {
			continue
		}
		grid := -1
		switch o.Shape[1] {
		case 512:
			grid = 0
		case 384:
			grid = 1
		}
		switch {
		case grid < 0:
		case o.Shape[2] == 1:
			d.logits[grid] = i
			found++
		case o.Shape[2] == 16:
			d.regs[grid] = i
			found++
		}
	}
	if found != 4 || len(d.anchors) != 896 {
		return nil, fmt.Errorf("face detector %s: unexpected outputs %v", path, m.Outputs())
	}
	return d, nil
}

// blazeAnchors are the anchor centres in input pixels, in the order of the
// model's outputs: strides size/16 then size/8, with 2 and 6 anchors per cell.
func blazeAnchors(size int) []Point {
	var out []Point
	for i, stride := range []int{size / 16, size / 8} {
		per := []int{2, 6}[i]
		cells := (size + stride - 1) / stride
		for gy := 0; gy < cells; gy++ {
			for gx := 0; gx < cells; gx++ {
				for range per {
					out = append(out, Point{float64(stride) * (float64(gx) + 0.5), float64(stride) * (float64(gy) + 0.5)})
				}
			}
		}
	}
	return out
}

// detect finds faces in the image. The image is letterboxed (scaled to fit
// the square input, centred, black bars) rather than stretched as Human does,
// so faces keep their proportions. Returns boxes above minScore after
// non-maximum suppression, best first.
func (d *detector) detect(p *pyramid, minScore, iou float64) []Detection {
	side := float64(max(p.W, p.H))
	t := cropTransform(Point{float64(p.W) / 2, float64(p.H) / 2}, side, 0, d.size)

	s := d.model.Acquire()
	defer release(s)
	// Normalisation as blazeface.ts: v/127.5 − 1.
	p.sample(s.Input(0), d.size, d.size, t, 1/127.5, -1, true)
	s.Run()

	var cands []Detection
	a := 0
	for g := range 2 {
		logits, regs := s.Output(d.logits[g]), s.Output(d.regs[g])
		for k, logit := range logits {
			anchor := d.anchors[a]
			a++
			score := sigmoid(float64(logit))
			if score < minScore {
				continue
			}
			r := regs[16*k : 16*k+16]
			cx, cy := float64(r[0])+anchor.X, float64(r[1])+anchor.Y
			hw, hh := float64(r[2])/2, float64(r[3])/2
			det := Detection{
				Min:   t.apply(cx-hw, cy-hh),
				Max:   t.apply(cx+hw, cy+hh),
				Score: score,
			}
			for j := range det.Keypoints {
				det.Keypoints[j] = t.apply(float64(r[4+2*j])+anchor.X, float64(r[5+2*j])+anchor.Y)
			}
			cands = append(cands, det)
		}
	}
	return nms(cands, iou)
}

func sigmoid(x float64) float64 {
	// Clipped as MediaPipe does, so a wild logit cannot produce NaN.
	x = min(max(x, -100), 100)
	return 1 / (1 + math.Exp(-x))
}

// nms keeps the best box of each overlapping cluster (IoU above iou).
func nms(c []Detection, iou float64) []Detection {
	slices.SortFunc(c, func(a, b Detection) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	var keep []Detection
next:
	for _, d := range c {
		for _, k := range keep {
			if overlap(d, k) > iou {
				continue next
			}
		}
		keep = append(keep, d)
	}
	return keep
}

// overlap is the intersection over union of two boxes.
func overlap(a, b Detection) float64 {
	w := min(a.Max.X, b.Max.X) - max(a.Min.X, b.Min.X)
	h := min(a.Max.Y, b.Max.Y) - max(a.Min.Y, b.Min.Y)
	if w <= 0 || h <= 0 {
		return 0
	}
	inter := w * h
	return inter / (a.area() + b.area() - inter)
}

// release returns a session to its pool with its input wiped: the input is
// a thumbnail of the selfie, and pooled sessions outlive the call.
func release(s *nn.Session) {
	clear(s.Input(0))
	s.Release()
}

func loadModel(path string) (*nn.Model, error) {
	m, err := nn.LoadGraphModel(path)
	if err != nil {
		return nil, fmt.Errorf("%w (run `portrait models fetch`)", err)
	}
	return m, nil
}
