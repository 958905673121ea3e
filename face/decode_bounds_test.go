package face

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portrait-id/portrait/internal/imagebomb"
)

// TestToRGBLayoutsMatchRGBAModel: each decoded layout toRGB converts with a
// loop of its own gives, pixel for pixel, what color.RGBAModel makes of it.
func TestToRGBLayoutsMatchRGBAModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := image.Rect(0, 0, 37, 23)
	fill := func(pix []byte) {
		for i := range pix {
			pix[i] = byte(rng.Uint32())
		}
	}
	pal := color.Palette{}
	for range 200 {
		pal = append(pal, color.NRGBA{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
	}
	imgs := map[string]image.Image{}
	for name, m := range map[string]interface {
		image.Image
		SubImage(image.Rectangle) image.Image
	}{
		"Gray": image.NewGray(r), "Gray16": image.NewGray16(r), "RGBA": image.NewRGBA(r),
		"NRGBA": image.NewNRGBA(r), "RGBA64": image.NewRGBA64(r), "NRGBA64": image.NewNRGBA64(r),
		"CMYK": image.NewCMYK(r), "Paletted": image.NewPaletted(r, pal),
	} {
		switch m := m.(type) {
		case *image.Gray:
			fill(m.Pix)
		case *image.Gray16:
			fill(m.Pix)
		case *image.RGBA:
			fill(m.Pix)
		case *image.NRGBA:
			fill(m.Pix)
		case *image.RGBA64:
			fill(m.Pix)
		case *image.NRGBA64:
			fill(m.Pix)
		case *image.CMYK:
			fill(m.Pix)
		case *image.Paletted:
			for i := range m.Pix {
				m.Pix[i] = byte(rng.IntN(len(pal)))
			}
		}
		// A sub-image, so that strides and offsets are exercised.
		imgs[name] = m.SubImage(image.Rect(3, 2, 36, 21))
	}
	for name, img := range imgs {
		got := toRGB(img, 1)
		b := img.Bounds()
		i := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
				if g := got.Pix[i : i+3]; g[0] != c.R || g[1] != c.G || g[2] != c.B {
					t.Fatalf("%s at (%d,%d): %v, want %v", name, x, y, g, c)
				}
				i += 3
			}
		}
	}
}

// allocated runs f and returns the bytes it allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodeRefusesWideSamples: 16-bit images whose decoded form exceeds
// MaxBytes are refused from their header, before decoding; smaller ones
// decode to their 8-bit values.
func TestDecodeRefusesWideSamples(t *testing.T) {
	for _, tc := range []struct {
		name, refusal string
		file          func(w, h int) []byte
	}{
		{"PNG", "4096×4096 takes 8 bytes a pixel", imagebomb.PNG16},
		{"TIFF", "4096×4096 takes 24 bytes a pixel", imagebomb.TIFF16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bomb := tc.file(4096, 4096)
			var err error
			if n := allocated(func() { _, err = decodeImage(bomb, DefaultImageLimits) }); n > 1<<20 {
				t.Errorf("allocated %d bytes to refuse a %d-byte file", n, len(bomb))
			}
			if !errors.Is(err, ErrImage) || !strings.Contains(err.Error(), tc.refusal) {
				t.Fatalf("err = %v, want the 16-bit 4096×4096 image refused", err)
			}
			m, err := decodeImage(tc.file(300, 200), DefaultImageLimits)
			if err != nil {
				t.Fatal(err)
			}
			if m.W != 300 || m.H != 200 || bytes.Count(m.Pix, []byte{0}) != len(m.Pix) {
				t.Errorf("decoded %d×%d, want 300×200 black", m.W, m.H)
			}
		})
	}
}

// TestDecodeRefusesScanBombs: a progressive JPEG of more scans than any
// encoder writes is refused, as ErrImage, and one of as many as allowed
// still decodes.
func TestDecodeRefusesScanBombs(t *testing.T) {
	if _, err := decodeImage(imagebomb.ProgressiveScans(512, 512, 64, true), DefaultImageLimits); err != nil {
		t.Fatalf("64 scans: %v", err)
	}
	// Refused before any scan is decoded: a 4096×4096 image's 64 scans
	// would take ~0.3 s, and this file's 1000 took 20 s before scans were
	// limited.
	bomb := imagebomb.ProgressiveScans(4096, 4096, 1000, true)
	var err error
	if n := allocated(func() { _, err = decodeImage(bomb, DefaultImageLimits) }); n > 1<<20 {
		t.Errorf("allocated %d bytes to refuse", n)
	}
	if !errors.Is(err, ErrImage) || !strings.Contains(err.Error(), "more than 64 scans") {
		t.Fatalf("1000 scans: err = %v, want ErrImage refusing the scan count", err)
	}
	// A baseline image codes each component once: decoding a second scan
	// of it would reconstruct every block again.
	if _, err := decodeImage(imagebomb.SequentialScans(512, 512, 1), DefaultImageLimits); err != nil {
		t.Fatalf("one sequential scan: %v", err)
	}
	_, err = decodeImage(imagebomb.SequentialScans(512, 512, 2), DefaultImageLimits)
	if !errors.Is(err, ErrImage) || !strings.Contains(err.Error(), "two sequential scans") {
		t.Fatalf("two sequential scans: err = %v, want ErrImage", err)
	}
}

