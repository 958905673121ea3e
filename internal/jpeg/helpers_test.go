package jpeg

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	stdjpeg "image/jpeg"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var denoms = []int{1, 2, 4, 8}

// testFile is a JPEG to decode, from testdata or made by the test.
type testFile struct {
	name string
	data []byte
}

// testdataFiles are image/jpeg's own test images (copied from
// $GOROOT/src/image/testdata): every chroma subsampling ratio image/jpeg
// supports, progressive and baseline variants of each, restart intervals,
// grayscale, RGB, Adobe CMYK, a separate-DC progression and a truncated file.
func testdataFiles(tb testing.TB) []testFile {
	tb.Helper()
	paths, err := filepath.Glob("testdata/*.jpeg")
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no testdata JPEGs: %v", err)
	}
	var fs []testFile
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		fs = append(fs, testFile{filepath.Base(p), b})
	}
	return fs
}

// smooth is a synthetic picture with the low-frequency content of a face
// photo: gradients, soft blobs and gentle ripples, no hard edges.
func smooth(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			blob := math.Exp(-((fx-0.5)*(fx-0.5) + (fy-0.45)*(fy-0.45)) * 12)
			ripple := math.Sin(fx*17+fy*5) * math.Cos(fy*23-fx*3)
			r := 60 + 150*blob + 20*ripple + 20*fy
			g := 90 + 110*blob - 15*ripple + 30*fx
			b := 140 - 60*blob + 25*ripple
			m.SetRGBA(x, y, color.RGBA{clamp8(r), clamp8(g), clamp8(b), 255})
		}
	}
	return m
}

func clamp8(v float64) uint8 {
	return uint8(math.Max(0, math.Min(255, math.Round(v))))
}

// encode JPEG-encodes m with image/jpeg, which writes 4:2:0 for colour and
// 4:0:0 for gray.
func encode(tb testing.TB, m image.Image, quality int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := stdjpeg.Encode(&buf, m, &stdjpeg.Options{Quality: quality}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func toGray(m image.Image) *image.Gray {
	g := image.NewGray(m.Bounds())
	for y := m.Bounds().Min.Y; y < m.Bounds().Max.Y; y++ {
		for x := m.Bounds().Min.X; x < m.Bounds().Max.X; x++ {
			g.Set(x, y, m.At(x, y))
		}
	}
	return g
}

// generatedFiles are encodings of the smooth picture at sizes that are not
// multiples of the 16-pixel MCU, in colour and gray.
func generatedFiles(tb testing.TB) []testFile {
	return smoothFiles(tb, image.Point{1, 1}, image.Point{7, 9}, image.Point{33, 17}, image.Point{97, 130}, image.Point{301, 203})
}

// smoothFiles encodes the smooth picture at each size, in colour and gray,
// at a low and a high quality.
func smoothFiles(tb testing.TB, sizes ...image.Point) []testFile {
	var fs []testFile
	for _, sz := range sizes {
		m := smooth(sz.X, sz.Y)
		for _, q := range []int{50, 92} {
			fs = append(fs,
				testFile{fmt.Sprintf("smooth-%dx%d-q%d.420", sz.X, sz.Y, q), encode(tb, m, q)},
				testFile{fmt.Sprintf("smooth-%dx%d-q%d.gray", sz.X, sz.Y, q), encode(tb, toGray(m), q)})
		}
	}
	return fs
}

// sameImage reports how a and b differ, or "" if they have the same type,
// layout and pixels.
func sameImage(a, b image.Image) string {
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		return fmt.Sprintf("type %T, want %T", a, b)
	}
	if a.Bounds() != b.Bounds() {
		return fmt.Sprintf("bounds %v, want %v", a.Bounds(), b.Bounds())
	}
	if ay, ok := a.(*image.YCbCr); ok {
		if by := b.(*image.YCbCr); ay.SubsampleRatio != by.SubsampleRatio {
			return fmt.Sprintf("subsampling %v, want %v", ay.SubsampleRatio, by.SubsampleRatio)
		}
	}
	// Plane by plane rather than through At, which allocates per pixel and
	// made the fuzz target slow.
	pa, pb := planes(a, 1, 1), planes(b, 1, 1)
	for i := range pa {
		for y := 0; y < pa[i].h; y++ {
			for x := 0; x < pa[i].w; x++ {
				if va, vb := pa[i].at(x, y), pb[i].at(x, y); va != vb {
					return fmt.Sprintf("%s at (%d, %d) is %d, want %d", pa[i].name, x, y, va, vb)
				}
			}
		}
	}
	return ""
}

// A plane is one channel of a decoded image, at that channel's own
// resolution (chroma planes are smaller than luma when subsampled).
type plane struct {
	name string
	w, h int
	at   func(x, y int) uint8
}

func planeOf(name string, w, h int, pix []byte, stride, step, offset int) plane {
	return plane{name, w, h, func(x, y int) uint8 { return pix[y*stride+x*step+offset] }}
}

// planes splits a decoded image into its channels. All images the decoder
// returns have their bounds at the origin. An RGB JPEG's G and B are stored
// subsampled like chroma and come back nearest-neighbour upsampled, so they
// are taken at their stored resolution, every hs-th column and vs-th row
// (see rgbSubsampling).
func planes(m image.Image, hs, vs int) []plane {
	switch m := m.(type) {
	case *image.Gray:
		return []plane{planeOf("gray", m.Rect.Dx(), m.Rect.Dy(), m.Pix, m.Stride, 1, 0)}
	case *image.YCbCr:
		w, h := m.Rect.Dx(), m.Rect.Dy()
		cw, ch := w, h
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio422:
			cw = (w + 1) / 2
		case image.YCbCrSubsampleRatio420:
			cw, ch = (w+1)/2, (h+1)/2
		case image.YCbCrSubsampleRatio440:
			ch = (h + 1) / 2
		case image.YCbCrSubsampleRatio411:
			cw = (w + 3) / 4
		case image.YCbCrSubsampleRatio410:
			cw, ch = (w+3)/4, (h+1)/2
		}
		return []plane{
			planeOf("Y", w, h, m.Y, m.YStride, 1, 0),
			planeOf("Cb", cw, ch, m.Cb, m.CStride, 1, 0),
			planeOf("Cr", cw, ch, m.Cr, m.CStride, 1, 0),
		}
	case *image.CMYK:
		w, h := m.Rect.Dx(), m.Rect.Dy()
		return []plane{
			planeOf("C", w, h, m.Pix, m.Stride, 4, 0), planeOf("M", w, h, m.Pix, m.Stride, 4, 1),
			planeOf("Y", w, h, m.Pix, m.Stride, 4, 2), planeOf("K", w, h, m.Pix, m.Stride, 4, 3),
		}
	case *image.RGBA:
		w, h := m.Rect.Dx(), m.Rect.Dy()
		cw, ch := (w+hs-1)/hs, (h+vs-1)/vs
		return []plane{
			planeOf("R", w, h, m.Pix, m.Stride, 4, 0),
			planeOf("G", cw, ch, m.Pix, vs*m.Stride, 4*hs, 1),
			planeOf("B", cw, ch, m.Pix, vs*m.Stride, 4*hs, 2),
		}
	}
	panic(fmt.Sprintf("unexpected image type %T", m))
}

