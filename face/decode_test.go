package face

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// quadrantColours are pure, so that GIF's fixed palette keeps them exact.
var quadrantColours = [4]color.RGBA{
	{255, 0, 0, 255},   // top-left: red
	{0, 255, 0, 255},   // top-right: green
	{0, 0, 255, 255},   // bottom-left: blue
	{255, 255, 0, 255}, // bottom-right: yellow
}

// quadrants is a test picture whose four quarters have distinct colours, so
// that any rotation or mirror is visible at the corners.
// decodeImage decodes at full resolution, as the tests compare pixels.
func decodeImage(b []byte, lim ImageLimits) (*rgbImage, error) {
	p, err := decodePyramid(context.Background(), b, lim)
	if err != nil {
		return nil, err
	}
	m, _ := p.level(0)
	return m, nil
}

func quadrants(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			q := 0
			if x >= w/2 {
				q++
			}
			if y >= h/2 {
				q += 2
			}
			m.SetRGBA(x, y, quadrantColours[q])
		}
	}
	return m
}

func encode(t testing.TB, name string, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	switch name {
	case "JPEG":
		err = jpeg.Encode(&b, m, &jpeg.Options{Quality: 90})
	case "PNG":
		err = png.Encode(&b, m)
	case "GIF":
		err = gif.Encode(&b, m, nil)
	case "BMP":
		err = bmp.Encode(&b, m)
	case "TIFF":
		err = tiff.Encode(&b, m, nil)
	}
	if err != nil {
		t.Fatalf("encode %s: %v", name, err)
	}
	return b.Bytes()
}

var formatNames = []string{"JPEG", "PNG", "GIF", "BMP", "TIFF"}

// near reports whether two colours agree within lossy-codec noise.
func near(r, g, b byte, c color.RGBA) bool {
	d := func(a, b byte) int { return max(int(a)-int(b), int(b)-int(a)) }
	return d(r, c.R) < 40 && d(g, c.G) < 40 && d(b, c.B) < 40
}

