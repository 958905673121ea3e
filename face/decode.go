package face

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"
	"math/bits"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/portrait-id/portrait/internal/jpeg"
)

// ImageLimits bound the images accepted, checked against what the header
// declares before any pixel is decoded, so that a small file claiming
// 30000×30000 pixels (a decompression bomb) costs microseconds, not gigabytes.
type ImageLimits struct {
	MinSide   int // smaller than this cannot hold a face the gate would pass
	MaxSide   int // longest side accepted
	MaxPixels int // width × height accepted
	// MaxBytes bounds width × height × the bytes per pixel of the image
	// the format's decoder builds (8 for 16-bit RGBA, 2 for 16-bit grey),
	// since decoding costs time and memory by the byte, not the pixel.
	// Zero means 4 × MaxPixels.
	MaxBytes int
}

// DefaultImageLimits: 64 px is below any face the gate accepts (80 px box);
// 4096 px / 16 MP covers every phone camera's selfie at full resolution while
// bounding a decoded image to 48 MB of RGB. 64 MiB of decoded pixels admits
// every 8-bit image of up to 16 MP, alpha included, and 16-bit ones of up to
// 8 MP in colour (16 MP in grey): no camera writes 16-bit selfies, and the
// pipeline reads at most 8 bits of a sample, but decoding a 16-bit 4096×4096
// PNG or TIFF took 1.3–2 s of CPU and 430–690 MB.
var DefaultImageLimits = ImageLimits{MinSide: 64, MaxSide: 4096, MaxPixels: 16 << 20, MaxBytes: 64 << 20}

// rgbImage is the pipeline's working picture: 8-bit RGB, packed row-major
// without padding, already turned upright by the EXIF orientation.
type rgbImage struct {
	W, H int
	Pix  []byte // len 3*W*H
}

// at returns the pixel at (x, y) clamped to the image.
func (m *rgbImage) at(x, y int) (r, g, b byte) {
	x = min(max(x, 0), m.W-1)
	y = min(max(y, 0), m.H-1)
	i := 3 * (y*m.W + x)
	return m.Pix[i], m.Pix[i+1], m.Pix[i+2]
}

