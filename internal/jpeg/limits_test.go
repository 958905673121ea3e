package jpeg

import (
	"bytes"
	"context"
	"errors"
	stdjpeg "image/jpeg"
	"strings"
	"testing"

	"github.com/portrait-id/portrait/internal/imagebomb"
)

// TestScanLimit: up to maxScans scans decode as image/jpeg decodes them;
// one more is a LimitError, though image/jpeg decodes it too.
func TestScanLimit(t *testing.T) {
	for _, refine := range []bool{false, true} {
		checkAgainstStdlib(t, "at the limit", imagebomb.ProgressiveScans(96, 64, maxScans, refine))
		over := imagebomb.ProgressiveScans(96, 64, maxScans+1, refine)
		if _, err := stdjpeg.Decode(bytes.NewReader(over)); err != nil {
			t.Fatalf("image/jpeg: %v", err)
		}
		if err := CheckScans(imagebomb.ProgressiveScans(96, 64, maxScans, refine)); err != nil {
			t.Errorf("CheckScans at the limit: %v", err)
		}
		if err := CheckScans(over); err != LimitError("more than 64 scans") {
			t.Errorf("CheckScans over the limit: %v", err)
		}
		for _, d := range denoms {
			var le LimitError
			if _, err := DecodeScaled(context.Background(), bytes.NewReader(over), d); !errors.As(err, &le) {
				t.Errorf("%d scans, refine %v, /%d: err = %v, want a LimitError", maxScans+1, refine, d, err)
			}
		}
	}
}

// countdown is a context that ends once its Err has been asked n times:
// a deadline passing at a known point of the decode.
type countdown struct {
	context.Context
	n, asked int
}

func (c *countdown) Err() error {
	if c.asked++; c.asked > c.n {
		return context.DeadlineExceeded
	}
	return nil
}

// TestContextStopsDecode: the decoder asks its context at every row of
// MCUs, in every kind of scan and in the final reconstruction of a
// progressive image, and returns its error as soon as it has one.
func TestContextStopsDecode(t *testing.T) {
	files := append(testdataFiles(t), testFile{"bomb", imagebomb.ProgressiveScans(256, 256, 20, true)})
	for _, f := range files {
		for _, d := range denoms {
			// How often an unending decode asks.
			all := &countdown{Context: context.Background(), n: 1 << 30}
			if _, err := DecodeScaled(all, bytes.NewReader(f.data), d); err != nil && f.name != "video-001.progressive.truncated.jpeg" {
				t.Fatalf("%s: %v", f.name, err)
			}
			cfg, _ := DecodeConfig(bytes.NewReader(f.data))
			if rows := (cfg.Height + 15) / 16; all.asked < rows {
				t.Errorf("%s /%d: context asked %d times for %d rows of MCUs", f.name, d, all.asked, rows)
			}
			for _, n := range []int{0, 1, all.asked / 2, all.asked - 1} {
				c := &countdown{Context: context.Background(), n: n}
				if _, err := DecodeScaled(c, bytes.NewReader(f.data), d); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("%s /%d: deadline after %d checks: err = %v", f.name, d, n, err)
				}
				if c.asked != n+1 {
					t.Fatalf("%s /%d: went on asking after the deadline (%d times, ended at %d)", f.name, d, c.asked, n+1)
				}
			}
		}
	}
}

// TestCheckScansCountsAsTheDecoderDoes: on every test file, and on each cut
// short or damaged, CheckScans refuses exactly the files whose decoding
// ends in a LimitError, however many 0xff bytes their data and segments hold.
func TestCheckScansCountsAsTheDecoderDoes(t *testing.T) {
	files := testdataFiles(t)
	for _, refine := range []bool{false, true} {
		for _, n := range []int{maxScans, maxScans + 1} {
			b := imagebomb.ProgressiveScans(96, 64, n, refine)
			// A comment full of SOS markers counts for nothing.
			com := append([]byte{0xff, comMarker, 0, 2 + 40}, bytes.Repeat([]byte{0xff, sosMarker, 0, 4, 0xff}, 8)...)
			files = append(files, testFile{"bomb", b}, testFile{"bomb+COM", append(append(b[:2:2], com...), b[2:]...)})
		}
	}
	for _, f := range files {
		_, err := DecodeScaled(context.Background(), bytes.NewReader(f.data), 8)
		var le LimitError
		if got, want := CheckScans(f.data) != nil, errors.As(err, &le); got != want {
			t.Errorf("%s: CheckScans refuses %v, decoding ends in a LimitError %v (%v)", f.name, got, want, err)
		}
	}
}

// TestSequentialRescan: a baseline image coding its component once decodes
// as image/jpeg decodes it; coding it again is a LimitError, though
// image/jpeg decodes that too.
func TestSequentialRescan(t *testing.T) {
	checkAgainstStdlib(t, "one scan", imagebomb.SequentialScans(96, 64, 1))
	twice := imagebomb.SequentialScans(96, 64, 2)
	if _, err := stdjpeg.Decode(bytes.NewReader(twice)); err != nil {
		t.Fatalf("image/jpeg: %v", err)
	}
	for _, d := range denoms {
		if _, err := DecodeScaled(context.Background(), bytes.NewReader(twice), d); err != errRescan {
			t.Errorf("/%d: err = %v, want %v", d, err, errRescan)
		}
	}
	// Colour images coded a component a scan are sequential too.
	for _, f := range testdataFiles(t) {
		if !strings.Contains(f.name, "progressive") {
			if _, err := DecodeScaled(context.Background(), bytes.NewReader(f.data), 8); err == errRescan {
				t.Errorf("%s: %v", f.name, err)
			}
		}
	}
}

// TestCoefficientLimit: a progressive image whose coefficients would take
// more than maxCoeffBytes at a scale is a LimitError at that scale only.
func TestCoefficientLimit(t *testing.T) {
	colour := imagebomb.ProgressiveColour(4096, 4096)
	for _, d := range denoms {
		_, err := DecodeScaled(context.Background(), bytes.NewReader(colour), d)
		var le LimitError
		if refused := errors.As(err, &le); refused != (d == 1) {
			t.Errorf("4:4:4 4096×4096 /%d: err = %v", d, err)
		}
	}
	if _, err := DecodeScaled(context.Background(), bytes.NewReader(imagebomb.ProgressiveScans(4096, 4096, 1, false)), 1); err != nil {
		t.Errorf("grey 4096×4096 at full scale: %v", err)
	}
}