func TestDecodeFormats(t *testing.T) {
	for _, name := range formatNames {
		t.Run(name, func(t *testing.T) {
			m, err := decodeImage(encode(t, name, quadrants(96, 80)), DefaultImageLimits)
			if err != nil {
				t.Fatal(err)
			}
			if m.W != 96 || m.H != 80 || len(m.Pix) != 3*96*80 {
				t.Fatalf("got %d×%d with %d bytes", m.W, m.H, len(m.Pix))
			}
			corners := [4][2]int{{2, 2}, {93, 2}, {2, 77}, {93, 77}}
			for q, p := range corners {
				if r, g, b := m.at(p[0], p[1]); !near(r, g, b, quadrantColours[q]) {
					t.Errorf("corner %d = %d,%d,%d, want %v", q, r, g, b, quadrantColours[q])
				}
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	jpg := encode(t, "JPEG", quadrants(96, 80))
	tests := []struct {
		name   string
		in     []byte
		detail string
	}{
		{"empty", nil, "not a JPG"},
		{"text", []byte("hello, this is not an image"), "not a JPG"},
		{"webp", append([]byte("RIFF\x00\x00\x00\x00WEBPVP8 "), make([]byte, 64)...), "not a JPG"},
		{"truncated JPEG", jpg[:len(jpg)/2], "truncated JPEG"},
		{"truncated PNG", cut(encode(t, "PNG", quadrants(96, 80)), 60), "PNG"},
		{"truncated GIF", cut(encode(t, "GIF", quadrants(96, 80)), 40), "GIF"},
		{"truncated BMP", cut(encode(t, "BMP", quadrants(96, 80)), 100), "BMP"},
		{"truncated TIFF", cut(encode(t, "TIFF", quadrants(96, 80)), 100), "TIFF"},
		{"too small", encode(t, "PNG", quadrants(40, 200)), "smaller than 64×64"},
		{"too large", encode(t, "GIF", image.NewPaletted(image.Rect(0, 0, 4097, 64), []color.Color{color.Black})), "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeImage(tc.in, DefaultImageLimits)
			if !errors.Is(err, ErrImage) {
				t.Fatalf("err = %v, want ErrImage", err)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("err = %q, want it to mention %q", err, tc.detail)
			}
		})
	}
}

func cut(b []byte, n int) []byte { return b[:n] }

// bombs are small files whose headers declare 30000×30000 pixels.
func bombs(t testing.TB) map[string][]byte {
	const side = 30000
	out := map[string][]byte{}

	j := encode(t, "JPEG", quadrants(64, 64))
	sof := bytes.Index(j, []byte{0xFF, 0xC0})
	binary.BigEndian.PutUint16(j[sof+5:], side)
	binary.BigEndian.PutUint16(j[sof+7:], side)
	out["JPEG"] = j

	p := encode(t, "PNG", quadrants(64, 64))
	binary.BigEndian.PutUint32(p[16:], side) // IHDR data starts at 16
	binary.BigEndian.PutUint32(p[20:], side)
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	out["PNG"] = p

	g := encode(t, "GIF", quadrants(64, 64))
	binary.LittleEndian.PutUint16(g[6:], side)
	binary.LittleEndian.PutUint16(g[8:], side)
	out["GIF"] = g

	b := encode(t, "BMP", quadrants(64, 64))
	binary.LittleEndian.PutUint32(b[18:], side)
	binary.LittleEndian.PutUint32(b[22:], side)
	out["BMP"] = b

	out["TIFF"] = tiffHeader(side, side)
	return out
}

// tiffHeader is a little-endian grey TIFF's IFD declaring w×h with one strip
// and no pixel data behind it.
func tiffHeader(w, h uint32) []byte {
	type entry struct {
		tag, typ uint16
		val      uint32
	}
	entries := []entry{
		{256, 4, w}, {257, 4, h}, {258, 3, 8}, {259, 3, 1}, {262, 3, 1},
		{273, 4, 8}, {277, 3, 1}, {278, 4, h}, {279, 4, w * h},
	}
	b := []byte("II*\x00")
	b = binary.LittleEndian.AppendUint32(b, 8)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.typ)
		b = binary.LittleEndian.AppendUint32(b, 1)
		b = binary.LittleEndian.AppendUint32(b, e.val)
	}
	return binary.LittleEndian.AppendUint32(b, 0)
}

func TestDecodeRefusesBombsFromTheHeader(t *testing.T) {
	for name, b := range bombs(t) {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := decodeImage(b, DefaultImageLimits)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrImage) || !strings.Contains(err.Error(), "30000×30000") {
				t.Fatalf("err = %v, want the declared size refused", err)
			}
			if took > 50*time.Millisecond {
				t.Errorf("took %v to refuse", took)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("allocated %d bytes to refuse", alloc)
			}
		})
	}
}

