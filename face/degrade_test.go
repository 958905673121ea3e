package face

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"os"
	"testing"
)

// The quality gate's tests derive failing selfies from good photos in code:
// darker, blurred, back-lit, rotated, mirrored, two faces side by side.

func loadRGB(t testing.TB, path string) *rgbImage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("photo not available: %v", err)
	}
	m, err := decodeImage(b, DefaultImageLimits)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return m
}

// toRGBA is the picture as an image.Image for the standard encoders.
func toRGBA(m *rgbImage) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, m.W, m.H))
	for i := 0; i < m.W*m.H; i++ {
		copy(out.Pix[4*i:4*i+3], m.Pix[3*i:3*i+3])
		out.Pix[4*i+3] = 255
	}
	return out
}

// jpegBytes encodes the image as a phone would send it.
func jpegBytes(t testing.TB, m *rgbImage) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, toRGBA(m), &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func mapPixels(m *rgbImage, f func(x, y int, v float64) float64) *rgbImage {
	out := &rgbImage{W: m.W, H: m.H, Pix: make([]byte, len(m.Pix))}
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			for c := 0; c < 3; c++ {
				i := 3*(y*m.W+x) + c
				out.Pix[i] = byte(min(max(math.Round(f(x, y, float64(m.Pix[i]))), 0), 255))
			}
		}
	}
	return out
}

// darken scales every pixel, as an under-exposed photo.
func darken(m *rgbImage, k float64) *rgbImage {
	return mapPixels(m, func(_, _ int, v float64) float64 { return v * k })
}

// backlight puts a bright window behind the face: everything outside an
// ellipse around the face box goes near white, the face is under-exposed.
func backlight(m *rgbImage, d Detection) *rgbImage {
	c := d.centre()
	rx, ry := 0.75*(d.Max.X-d.Min.X), 0.9*(d.Max.Y-d.Min.Y)
	return mapPixels(m, func(x, y int, v float64) float64 {
		dx, dy := (float64(x)-c.X)/rx, (float64(y)-c.Y)/ry
		if dx*dx+dy*dy > 1 {
			return 225 + 0.12*v
		}
		return 0.6 * v
	})
}

// gaussianBlur is a separable Gaussian of the given sigma in pixels: an
// out-of-focus camera.
func gaussianBlur(m *rgbImage, sigma float64) *rgbImage {
	r := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*r+1)
	var sum float64
	for i := range k {
		x := float64(i - r)
		k[i] = math.Exp(-x * x / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	pass := func(src *rgbImage, dx, dy int) *rgbImage {
		out := &rgbImage{W: src.W, H: src.H, Pix: make([]byte, len(src.Pix))}
		for y := 0; y < src.H; y++ {
			for x := 0; x < src.W; x++ {
				var acc [3]float64
				for i, w := range k {
					xx := min(max(x+dx*(i-r), 0), src.W-1)
					yy := min(max(y+dy*(i-r), 0), src.H-1)
					p := src.Pix[3*(yy*src.W+xx):]
					acc[0] += w * float64(p[0])
					acc[1] += w * float64(p[1])
					acc[2] += w * float64(p[2])
				}
				for c := range 3 {
					out.Pix[3*(y*src.W+x)+c] = byte(math.Round(acc[c]))
				}
			}
		}
		return out
	}
	return pass(pass(m, 1, 0), 0, 1)
}

// rotate turns the image by deg degrees clockwise about its centre, on a
// canvas of the same size.
func rotate(m *rgbImage, deg float64) *rgbImage {
	n := max(m.W, m.H)
	out := &rgbImage{W: n, H: n, Pix: make([]byte, 3*n*n)}
	buf := make([]float32, 3*n*n)
	t := cropTransform(Point{float64(m.W) / 2, float64(m.H) / 2}, float64(n), -deg*math.Pi/180, n)
	newPyramid(m).sample(buf, n, n, t, 1, 0, false)
	for i, v := range buf {
		out.Pix[i] = byte(min(max(math.Round(float64(v)), 0), 255))
	}
	return out
}

// mirror flips the image left to right.
func mirror(m *rgbImage) *rgbImage {
	out := &rgbImage{W: m.W, H: m.H, Pix: make([]byte, len(m.Pix))}
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			copy(out.Pix[3*(y*m.W+x):][:3], m.Pix[3*(y*m.W+m.W-1-x):][:3])
		}
	}
	return out
}

// sideBySide puts two photos next to each other, as two people in one frame.
func sideBySide(a, b *rgbImage) *rgbImage {
	w, h := a.W+b.W, max(a.H, b.H)
	out := &rgbImage{W: w, H: h, Pix: make([]byte, 3*w*h)}
	for y := 0; y < h; y++ {
		if y < a.H {
			copy(out.Pix[3*y*w:], a.Pix[3*y*a.W:3*(y+1)*a.W])
		}
		if y < b.H {
			copy(out.Pix[3*(y*w+a.W):], b.Pix[3*y*b.W:3*(y+1)*b.W])
		}
	}
	return out
}

// place scales m by k onto a w×h grey canvas, centred across and a third
// of the way down, as a selfie taken from further away.
func place(m *rgbImage, k float64, w, h int) *rgbImage {
	out := &rgbImage{W: w, H: h, Pix: make([]byte, 3*w*h)}
	buf := make([]float32, 3*w*h)
	// destination → source: src = (dst - offset)/k
	ox, oy := float64(w)/2-k*float64(m.W)/2, float64(h)*0.35-k*float64(m.H)/2
	t := affine{A: 1 / k, C: -ox / k, E: 1 / k, F: -oy / k}
	newPyramid(m).sample(buf, w, h, t, 1, 0, false)
	for i, v := range buf {
		out.Pix[i] = byte(min(max(v, 0), 255))
	}
	for i := 0; i < w*h; i++ {
		if out.Pix[3*i] == 0 && out.Pix[3*i+1] == 0 && out.Pix[3*i+2] == 0 {
			out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = 128, 128, 128
		}
	}
	return out
}