// TestDecodeRefusesTIFFTiles: a TIFF in more strips or tiles than an
// accepted image has rows is refused from its header, before the decoder
// sets up a decompressor for each.
func TestDecodeRefusesTIFFTiles(t *testing.T) {
	if _, err := decodeImage(imagebomb.TIFFTiles(1024, 1024), DefaultImageLimits); err != nil {
		t.Fatalf("4096 tiles: %v", err)
	}
	bomb := imagebomb.TIFFTiles(4096, 4096)
	var err error
	if n := allocated(func() { _, err = decodeImage(bomb, DefaultImageLimits) }); n > 1<<20 {
		t.Errorf("allocated %d bytes to refuse", n)
	}
	if !errors.Is(err, ErrImage) || !strings.Contains(err.Error(), "65536 strips or tiles") {
		t.Fatalf("65536 tiles: err = %v, want ErrImage", err)
	}
}

// TestLargeProgressiveReadsCoarser: a progressive 4:4:4 image that would
// need 192 MiB of coefficients at full size still decodes, and a crop
// wanting full resolution gets the finest level that fits instead.
func TestLargeProgressiveReadsCoarser(t *testing.T) {
	p, err := decodePyramid(context.Background(), imagebomb.ProgressiveColour(4096, 4096), DefaultImageLimits)
	if err != nil {
		t.Fatal(err)
	}
	if _, got := p.level(0); got != 3 {
		t.Errorf("full resolution read level %d, want the base, 3", got)
	}
	if m, got := p.level(1); got != 1 || m.W != 2048 {
		t.Errorf("half resolution read level %d (%d px wide), want 1", got, m.W)
	}
}

// TestDecodeRefusesShortBMP: a BMP header declaring pixels the file does not
// hold is refused before the decoder allocates the image.
func TestDecodeRefusesShortBMP(t *testing.T) {
	b := encode(t, "BMP", quadrants(64, 64))
	binary.LittleEndian.PutUint32(b[18:], 4000)
	binary.LittleEndian.PutUint32(b[22:], 4000)
	var err error
	if n := allocated(func() { _, err = decodeImage(b, DefaultImageLimits) }); n > 1<<20 {
		t.Errorf("allocated %d bytes to refuse", n)
	}
	if !errors.Is(err, ErrImage) || !strings.Contains(err.Error(), "truncated BMP") {
		t.Fatalf("err = %v, want truncated BMP", err)
	}
}

// TestDecodeHonoursContext: a call whose context has ended gets the
// context's error, not ErrImage (the caller's deadline, not the image, is
// at fault), for every format.
func TestDecodeHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	files := map[string][]byte{"progressive JPEG": imagebomb.ProgressiveScans(512, 512, 10, false)}
	for _, name := range formatNames {
		files[name] = encode(t, name, quadrants(96, 80))
	}
	for name, b := range files {
		if _, err := decodePyramid(ctx, b, DefaultImageLimits); !errors.Is(err, context.Canceled) || errors.Is(err, ErrImage) {
			t.Errorf("%s: err = %v, want context.Canceled", name, err)
		}
	}
}