// withOrientation inserts an Exif APP1 segment carrying the orientation tag
// right after the JPEG's SOI marker.
func withOrientation(jpg []byte, o uint16, bo binary.AppendByteOrder) []byte {
	t := []byte("II*\x00")
	if bo == binary.AppendByteOrder(binary.BigEndian) {
		t = []byte("MM\x00*")
	}
	t = bo.AppendUint32(t, 8)
	t = bo.AppendUint16(t, 2)
	// An unrelated tag first (ImageDescription offset), then Orientation.
	t = bo.AppendUint16(t, 0x010E)
	t = bo.AppendUint16(t, 2)
	t = bo.AppendUint32(t, 4)
	t = append(t, 'a', 'b', 'c', 0)
	t = bo.AppendUint16(t, 0x0112)
	t = bo.AppendUint16(t, 3)
	t = bo.AppendUint32(t, 1)
	t = bo.AppendUint16(t, o)
	t = bo.AppendUint16(t, 0)
	t = bo.AppendUint32(t, 0)
	seg := append([]byte("Exif\x00\x00"), t...)
	out := []byte{0xFF, 0xD8, 0xFF, 0xE1}
	out = binary.BigEndian.AppendUint16(out, uint16(len(seg)+2))
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

func TestDecodeHonoursExifOrientation(t *testing.T) {
	const tl, tr, bl, br = 0, 1, 2, 3
	// Where each stored corner (TL, TR, BL, BR) is displayed, read off the
	// Exif specification's description of each orientation value.
	tests := []struct {
		o       uint16
		shown   [4]int
		swapped bool
	}{
		{1, [4]int{tl, tr, bl, br}, false},
		{2, [4]int{tr, tl, br, bl}, false},
		{3, [4]int{br, bl, tr, tl}, false},
		{4, [4]int{bl, br, tl, tr}, false},
		{5, [4]int{tl, bl, tr, br}, true},
		{6, [4]int{tr, br, tl, bl}, true},
		{7, [4]int{br, tr, bl, tl}, true},
		{8, [4]int{bl, tl, br, tr}, true},
	}
	jpg := encode(t, "JPEG", quadrants(120, 80))
	for _, tc := range tests {
		for _, bo := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
			m, err := decodeImage(withOrientation(jpg, tc.o, bo), DefaultImageLimits)
			if err != nil {
				t.Fatal(err)
			}
			w, h := 120, 80
			if tc.swapped {
				w, h = h, w
			}
			if m.W != w || m.H != h {
				t.Fatalf("orientation %d: %d×%d, want %d×%d", tc.o, m.W, m.H, w, h)
			}
			at := [4][2]int{{3, 3}, {w - 4, 3}, {3, h - 4}, {w - 4, h - 4}}
			for stored, shown := range tc.shown {
				p := at[shown]
				if r, g, b := m.at(p[0], p[1]); !near(r, g, b, quadrantColours[stored]) {
					t.Errorf("orientation %d (%v): stored corner %d should show at corner %d, found %d,%d,%d", tc.o, bo, stored, shown, r, g, b)
				}
			}
		}
	}
}

