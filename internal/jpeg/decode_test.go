package jpeg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	stdjpeg "image/jpeg"
	"io"
	"math/rand/v2"
	"testing"
)

func TestDenom1MatchesStdlib(t *testing.T) {
	for _, f := range append(testdataFiles(t), generatedFiles(t)...) {
		t.Run(f.name, func(t *testing.T) {
			want, wantErr := stdjpeg.Decode(bytes.NewReader(f.data))
			got, err := Decode(bytes.NewReader(f.data))
			if diff := sameError(err, wantErr); diff != "" {
				t.Fatal(diff)
			}
			if err != nil {
				return
			}
			if diff := sameImage(got, want); diff != "" {
				t.Error(diff)
			}
		})
	}
}

func TestDecodeConfigMatchesStdlib(t *testing.T) {
	for _, f := range append(testdataFiles(t), generatedFiles(t)...) {
		want, wantErr := stdjpeg.DecodeConfig(bytes.NewReader(f.data))
		got, err := DecodeConfig(bytes.NewReader(f.data))
		if diff := sameError(err, wantErr); diff != "" {
			t.Errorf("%s: %s", f.name, diff)
		} else if got != want {
			t.Errorf("%s: config %+v, want %+v", f.name, got, want)
		}
	}
}

// TestScaledBoundsAndType checks every scaled decode of every file: the
// size is the stored size divided by denom and rounded up, and the image
// has the type and subsampling of a full-size decode.
func TestScaledBoundsAndType(t *testing.T) {
	for _, f := range append(testdataFiles(t), generatedFiles(t)...) {
		full, err := stdjpeg.Decode(bytes.NewReader(f.data))
		if err != nil {
			continue
		}
		for _, d := range denoms {
			m, err := DecodeScaled(context.Background(), bytes.NewReader(f.data), d)
			if err != nil {
				t.Fatalf("%s /%d: %v", f.name, d, err)
			}
			fb := full.Bounds()
			want := image.Rect(0, 0, (fb.Dx()+d-1)/d, (fb.Dy()+d-1)/d)
			if m.Bounds() != want {
				t.Errorf("%s /%d: bounds %v, want %v", f.name, d, m.Bounds(), want)
			}
			if ft, mt := fmt.Sprintf("%T", full), fmt.Sprintf("%T", m); ft != mt {
				t.Errorf("%s /%d: type %s, want %s", f.name, d, mt, ft)
			}
			if fy, ok := full.(*image.YCbCr); ok && fy.SubsampleRatio != m.(*image.YCbCr).SubsampleRatio {
				t.Errorf("%s /%d: subsampling %v, want %v", f.name, d, m.(*image.YCbCr).SubsampleRatio, fy.SubsampleRatio)
			}
		}
	}
}

// photoFiles are what the service decodes: large, smooth pictures.
func photoFiles(tb testing.TB) []testFile {
	fs := []testFile{
		{"selfie-600x800-q92", benchPhoto(tb, 600, 800, 92, 0)},
		{"selfie-600x800-q85-noisy", benchPhoto(tb, 600, 800, 85, 3)},
	}
	return append(fs, smoothFiles(tb, image.Point{97, 130}, image.Point{301, 203})...)
}