// format is one accepted container, recognised by its magic bytes rather than
// by what the client says, since clients mislabel.
type format struct {
	name   string
	magic  [][]byte
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

var formats = []format{
	{"JPEG", [][]byte{{0xFF, 0xD8, 0xFF}}, jpeg.DecodeConfig, nil}, // decodePyramid decodes JPEGs scaled, with jpeg.DecodeScaled
	{"PNG", [][]byte{[]byte("\x89PNG\r\n\x1a\n")}, png.DecodeConfig, png.Decode},
	{"GIF", [][]byte{[]byte("GIF87a"), []byte("GIF89a")}, gif.DecodeConfig, gif.Decode}, // gif.Decode returns the first frame
	{"BMP", [][]byte{[]byte("BM")}, bmp.DecodeConfig, bmp.Decode},
	{"TIFF", [][]byte{[]byte("II*\x00"), []byte("MM\x00*")}, tiff.DecodeConfig, tiff.Decode},
}

func sniff(b []byte) (format, bool) {
	for _, f := range formats {
		for _, m := range f.magic {
			if bytes.HasPrefix(b, m) {
				return f, true
			}
		}
	}
	return format{}, false
}

// scaledMinSide is the shorter side a large JPEG is decoded down to, at
// most: JPEG decodes at 1/2, 1/4 or 1/8 of its size in the DCT domain for a
// fraction of the cost, and the models' crops of a selfie's face (≤ 224 px
// from a face a quarter of the frame wide or more) read a level this coarse
// or, a little enlarged, the level above (see baseStretch). A smaller face
// is read from a finer level decoded on demand.
var scaledMinSide = 360 // a variable so tests can compare with full decoding

// jpegDenom is the reduction a w×h JPEG is first decoded at.
func jpegDenom(w, h int) int {
	d := 1
	for d < 8 && min(w, h)/(2*d) >= scaledMinSide {
		d *= 2
	}
	return d
}

// decodePyramid turns the bytes of a JPG/PNG/GIF/BMP/TIFF file into an
// upright RGB pyramid whose levels the pipeline's crops read. Every failure
// wraps ErrImage with a detail a merchant's developer can act on, except
// that when ctx ends first it returns ctx.Err(); levels decoded later, on
// demand, stop then too.
func decodePyramid(ctx context.Context, b []byte, lim ImageLimits) (*pyramid, error) {
	f, ok := sniff(b)
	if !ok {
		return nil, imageErrorf("not a JPG, PNG, BMP, GIF or TIFF file")
	}
	cfg, err := guard(f, func() (image.Config, error) { return f.config(bytes.NewReader(b)) })
	if err != nil {
		return nil, decodeError(f, err)
	}
	if err := lim.check(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	if err := lim.checkBytes(f, cfg, b); err != nil {
		return nil, err
	}
	if f.name != "JPEG" {
		img, err := guard(f, func() (image.Image, error) { return f.decode(ctxReader{ctx, bytes.NewReader(b)}) })
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err != nil {
			return nil, decodeError(f, err)
		}
		// A decoder's pixels must agree with the header it was admitted on.
		if r := img.Bounds(); r.Dx() != cfg.Width || r.Dy() != cfg.Height {
			if err := lim.check(r.Dx(), r.Dy()); err != nil {
				return nil, err
			}
		}
		return newPyramid(toRGB(img, 1)), nil
	}
	if err := jpeg.CheckScans(b); err != nil {
		return nil, decodeError(f, err)
	}
	o := exifOrientation(b)
	decodeAt := func(level int) (*rgbImage, error) {
		img, err := guard(f, func() (image.Image, error) { return jpeg.DecodeScaled(ctx, bytes.NewReader(b), 1<<level) })
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err != nil {
			return nil, decodeError(f, err)
		}
		return toRGB(img, o), nil
	}
	base := bits.TrailingZeros(uint(jpegDenom(cfg.Width, cfg.Height)))
	m, err := decodeAt(base)
	if err != nil {
		return nil, err
	}
	w, h := cfg.Width, cfg.Height
	if o >= 5 {
		w, h = h, w
	}
	p := &pyramid{W: w, H: h, levels: make([]*rgbImage, base+1), base: base}
	p.levels[base] = m
	p.finer = func(level int) (*rgbImage, bool) {
		m, err := decodeAt(level)
		return m, err == nil
	}
	return p, nil
}

// ctxReader fails every read once ctx has ended, so that a library decoder,
// which takes no context, stops at its next read: PNG and GIF read as they
// decode, TIFF a strip or tile at a time (through ReadAt).
type ctxReader struct {
	ctx context.Context
	r   *bytes.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (c ctxReader) ReadAt(p []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.ReadAt(p, off)
}

func (lim ImageLimits) check(w, h int) error {
	switch {
	case w <= 0 || h <= 0:
		return imageErrorf("image has no pixels (%d×%d)", w, h)
	case w > lim.MaxSide || h > lim.MaxSide || w*h > lim.MaxPixels:
		return imageErrorf("image %d×%d is larger than %d×%d or %d pixels", w, h, lim.MaxSide, lim.MaxSide, lim.MaxPixels)
	case w < lim.MinSide || h < lim.MinSide:
		return imageErrorf("image %d×%d is smaller than %d×%d", w, h, lim.MinSide, lim.MinSide)
	}
	return nil
}

// checkBytes refuses an image whose decoding would build more than
// lim.MaxBytes of pixels, reckoned from its header: its size and the bytes
// per pixel of the colour model its decoder reports (see bytesPerPixel).
// Photos in the lossless formats are small within the 2 MB a request may
// carry, so this refuses only files of flat colour compressed far. A
// BMP, which the decoder reads uncompressed, must also hold its pixel rows,
// or decoding would allocate the image before finding them missing.
func (lim ImageLimits) checkBytes(f format, cfg image.Config, b []byte) error {
	limit := lim.MaxBytes
	if limit == 0 {
		limit = 4 * lim.MaxPixels
	}
	bpp := bytesPerPixel(cfg.ColorModel)
	if f.name == "TIFF" {
		// x/image/tiff also holds each strip or tile decompressed, in a
		// buffer grown by doubling: for a one-strip image, as large as the
		// image again, or twice that while it grows.
		bpp *= 3
	}
	if n := cfg.Width * cfg.Height * bpp; n > limit {
		return imageErrorf("%s %d×%d takes %d bytes a pixel to decode, %d MiB, more than %d MiB: send an 8-bit JPG or PNG",
			f.name, cfg.Width, cfg.Height, bpp, n>>20, limit>>20)
	}
	if f.name == "TIFF" {
		// Each strip or tile costs x/image/tiff a decompressor of its own
		// (~45 KB and ~9 µs for deflate): 65,536 16×16 tiles sharing one
		// 12-byte stream made a 0.5 MB file cost 0.57 s and 3 GB of
		// allocations. Strips are at most one a row; 4096 of either is
		// as many as the largest image accepted has rows.
		for _, tag := range []uint16{tagStripOffsets, tagTileOffsets} {
			if e, bo, ok := ifd0Entry(b, tag); ok && bo.Uint32(e[4:]) > maxTIFFBlocks {
				return imageErrorf("TIFF in %d strips or tiles, more than %d", bo.Uint32(e[4:]), maxTIFFBlocks)
			}
		}
	}
	if f.name == "BMP" && len(b) >= 30 {
		bits := int(binary.LittleEndian.Uint16(b[28:]))
		stride := (cfg.Width*bits + 31) / 32 * 4
		if need := int64(binary.LittleEndian.Uint32(b[10:])) + int64(stride)*int64(cfg.Height); int64(len(b)) < need {
			return imageErrorf("truncated BMP")
		}
	}
	return nil
}

// TIFF tags locating the pixel data, and how many blocks of it are decoded.
const (
	tagStripOffsets = 273
	tagTileOffsets  = 324
	maxTIFFBlocks   = 4096
)

// bytesPerPixel is what a decoder reporting colour model m stores a pixel
// in: image/png and x/image/tiff decode 16-bit samples to 16-bit images.
func bytesPerPixel(m color.Model) int {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 4 // RGBA, NRGBA, CMYK, and anything unforeseen
}

// guard runs a third-party decoder and turns a panic into an error: the
// decoders are outside code fed with hostile bytes, and one bad upload must
// not take the server down with it.
func guard[T any](f format, run func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s decoder failed: %v", f.name, r)
		}
	}()
	return run()
}

func decodeError(f format, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return imageErrorf("truncated %s", f.name)
	}
	if le := jpeg.LimitError(""); errors.As(err, &le) {
		return imageErrorf("%v", le)
	}
	return imageErrorf("corrupt %s: %v", f.name, err)
}

