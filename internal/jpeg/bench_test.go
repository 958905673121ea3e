package jpeg

import (
	"bytes"
	"context"
	"image"
	stdjpeg "image/jpeg"
	"math/rand/v2"
	"os"
	"testing"

	xdraw "golang.org/x/image/draw"
)

// benchPhoto makes a phone-selfie-like JPEG: the middle of image/jpeg's
// video-001 test frame (two people) enlarged onto a w×h portrait canvas, as a
// phone's optics spread detail over many pixels, with ±noise levels of
// luma-only sensor noise, encoded by image/jpeg (4:2:0) at quality.
func benchPhoto(tb testing.TB, w, h, quality, noise int) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/video-001.jpeg")
	if err != nil {
		tb.Fatal(err)
	}
	src, err := stdjpeg.Decode(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.BiLinear.Scale(m, m.Bounds(), src, image.Rect(36, 0, 113, 103), xdraw.Src, nil)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; noise > 0 && i < len(m.Pix); i += 4 {
		d := rng.IntN(2*noise+1) - noise
		for c := range 3 {
			m.Pix[i+c] = uint8(max(0, min(255, int(m.Pix[i+c])+d)))
		}
	}
	return encode(tb, m, quality)
}

// BenchmarkDecode compares image/jpeg with this package at each scale on a
// selfie-sized photo (960×1280, quality 92, ~90 KB, the size the service
// mostly sees) and a larger one (1536×2048, quality 85, ~250 KB).
func BenchmarkDecode(b *testing.B) {
	for _, img := range []struct {
		name string
		data []byte
	}{
		{"960x1280q92", benchPhoto(b, 960, 1280, 92, 0)},
		{"1536x2048q85", benchPhoto(b, 1536, 2048, 85, 3)},
	} {
		b.Run(img.name, func(b *testing.B) {
			b.Logf("%d bytes", len(img.data))
			run := func(name string, decode func() (image.Image, error)) {
				b.Run(name, func(b *testing.B) {
					b.SetBytes(int64(len(img.data)))
					b.ReportAllocs()
					for b.Loop() {
						if _, err := decode(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			run("stdlib", func() (image.Image, error) { return stdjpeg.Decode(bytes.NewReader(img.data)) })
			for _, d := range []int{1, 2, 4, 8} {
				run("denom"+string(rune('0'+d)), func() (image.Image, error) {
					return DecodeScaled(context.Background(), bytes.NewReader(img.data), d)
				})
			}
		})
	}
}