// TestScaledMatchesBoxAverage compares each plane of a scaled decode with
// image/jpeg's full decode averaged over denom×denom boxes.
//
// A reduced pixel samples the block's low frequencies at the box's centre
// rather than averaging the box, so the two differ by the detail inside a
// box: little on photos, where a box is a few pixels of a large picture,
// and a lot on image/jpeg's 150×103 test frames, where an 8×8 block holds a
// whole face. The bounds are the worst case measured over every plane of
// every file, rounded up by a quarter to a third (measured, photo class,
// then testdata class, in levels):
//
//	denom  mean    max    |  mean    max
//	2      0.39    5.2    |  4.17    69.0
//	4      0.85    8.9    |  4.18    32.8
//	8      0.31    2.2    |  0.50     5.2
//
// At 8 a pixel is the block mean, exact but for rounding and for clamping
// in the full decode. The testdata bounds are loose: they are there to catch
// a block in the wrong place or a plane mixed up, which give mean errors of
// tens of levels, while the photo bounds hold the approach to its accuracy.
// The last row and column are left out of the testdata comparison when the
// size is not a multiple of denom (see boxError).
func TestScaledMatchesBoxAverage(t *testing.T) {
	for _, tc := range []struct {
		class   string
		files   []testFile
		edges   bool
		denom   int
		maxMean float64
		maxMax  float64
	}{
		{"photo", photoFiles(t), true, 2, 0.5, 7},
		{"photo", photoFiles(t), true, 4, 1.2, 11},
		{"photo", photoFiles(t), true, 8, 0.4, 3},
		{"testdata", testdataFiles(t), false, 2, 5.2, 86},
		{"testdata", testdataFiles(t), false, 4, 5.2, 41},
		{"testdata", testdataFiles(t), false, 8, 0.65, 6.5},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.class, tc.denom), func(t *testing.T) {
			var worstMean, worstMax float64
			for _, f := range tc.files {
				full, err := stdjpeg.Decode(bytes.NewReader(f.data))
				if err != nil {
					continue
				}
				m, err := DecodeScaled(context.Background(), bytes.NewReader(f.data), tc.denom)
				if err != nil {
					t.Fatalf("%s: %v", f.name, err)
				}
				hs, vs := rgbSubsampling(f.data)
				fp, sp := planes(full, hs, vs), planes(m, hs, vs)
				for i := range fp {
					mean, max := boxError(t, sp[i], fp[i], tc.denom, tc.edges)
					if mean > tc.maxMean || max > tc.maxMax {
						t.Errorf("%s %s: differs from the box average by %.2f levels on average, at most %.1f; want at most %.2f and %.1f",
							f.name, fp[i].name, mean, max, tc.maxMean, tc.maxMax)
					}
					worstMean, worstMax = maxf(worstMean, mean), maxf(worstMax, max)
				}
			}
			t.Logf("worst plane: mean %.3f, max %.1f", worstMean, worstMax)
		})
	}
}