// toRGB flattens any decoded image to packed RGB, turned upright by the EXIF
// orientation o (1 when there is none). A JPEG's planes are converted
// straight into their upright places; other layouts are flattened, then
// turned.
func toRGB(img image.Image, o int) *rgbImage {
	if src, ok := img.(*image.YCbCr); ok {
		return ycbcrToRGB(src, o)
	}
	r := img.Bounds()
	m := &rgbImage{W: r.Dx(), H: r.Dy(), Pix: make([]byte, 3*r.Dx()*r.Dy())}
	// Each layout the decoders return has a loop of its own, giving
	// color.RGBAModel's answer: the general loop's per-pixel interface
	// calls and allocations cost ~60 ns a pixel, a second at 16 MP.
	switch src := img.(type) {
	case *image.Gray:
		eachPixel(m, src.Pix[src.PixOffset(r.Min.X, r.Min.Y):], src.Stride, 1, func(s, d []byte) {
			d[0], d[1], d[2] = s[0], s[0], s[0]
		})
	case *image.RGBA:
		// Alpha-premultiplied: composited on black, as a viewer would on a
		// dark background; selfies with transparency are rare.
		eachPixel(m, src.Pix[src.PixOffset(r.Min.X, r.Min.Y):], src.Stride, 4, func(s, d []byte) {
			d[0], d[1], d[2] = s[0], s[1], s[2]
		})
	case *image.NRGBA:
		eachPixel(m, src.Pix[src.PixOffset(r.Min.X, r.Min.Y):], src.Stride, 4, func(s, d []byte) {
			a := uint32(s[3]) * 0x101
			d[0], d[1], d[2] = premul(uint32(s[0])*0x101, a), premul(uint32(s[1])*0x101, a), premul(uint32(s[2])*0x101, a)
		})
	case *image.Gray16:
		eachPixel(m, src.Pix[src.PixOffset(r.Min.X, r.Min.Y):], src.Stride, 2, func(s, d []byte) {
			d[0], d[1], d[2] = s[0], s[0], s[0] // the high bytes, stored first
		})
	case *image.RGBA64:
		eachPixel(m, src.Pix[src.PixOffset(r.Min.X, r.Min.Y):], src.Stride, 8, func(s, d []byte) {
			d[0], d[1], d[2] = s[0], s[2], s[4]
		})
	case *image.NRGBA64:
		eachPixel(m, src.Pix[src.PixOffset(r.Min.X, r.Min.Y):], src.Stride, 8, func(s, d []byte) {
			a := uint32(s[6])<<8 | uint32(s[7])
			d[0], d[1], d[2] = premul(uint32(s[0])<<8|uint32(s[1]), a), premul(uint32(s[2])<<8|uint32(s[3]), a), premul(uint32(s[4])<<8|uint32(s[5]), a)
		})
	case *image.CMYK:
		eachPixel(m, src.Pix[src.PixOffset(r.Min.X, r.Min.Y):], src.Stride, 4, func(s, d []byte) {
			w := 0xffff - uint32(s[3])*0x101
			d[0], d[1], d[2] = premul(0xffff-uint32(s[0])*0x101, w), premul(0xffff-uint32(s[1])*0x101, w), premul(0xffff-uint32(s[2])*0x101, w)
		})
	case *image.Paletted:
		var lut [256][3]byte
		for i, c := range src.Palette[:min(len(src.Palette), len(lut))] {
			cr, cg, cb, _ := c.RGBA()
			lut[i] = [3]byte{byte(cr >> 8), byte(cg >> 8), byte(cb >> 8)}
		}
		eachPixel(m, src.Pix[src.PixOffset(r.Min.X, r.Min.Y):], src.Stride, 1, func(s, d []byte) {
			c := &lut[s[0]]
			d[0], d[1], d[2] = c[0], c[1], c[2]
		})
	default:
		o2 := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
				m.Pix[o2], m.Pix[o2+1], m.Pix[o2+2] = c.R, c.G, c.B
				o2 += 3
			}
		}
	}
	return orient(m, o)
}

