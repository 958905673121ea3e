package face

import (
	"fmt"
	"math"
)

// Landmarks5 are the points an embedder aligns a face by, in source pixels:
// the eye on the image's left, the eye on the image's right, the nose tip,
// the mouth corner on the image's left, the one on the image's right.
type Landmarks5 [5]Point

// Landmarks5FromMesh takes the five points from FaceMesh's 468 landmarks
// (x, y in source pixels): eye centres as the mean of each eye's corners and
// lid midpoints, nose tip, outer mouth corners.
func Landmarks5FromMesh(mesh []Point) (Landmarks5, error) {
	if len(mesh) < 468 {
		return Landmarks5{}, fmt.Errorf("landmarks from mesh: %d points, want 468", len(mesh))
	}
	mean := func(idx ...int) Point {
		var p Point
		for _, i := range idx {
			p.X += mesh[i].X
			p.Y += mesh[i].Y
		}
		return Point{p.X / float64(len(idx)), p.Y / float64(len(idx))}
	}
	return Landmarks5{
		mean(33, 133, 159, 145),  // subject's right eye: corners, upper and lower lid
		mean(362, 263, 386, 374), // subject's left eye
		mesh[1],                  // nose tip
		mesh[61],                 // mouth corners
		mesh[291],
	}, nil
}

// Landmarks5FromDetection estimates the five points from BlazeFace's
// keypoints, which give the mouth's centre only: the corners are placed on
// the eye line's direction, at the ratio of mouth width to eye distance of
// the ArcFace template (0.83).
func Landmarks5FromDetection(d Detection) Landmarks5 {
	el, er, nose, mouth := d.Keypoints[0], d.Keypoints[1], d.Keypoints[2], d.Keypoints[3]
	hx, hy := 0.83*(er.X-el.X)/2, 0.83*(er.Y-el.Y)/2
	return Landmarks5{el, er, nose, {mouth.X - hx, mouth.Y - hy}, {mouth.X + hx, mouth.Y + hy}}
}

// arcFaceTemplate is insightface's 5-point template of its 112×112 crop, in
// pixel-index coordinates (pixel centres at integers).
var arcFaceTemplate = [5]Point{
	{38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366}, {41.5493, 92.3655}, {70.7299, 92.2041},
}

// dlibTemplate is where dlib's get_face_chip_details(shape, 150, 0.25) puts
// the five points, from dlib's mean face shape (eye centres as the mean of
// landmarks 36–41 and 42–47, nose tip 30, mouth corners 48 and 54), as
// (padding + p) / (1 + 2·padding) of the 150-pixel chip.
var dlibTemplate = func() [5]Point {
	mean := [5]Point{{0.225492, 0.215990}, {0.754761, 0.215990}, {0.490127, 0.515625}, {0.254149, 0.780233}, {0.726104, 0.780233}}
	const pad, size = 0.25, 150
	var t [5]Point
	for i, p := range mean {
		t[i] = Point{(pad + p.X) / (1 + 2*pad) * size, (pad + p.Y) / (1 + 2*pad) * size}
	}
	return t
}()

// scaleTemplate resizes a template made for a from-pixel crop to a to-pixel
// crop, zooming out by zoom (> 1 leaves more margin around the face).
func scaleTemplate(t [5]Point, from, to int, zoom float64) [5]Point {
	var out [5]Point
	c := float64(from) / 2
	k := float64(to) / float64(from) / zoom
	for i, p := range t {
		out[i] = Point{(p.X-c)*k + float64(to)/2, (p.Y-c)*k + float64(to)/2}
	}
	return out
}

// alignTransform is the similarity transform (rotation, uniform scale,
// translation) that best maps the crop's template points onto the face's
// landmarks in the least-squares sense (Umeyama's solution, written with
// complex numbers: landmark ≈ a·template + b). Template points are in pixel-
// index coordinates; the transform takes continuous crop coordinates, as
// pyramid.sample expects.
func alignTransform(template [5]Point, lm Landmarks5) (affine, error) {
	var zc, wc complex128
	for i := range template {
		zc += complex(template[i].X+0.5, template[i].Y+0.5)
		wc += complex(lm[i].X, lm[i].Y)
	}
	zc /= 5
	wc /= 5
	var num complex128
	var den float64
	for i := range template {
		z := complex(template[i].X+0.5, template[i].Y+0.5) - zc
		w := complex(lm[i].X, lm[i].Y) - wc
		num += complex(real(z), -imag(z)) * w
		den += real(z)*real(z) + imag(z)*imag(z)
	}
	a := num / complex(den, 0)
	if s := math.Hypot(real(a), imag(a)); !(s > 1e-6) || math.IsInf(s, 0) {
		return affine{}, fmt.Errorf("align face: degenerate landmarks %v", lm)
	}
	b := wc - a*zc
	return affine{
		A: real(a), B: -imag(a), C: real(b),
		D: imag(a), E: real(a), F: imag(b),
	}, nil
}
