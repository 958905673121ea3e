package face

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/portrait-id/portrait/internal/imagebomb"
)

// fuzzLimits keep each fuzzed decode small, so the fuzzer spends its time on
// parsing rather than on pixels.
var fuzzLimits = ImageLimits{MinSide: 1, MaxSide: 512, MaxPixels: 1 << 16}

// fuzzDecode is the property every format must keep on hostile bytes: no
// panic; either an error wrapping ErrImage or an image within the limits.
func fuzzDecode(f *testing.F, name string) {
	good := encode(f, name, quadrants(24, 16))
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(bombs(f)[name])
	// Files expensive to decode for their size, kept small here.
	switch name {
	case "JPEG":
		f.Add(imagebomb.ProgressiveScans(64, 64, 65, true))
		f.Add(imagebomb.SequentialScans(64, 64, 2))
	case "PNG":
		f.Add(imagebomb.PNG16(80, 64))
	case "TIFF":
		f.Add(imagebomb.TIFF16(80, 64))
		f.Add(imagebomb.TIFFTiles(80, 64))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeImage(b, fuzzLimits)
		if err != nil {
			if !errors.Is(err, ErrImage) {
				t.Fatalf("error does not wrap ErrImage: %v", err)
			}
			return
		}
		if m.W < 1 || m.H < 1 || m.W > fuzzLimits.MaxSide || m.H > fuzzLimits.MaxSide || len(m.Pix) != 3*m.W*m.H {
			t.Fatalf("decoded %d×%d with %d bytes", m.W, m.H, len(m.Pix))
		}
	})
}

func FuzzDecodeJPEG(f *testing.F) { fuzzDecode(f, "JPEG") }
func FuzzDecodePNG(f *testing.F)  { fuzzDecode(f, "PNG") }
func FuzzDecodeGIF(f *testing.F)  { fuzzDecode(f, "GIF") }
func FuzzDecodeBMP(f *testing.F)  { fuzzDecode(f, "BMP") }
func FuzzDecodeTIFF(f *testing.F) { fuzzDecode(f, "TIFF") }

func FuzzExifOrientation(f *testing.F) {
	jpg := encode(f, "JPEG", quadrants(16, 16))
	f.Add(withOrientation(jpg, 6, binary.LittleEndian))
	f.Add(withOrientation(jpg, 3, binary.BigEndian))
	f.Add(jpg)
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := exifOrientation(b); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}