// boxError compares a scaled plane with the full-resolution plane averaged
// over denom×denom boxes: the mean and the largest absolute difference, in
// levels. The last column and row of a plane whose size is not a multiple of
// denom stand for clipped boxes; they are left out unless edges is set,
// because their pixels are the centre samples of blocks that are partly
// encoder padding, which the full decode crops away. (How an encoder fills
// that padding is up to it: image/jpeg replicates the edge, while photos
// cropped in the DCT domain keep whatever picture was there.)
func boxError(tb testing.TB, scaled, full plane, denom int, edges bool) (mean, max float64) {
	tb.Helper()
	if w, h := (full.w+denom-1)/denom, (full.h+denom-1)/denom; scaled.w != w || scaled.h != h {
		tb.Fatalf("%s plane is %dx%d, want %dx%d", scaled.name, scaled.w, scaled.h, w, h)
	}
	w, h := scaled.w, scaled.h
	if !edges {
		w, h = full.w/denom, full.h/denom
	}
	if w == 0 || h == 0 {
		return 0, 0
	}
	var sum float64
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s, n float64
			for fy := y * denom; fy < min(y*denom+denom, full.h); fy++ {
				for fx := x * denom; fx < min(x*denom+denom, full.w); fx++ {
					s += float64(full.at(fx, fy))
					n++
				}
			}
			d := math.Abs(float64(scaled.at(x, y)) - s/n)
			sum += d
			max = math.Max(max, d)
		}
	}
	return sum / float64(w*h), max
}

// rgbSubsampling is how much the second and third components of a JPEG are
// subsampled relative to the first.
func rgbSubsampling(data []byte) (hs, vs int) {
	var d decoder
	if _, err := d.decode(bytes.NewReader(data), true); err != nil || d.nComp < 3 {
		return 1, 1
	}
	return d.comp[0].h / d.comp[1].h, d.comp[0].v / d.comp[1].v
}
