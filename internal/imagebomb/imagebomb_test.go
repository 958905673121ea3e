package imagebomb

import (
	"bytes"
	"compress/zlib"
	"image/gif"
	"io"
	"testing"
)

// TestZeros: the stream built from repeated chunks inflates, checksum
// included, to exactly n zeros, for sizes around the chunk boundaries.
func TestZeros(t *testing.T) {
	const chunk = 1 << 18
	for _, n := range []int{1, chunk - 1, chunk, chunk + 1, 2 * chunk, 3*chunk + 7, 10 * chunk} {
		r, err := zlib.NewReader(bytes.NewReader(zeros(n)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(got) != n || bytes.Count(got, []byte{0}) != n {
			t.Fatalf("n=%d: inflated %d bytes, %d of them zero", n, len(got), bytes.Count(got, []byte{0}))
		}
	}
}

// TestGIFFrames: the file is a GIF of n frames that image/gif reads
// whole, the first of stripes and the others black.
func TestGIFFrames(t *testing.T) {
	g, err := gif.DecodeAll(bytes.NewReader(GIFFrames(96, 64, 5)))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != 5 || g.Config.Width != 96 || g.Config.Height != 64 {
		t.Fatalf("%d frames of %d×%d", len(g.Image), g.Config.Width, g.Config.Height)
	}
	if first, last := g.Image[0].Pix, g.Image[4].Pix; first[7] != 1 || bytes.Count(last, []byte{0}) != len(last) {
		t.Errorf("first frame starts %v, last frame holds %d nonzero pixels", first[:8], len(last)-bytes.Count(last, []byte{0}))
	}
}