// TestProbeBoundsBombs runs the bombs through the production entry point:
// Probe refuses the costly ones as ErrImage, and a call whose deadline has
// passed stops with the context's error instead of decoding the most
// costly file it would accept (64 scans at 4096×4096).
func TestProbeBoundsBombs(t *testing.T) {
	p := testPipeline(t)
	for name, b := range map[string][]byte{
		"1000 scans":           imagebomb.ProgressiveScans(4096, 4096, 1000, true),
		"two sequential scans": imagebomb.SequentialScans(4096, 4096, 2),
		"16-bit PNG":           imagebomb.PNG16(4096, 4096),
		"16-bit TIFF":          imagebomb.TIFF16(4096, 4096),
	} {
		if _, err := p.Probe(context.Background(), b); !errors.Is(err, ErrImage) {
			t.Errorf("%s: err = %v, want ErrImage", name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	<-ctx.Done()
	if _, err := p.Probe(ctx, imagebomb.ProgressiveScans(4096, 4096, 64, true)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("past its deadline: err = %v, want context.DeadlineExceeded", err)
	}
}

// TestGIFDecodesOneFrame: a GIF's later frames cost nothing, since the
// pipeline reads the first (gif.Decode stops there): 200 frames allocate
// about what one does.
func TestGIFDecodesOneFrame(t *testing.T) {
	frame := image.NewPaletted(image.Rect(0, 0, 512, 512), color.Palette{color.Black, color.White})
	for i := range frame.Pix {
		frame.Pix[i] = byte(i / 7 % 2)
	}
	gifOf := func(n int) []byte {
		a := &gif.GIF{}
		for range n {
			a.Image, a.Delay = append(a.Image, frame), append(a.Delay, 0)
		}
		var b bytes.Buffer
		if err := gif.EncodeAll(&b, a); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	one, many := gifOf(1), gifOf(200)
	var err error
	a1 := allocated(func() { _, err = decodeImage(one, DefaultImageLimits) })
	if err != nil {
		t.Fatal(err)
	}
	a200 := allocated(func() { _, err = decodeImage(many, DefaultImageLimits) })
	if err != nil {
		t.Fatal(err)
	}
	if a200 > a1+a1/4 {
		t.Errorf("200 frames (%d bytes) allocated %d bytes, one frame %d", len(many), a200, a1)
	}
}

// BenchmarkDecodeBombs is what the worst files of each kind cost the decode
// stage: CPU seconds a call (cpu-s/op, user+system, all threads, so the GC's
// work counts), the heap's high water during the calls (peak-heap-MB,
// sampled every 200 µs) and the process's peak RSS so far (maxrss-MB;
// run one sub-benchmark per process, e.g. -bench 'DecodeBombs/png16-4096$',
// to read it for that file alone). Refused files are included: what matters
// is what they cost to refuse.
func BenchmarkDecodeBombs(b *testing.B) {
	for _, c := range []struct {
		name string
		file func() []byte
	}{
		// The largest files the limits admit, then the ones they refuse.
		{"progressive-64-scans-4096", func() []byte { return imagebomb.ProgressiveScans(4096, 4096, 64, false) }},
		{"progressive-64-refine-scans-4096", func() []byte { return imagebomb.ProgressiveScans(4096, 4096, 64, true) }},
		{"progressive-1000-refine-scans-4096", func() []byte { return imagebomb.ProgressiveScans(4096, 4096, 1000, true) }},
		{"progressive-colour-4096", func() []byte { return imagebomb.ProgressiveColour(4096, 4096) }},
		{"sequential-32-scans-4096", func() []byte { return imagebomb.SequentialScans(4096, 4096, 32) }},
		{"huffman-tables-60000", func() []byte { return imagebomb.HuffmanTables(60000) }},
		{"png16-2896", func() []byte { return imagebomb.PNG16(2896, 2896) }},
		{"tiff16-1672", func() []byte { return imagebomb.TIFF16(1672, 1672) }},
		{"tiff-tiles-4096", func() []byte { return imagebomb.TIFFTiles(4096, 4096) }},
		{"png16-4096", func() []byte { return imagebomb.PNG16(4096, 4096) }},
		{"tiff16-4096", func() []byte { return imagebomb.TIFF16(4096, 4096) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			file := c.file()
			b.SetBytes(int64(len(file)))
			b.ReportAllocs()
			runtime.GC()
			stop := make(chan struct{})
			peak := make(chan uint64)
			go sampleHeap(stop, peak)
			cpu0 := cpuTime()
			for b.Loop() {
				p, err := decodePyramid(context.Background(), file, DefaultImageLimits)
				if err == nil {
					p.level(0) // what the pipeline may read of it
				}
			}
			cpu := cpuTime() - cpu0
			close(stop)
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(<-peak)/(1<<20), "peak-heap-MB")
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss-MB")
		})
	}
}

// sampleHeap sends the largest live heap it saw until stop is closed.
func sampleHeap(stop <-chan struct{}, peak chan<- uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var high uint64
	t := time.NewTicker(200 * time.Microsecond)
	defer t.Stop()
	for {
		metrics.Read(s)
		high = max(high, s[0].Value.Uint64())
		select {
		case <-stop:
			peak <- high
			return
		case <-t.C:
		}
	}
}