// eachPixel converts the m.W×m.H pixels of n bytes each that start at
// pix, rows stride bytes apart, into m with px, which gets a pixel's bytes
// and its three in m.
func eachPixel(m *rgbImage, pix []byte, stride, n int, px func(s, d []byte)) {
	d := m.Pix
	for y := range m.H {
		row := pix[y*stride:][:n*m.W]
		for i := 0; i < len(row); i += n {
			px(row[i:i+n:i+n], d[:3:3])
			d = d[3:]
		}
	}
}

// premul is the 8-bit colour color.RGBAModel keeps of a 16-bit sample v
// scaled by a 16-bit factor a: a non-premultiplied sample by its alpha, as
// color.NRGBA64's RGBA method computes it, or a CMY ink by the white K
// leaves, as color.CMYK's does.
func premul(v, a uint32) byte { return byte(v * a / 0xffff >> 8) }

// chromaShift is how many bits each subsampling ratio shifts a luma
// coordinate by to find its chroma sample (horizontal, vertical).
var chromaShift = map[image.YCbCrSubsampleRatio][2]int{
	image.YCbCrSubsampleRatio444: {0, 0},
	image.YCbCrSubsampleRatio422: {1, 0},
	image.YCbCrSubsampleRatio420: {1, 1},
	image.YCbCrSubsampleRatio440: {0, 1},
	image.YCbCrSubsampleRatio411: {2, 0},
	image.YCbCrSubsampleRatio410: {2, 1},
}

// ycbcrToRGB converts a JPEG's planes with the same integer arithmetic as
// color.YCbCrToRGB, writing each pixel where orientation o puts it: after
// the JPEG itself, decoding a selfie is mostly this loop, so a sideways
// selfie is turned in the same pass instead of a second one.
func ycbcrToRGB(src *image.YCbCr, o int) *rgbImage {
	r := src.Rect
	w, h := r.Dx(), r.Dy()
	sh, ok := chromaShift[src.SubsampleRatio]
	if !ok {
		sh = [2]int{0, 0}
	}
	hs, vs := sh[0], sh[1]
	m := &rgbImage{W: w, H: h, Pix: make([]byte, 3*w*h)}
	if o >= 5 {
		m.W, m.H = h, w
	}
	// Each chroma row's red, green and blue terms, worked out once for
	// every luma row sharing it.
	cx0 := r.Min.X >> hs
	cw := (r.Max.X-1)>>hs - cx0 + 1
	terms := make([]int32, 3*cw)
	lastCrow := -1
	for y := 0; y < h; y++ {
		if crow := (((y + r.Min.Y) >> vs) - (r.Min.Y >> vs)) * src.CStride; crow != lastCrow {
			cb, cr := src.Cb[crow:][:cw], src.Cr[crow:][:cw]
			for i := range cw {
				b, r := int32(cb[i])-128, int32(cr[i])-128
				t := terms[3*i : 3*i+3 : 3*i+3]
				t[0], t[1], t[2] = 91881*r, -22554*b-46802*r, 116130*b
			}
			lastCrow = crow
		}
		d, step := orientedRow(o, y, w, h)
		d, step = 3*d, 3*step
		yrow := src.Y[y*src.YStride:][:w]
		if hs == 1 {
			pairsToRGB(m.Pix, d, step, yrow, terms, r.Min.X&1 == 1)
			continue
		}
		for x, v := range yrow {
			c := 3 * ((x+r.Min.X)>>hs - cx0)
			putRGB(m.Pix[d:d+3:d+3], v, terms[c:c+3:c+3])
			d += step
		}
	}
	return m
}

