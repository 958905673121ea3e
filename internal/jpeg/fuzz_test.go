package jpeg

import (
	"bytes"
	"context"
	"image"
	stdjpeg "image/jpeg"
	"testing"

	"github.com/portrait-id/portrait/internal/imagebomb"
)

// FuzzDecodeScaled decodes arbitrary input at every scale (all four for each
// input, since they share everything but the reconstruction). It must never
// panic; whenever a decode succeeds its size must be DecodeConfig's divided
// by denom and rounded up; and, as this package is a fork of image/jpeg, it
// must fail exactly when image/jpeg does, with the same error, and at full
// size return image/jpeg's pixels.
func FuzzDecodeScaled(f *testing.F) {
	for _, tf := range testdataFiles(f) {
		f.Add(tf.data)
	}
	for _, tf := range generatedFiles(f)[:8] {
		f.Add(tf.data)
	}
	for _, refine := range []bool{false, true} {
		f.Add(imagebomb.ProgressiveScans(40, 24, maxScans, refine))
		f.Add(imagebomb.ProgressiveScans(40, 24, maxScans+1, refine))
	}
	f.Add(imagebomb.SequentialScans(40, 24, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := DecodeConfig(bytes.NewReader(b))
		if err == nil && cfg.Width*cfg.Height > 1<<16 {
			// Larger pictures make the fuzzer slower without exercising
			// anything new: every MCU layout and edge case fits in 256×256.
			return
		}
		want, wantErr := stdjpeg.Decode(bytes.NewReader(b))
		for _, d := range denoms {
			m, err := DecodeScaled(context.Background(), bytes.NewReader(b), d)
			if refused(err, b) {
				continue
			}
			if diff := sameError(err, wantErr); diff != "" {
				t.Fatalf("/%d: %s", d, diff)
			}
			if err != nil {
				continue
			}
			if cfg == (image.Config{}) {
				t.Fatalf("/%d: decoded what DecodeConfig rejected", d)
			}
			if r := image.Rect(0, 0, (cfg.Width+d-1)/d, (cfg.Height+d-1)/d); m.Bounds() != r {
				t.Fatalf("/%d: bounds %v, want %v", d, m.Bounds(), r)
			}
			if d == 1 {
				if diff := sameImage(m, want); diff != "" {
					t.Fatal(diff)
				}
			}
		}
	})
}