func TestExifOrientationIgnoresMalformed(t *testing.T) {
	jpg := encode(t, "JPEG", quadrants(64, 64))
	good := withOrientation(jpg, 6, binary.LittleEndian)
	tests := []struct {
		name string
		in   []byte
		want int
	}{
		{"tagged", good, 6},
		{"no exif", jpg, 1},
		{"out of range value", withOrientation(jpg, 9, binary.LittleEndian), 1},
		{"segment length past end", append(good[:4:4], 0xFF, 0xFF), 1},
		{"cut inside the IFD", good[:30], 1},
		{"not a JPEG", []byte("GIF89a"), 1},
	}
	for _, tc := range tests {
		if got := exifOrientation(tc.in); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestYCbCrConversionMatchesStdlib checks the fast JPEG colour conversion
// against color.YCbCrToRGB for every subsampling ratio, on an odd-offset
// sub-image so the chroma indexing is exercised, and its turning in the same
// pass against orient for every EXIF orientation.
func TestYCbCrConversionMatchesStdlib(t *testing.T) {
	for ratio := range chromaShift {
		full := image.NewYCbCr(image.Rect(0, 0, 37, 29), ratio)
		for i := range full.Y {
			full.Y[i] = byte(i * 7)
		}
		for i := range full.Cb {
			full.Cb[i], full.Cr[i] = byte(i*13), byte(255-i*5)
		}
		src := full.SubImage(image.Rect(3, 5, 36, 28)).(*image.YCbCr)
		want := &rgbImage{W: 33, H: 23}
		for y := 5; y < 28; y++ {
			for x := 3; x < 36; x++ {
				c := src.YCbCrAt(x, y)
				r, g, b := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
				want.Pix = append(want.Pix, r, g, b)
			}
		}
		for o := 1; o <= 8; o++ {
			got, turned := toRGB(src, o), orient(want, o)
			if got.W != turned.W || got.H != turned.H || !bytes.Equal(got.Pix, turned.Pix) {
				t.Fatalf("%v, orientation %d: conversion differs from color.YCbCrToRGB then orient", ratio, o)
			}
		}
	}
}

// TestScaledDecode: a large JPEG starts its pyramid at a reduced level,
// decoded in the DCT domain, which must match box-halving the full image,
// honour the EXIF orientation, and still give full resolution on demand.
func TestScaledDecode(t *testing.T) {
	// Mid-tone shading and texture down to a 9-pixel period, as skin and
	// backgrounds in a phone photo have.
	src := image.NewRGBA(image.Rect(0, 0, 1280, 1000))
	for y := 0; y < 1000; y++ {
		for x := 0; x < 1280; x++ {
			fx, fy := float64(x), float64(y)
			v := 30 * math.Sin(fx/9) * math.Cos(fy/13)
			src.SetRGBA(x, y, color.RGBA{byte(120 + v + fx/32), byte(100 + v/2), byte(90 - v + fy/25), 255})
		}
	}
	jpg := encode(t, "JPEG", src)
	for _, o := range []uint16{1, 6} {
		b := withOrientation(jpg, o, binary.LittleEndian)
		p, err := decodePyramid(context.Background(), b, DefaultImageLimits)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.levels) != 2 || p.levels[0] != nil {
			t.Fatalf("orientation %d: %d levels, full resolution decoded up front: %v", o, len(p.levels), p.levels[0] != nil)
		}
		half, _ := p.level(1)
		full, _ := p.level(0)
		want := halve(full)
		if full.W != p.W || full.H != p.H || half.W != want.W || half.H != want.H {
			t.Fatalf("orientation %d: full %d×%d (pyramid %d×%d), half %d×%d, want %d×%d", o, full.W, full.H, p.W, p.H, half.W, half.H, want.W, want.H)
		}
		if o == 6 && p.W != 1000 {
			t.Errorf("orientation 6 not applied: %d×%d", p.W, p.H)
		}
		sum, worst := 0, 0
		for i := range half.Pix {
			d := max(int(half.Pix[i])-int(want.Pix[i]), int(want.Pix[i])-int(half.Pix[i]))
			sum += d
			worst = max(worst, d)
		}
		// The DCT-domain reduction keeps the low frequencies exactly where
		// the box filter blurs them a little, so the two differ slightly.
		if mean := float64(sum) / float64(len(half.Pix)); mean > 2 || worst > 16 {
			t.Errorf("orientation %d: reduced decode differs from halving by %.2f on average, %d at worst", o, mean, worst)
		}
	}
}

// BenchmarkDecodePyramid is the decode stage of a 960×1280 selfie stored
// upright and, as phones often store one, sideways with an EXIF tag.
func BenchmarkDecodePyramid(b *testing.B) {
	upright := selfieJPEG(b, 960, 1280, 0.4, 92)
	m, err := decodeImage(upright, DefaultImageLimits)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, toRGBA(orient(m, 8)), &jpeg.Options{Quality: 92}); err != nil {
		b.Fatal(err)
	}
	sideways := withOrientation(buf.Bytes(), 6, binary.BigEndian)
	for _, c := range []struct {
		name string
		jpg  []byte
	}{{"upright", upright}, {"exif6", sideways}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.jpg)))
			for b.Loop() {
				if _, err := decodePyramid(context.Background(), c.jpg, DefaultImageLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkYCbCrToRGB is the colour conversion of a reduced 960×1280
// selfie's base level.
func BenchmarkYCbCrToRGB(b *testing.B) {
	// Skin-like colours: rarely clamped, as in a photo.
	src := image.NewYCbCr(image.Rect(0, 0, 480, 640), image.YCbCrSubsampleRatio420)
	for i := range src.Y {
		src.Y[i] = byte(60 + i%150)
	}
	for i := range src.Cb {
		src.Cb[i], src.Cr[i] = byte(100+i%20), byte(140+i%25)
	}
	for _, o := range []int{1, 6} {
		b.Run(fmt.Sprint("orientation", o), func(b *testing.B) {
			for b.Loop() {
				ycbcrToRGB(src, o)
			}
		})
	}
}