// pairsToRGB converts a luma row whose chroma is halved horizontally (4:2:0
// and 4:2:2, nearly every JPEG): two pixels share one chroma sample's terms,
// read once, and with a row running forward the pair's six bytes are one
// slice. odd: the row starts on the second pixel of a pair. Decoding a
// 480×640 selfie spends a third of its time here.
func pairsToRGB(pix []byte, d, step int, yrow []byte, terms []int32, odd bool) {
	x, c := 0, 0
	if odd && len(yrow) > 0 {
		putRGB(pix[d:d+3:d+3], yrow[0], terms[0:3:3])
		d += step
		x, c = 1, 3
	}
	for ; x+1 < len(yrow); x, c = x+2, c+3 {
		t := terms[c : c+3 : c+3]
		r, g, b := t[0], t[1], t[2]
		y0, y1 := int32(yrow[x])*0x10101, int32(yrow[x+1])*0x10101
		if step == 3 {
			p := pix[d : d+6 : d+6]
			p[0], p[1], p[2] = clampByte(y0+r), clampByte(y0+g), clampByte(y0+b)
			p[3], p[4], p[5] = clampByte(y1+r), clampByte(y1+g), clampByte(y1+b)
			d += 6
			continue
		}
		p := pix[d : d+3 : d+3]
		p[0], p[1], p[2] = clampByte(y0+r), clampByte(y0+g), clampByte(y0+b)
		d += step
		q := pix[d : d+3 : d+3]
		q[0], q[1], q[2] = clampByte(y1+r), clampByte(y1+g), clampByte(y1+b)
		d += step
	}
	if x < len(yrow) {
		putRGB(pix[d:d+3:d+3], yrow[x], terms[c:c+3:c+3])
	}
}

// putRGB writes one pixel from its luma and its chroma sample's terms.
func putRGB(p []byte, y byte, t []int32) {
	yy := int32(y) * 0x10101
	p[0] = clampByte(yy + t[0])
	p[1] = clampByte(yy + t[1])
	p[2] = clampByte(yy + t[2])
}

// orientedRow is where stored row y's first pixel lands in the upright
// w×h-stored image under EXIF orientation o, and how far on each next pixel
// of the row goes, both in pixels.
func orientedRow(o, y, w, h int) (start, step int) {
	switch o {
	case 2: // mirrored
		return y*w + w - 1, -1
	case 3: // upside down
		return (h-1-y)*w + w - 1, -1
	case 4: // mirrored upside down
		return (h - 1 - y) * w, 1
	case 5: // stored row 0 is the left column, column 0 the top row
		return y, h
	case 6: // stored row 0 is the right column, column 0 the top row
		return h - 1 - y, h
	case 7: // stored row 0 is the right column, column 0 the bottom row
		return (w-1)*h + h - 1 - y, -h
	case 8: // stored row 0 is the left column, column 0 the bottom row
		return (w-1)*h + y, -h
	}
	return y * w, 1
}

// clampByte is color.YCbCrToRGB's rounding and clamping of a 16.16 value.
func clampByte(v int32) byte {
	if uint32(v)&0xff000000 == 0 {
		return byte(v >> 16)
	}
	if v < 0 {
		return 0
	}
	return 255
}

// orient applies an EXIF orientation (1..8) so the image is upright as a
// viewer shows it. For each displayed pixel (x', y') of the W'×H' result, the
// stored pixel is read at the position the tag's definition gives.
func orient(m *rgbImage, o int) *rgbImage {
	if o < 2 || o > 8 {
		return m
	}
	w, h := m.W, m.H
	ow, oh := w, h
	if o >= 5 { // the transposing orientations swap the sides
		ow, oh = h, w
	}
	out := &rgbImage{W: ow, H: oh, Pix: make([]byte, len(m.Pix))}
	d := 0
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			var sx, sy int
			switch o {
			case 2: // mirrored
				sx, sy = w-1-x, y
			case 3: // upside down
				sx, sy = w-1-x, h-1-y
			case 4: // mirrored upside down
				sx, sy = x, h-1-y
			case 5: // stored row 0 is the left column, column 0 the top row
				sx, sy = y, x
			case 6: // stored row 0 is the right column, column 0 the top row
				sx, sy = y, h-1-x
			case 7: // stored row 0 is the right column, column 0 the bottom row
				sx, sy = w-1-y, h-1-x
			case 8: // stored row 0 is the left column, column 0 the bottom row
				sx, sy = w-1-y, x
			}
			s := 3 * (sy*w + sx)
			copy(out.Pix[d:d+3], m.Pix[s:s+3])
			d += 3
		}
	}
	return out
}