func maxf(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

// TestFlatKeepsLevel checks the DC normalisation: a uniform picture
// decodes to the full decode's level at every scale, exactly.
func TestFlatKeepsLevel(t *testing.T) {
	for _, c := range []color.RGBA{{0, 0, 0, 255}, {255, 255, 255, 255}, {200, 30, 90, 255}, {17, 128, 243, 255}} {
		m := image.NewRGBA(image.Rect(0, 0, 45, 37))
		for i := range m.Pix {
			m.Pix[i] = []uint8{c.R, c.G, c.B, c.A}[i%4]
		}
		for _, data := range [][]byte{encode(t, m, 75), encode(t, toGray(m), 75)} {
			full, err := stdjpeg.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			want := full.At(0, 0)
			for _, d := range denoms {
				got, err := DecodeScaled(context.Background(), bytes.NewReader(data), d)
				if err != nil {
					t.Fatal(err)
				}
				r := got.Bounds()
				for y := r.Min.Y; y < r.Max.Y; y++ {
					for x := r.Min.X; x < r.Max.X; x++ {
						if got.At(x, y) != want {
							t.Fatalf("%v /%d: pixel (%d, %d) is %v, want %v", c, d, x, y, got.At(x, y), want)
						}
					}
				}
			}
		}
	}
}

func TestDecodeScaledRejectsBadDenom(t *testing.T) {
	data := testdataFiles(t)[0].data
	for _, d := range []int{-1, 0, 3, 16} {
		if _, err := DecodeScaled(context.Background(), bytes.NewReader(data), d); err == nil {
			t.Errorf("denom %d: no error", d)
		}
	}
}

// sameError reports how err differs from image/jpeg's error want, or "" if
// both are nil or both have the same kind and message.
func sameError(err, want error) string {
	if (err == nil) != (want == nil) {
		return fmt.Sprintf("error %v, want %v", err, want)
	}
	if err == nil {
		return ""
	}
	var fe FormatError
	var sfe stdjpeg.FormatError
	var ue UnsupportedError
	var sue stdjpeg.UnsupportedError
	if err.Error() != want.Error() ||
		errors.As(err, &fe) != errors.As(want, &sfe) ||
		errors.As(err, &ue) != errors.As(want, &sue) ||
		errors.Is(err, io.ErrUnexpectedEOF) != errors.Is(want, io.ErrUnexpectedEOF) {
		return fmt.Sprintf("error %#v, want %#v", err, want)
	}
	return ""
}

// refused reports whether err is the LimitError of a file with more scans
// than maxScans, or with a component in two sequential scans, which
// image/jpeg decodes at whatever cost.
func refused(err error, data []byte) bool {
	var le LimitError
	return errors.As(err, &le) && (bytes.Count(data, []byte{0xff, sosMarker}) > maxScans || err == errRescan)
}

// checkAgainstStdlib decodes data at every scale and checks that it fails
// exactly when image/jpeg does, with the same error, and otherwise has the
// right bounds and, at full size, image/jpeg's pixels.
func checkAgainstStdlib(t *testing.T, name string, data []byte) (failed bool) {
	t.Helper()
	want, wantErr := stdjpeg.Decode(bytes.NewReader(data))
	for _, d := range denoms {
		got, err := DecodeScaled(context.Background(), bytes.NewReader(data), d)
		if refused(err, data) {
			return true
		}
		if diff := sameError(err, wantErr); diff != "" {
			t.Fatalf("%s /%d: %s", name, d, diff)
		}
		if err != nil {
			continue
		}
		wb := want.Bounds()
		if r := image.Rect(0, 0, (wb.Dx()+d-1)/d, (wb.Dy()+d-1)/d); got.Bounds() != r {
			t.Fatalf("%s /%d: bounds %v, want %v", name, d, got.Bounds(), r)
		}
		if d == 1 {
			if diff := sameImage(got, want); diff != "" {
				t.Fatalf("%s: %s", name, diff)
			}
		}
	}
	return wantErr != nil
}

// TestTruncated cuts every file short at many lengths: every prefix lacks
// the EOI marker, so each must fail, at every scale, as image/jpeg fails.
func TestTruncated(t *testing.T) {
	for _, f := range testdataFiles(t) {
		step := max(1, len(f.data)/97)
		for n := 0; n < len(f.data); n += step {
			if !checkAgainstStdlib(t, fmt.Sprintf("%s[:%d]", f.name, n), f.data[:n]) {
				t.Fatalf("%s[:%d]: no error", f.name, n)
			}
		}
	}
}

// TestCorrupt damages files at random places (bytes overwritten, inserted
// and deleted, 0xff and marker bytes among them, so that Huffman data, RST
// markers and segment headers all get hit) and checks that each scale
// fails or succeeds exactly as image/jpeg does, without panicking.
func TestCorrupt(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var failed, total int
	for _, f := range testdataFiles(t) {
		for i := range 60 {
			b := bytes.Clone(f.data)
			for range 1 + i%4 {
				at := rng.IntN(len(b))
				v := []byte{byte(rng.IntN(256)), 0xff, 0x00, 0xd0 + byte(rng.IntN(8)), 0xd9}[rng.IntN(5)]
				switch rng.IntN(3) {
				case 0:
					b[at] = v
				case 1:
					b = append(b[:at], append([]byte{v}, b[at:]...)...)
				case 2:
					b = append(b[:at], b[at+1:]...)
				}
			}
			if checkAgainstStdlib(t, fmt.Sprintf("%s corrupted #%d", f.name, i), b) {
				failed++
			}
			total++
		}
	}
	t.Logf("%d of %d corrupted files rejected (the rest decode, as with image/jpeg)", failed, total)
}
