// Package imagebomb writes small image files that cost a decoder far more
// than their size suggests, so that tests and benchmarks of the limits that
// refuse them make their own inputs instead of keeping binary blobs.
//
// Every file is valid enough to get past a header check: what makes it
// expensive is a legal feature of its format repeated (JPEG scans), or
// pixels compressed near deflate's 1032:1 limit (16-bit PNG and TIFF), or
// frames a decoder of every frame would pay for (GIF).
package imagebomb

import (
	"bytes"
	"compress/lzw"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"io"
)

// ProgressiveScans is a greyscale w×h progressive JPEG whose n scans each
// cover every block's AC coefficients 1..63 with end-of-band runs, about 20
// bytes a scan at 4096×4096, nothing else: decoding still visits every
// block in every scan. refine picks successive-approximation refinement
// scans (Ah=1, Al=0), which also walk each block's 63 coefficients looking
// for nonzero ones to correct, over first scans (Ah=0, Al=0).
func ProgressiveScans(w, h, n int, refine bool) []byte { return progressive(w, h, n, refine, 1) }

// ProgressiveColour is a 4:4:4 colour w×h progressive JPEG with one such
// scan, of its luma: cheap to read, but a decoder keeping every block's
// coefficients between scans needs 768 bytes a block for them.
func ProgressiveColour(w, h int) []byte { return progressive(w, h, 1, false, 3) }

func progressive(w, h, n int, refine bool, comps int) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xFF, 0xD8})
	// One quantization table of ones.
	seg(&b, 0xDB, append([]byte{0x00}, bytes.Repeat([]byte{1}, 64)...))
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(comps)}
	for c := range comps {
		sof = append(sof, byte(c+1), 0x11, 0)
	}
	seg(&b, 0xC2, sof)
	// An AC table with one 1-bit code, "0", for symbol 0xE0: an end-of-band
	// run of 2^14 plus the next 14 bits.
	dht := append([]byte{0x10, 1}, make([]byte, 15)...)
	seg(&b, 0xC4, append(dht, 0xE0))
	ah := byte(0x00)
	if refine {
		ah = 0x10
	}
	blocks := ((w + 7) / 8) * ((h + 7) / 8)
	var data bitWriter
	for left := blocks; left > 0; left -= 1<<15 - 1 {
		data.write(0, 1)
		data.write(1<<14-1, 14) // a run of 32767 blocks
	}
	scan := data.bytes()
	for range n {
		seg(&b, 0xDA, []byte{1, 1, 0x00, 1, 63, ah})
		b.Write(scan)
	}
	b.Write([]byte{0xFF, 0xD9})
	return b.Bytes()
}

// SequentialScans is a greyscale w×h baseline JPEG coding its one
// component in n scans, each block a DC difference of 0 and an end of block,
// a bit each (64 KB a scan at 4096×4096): decoding each scan reconstructs
// every block.
func SequentialScans(w, h, n int) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xFF, 0xD8})
	seg(&b, 0xDB, append([]byte{0x00}, bytes.Repeat([]byte{1}, 64)...))
	seg(&b, 0xC0, []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 1, 1, 0x11, 0})
	// DC and AC tables of one 1-bit code each, for category 0 and for
	// the end of block.
	one := append([]byte{1}, make([]byte, 15)...)
	seg(&b, 0xC4, append(append([]byte{0x00}, one...), 0x00))
	seg(&b, 0xC4, append(append([]byte{0x10}, one...), 0x00))
	var data bitWriter
	for range ((w + 7) / 8) * ((h + 7) / 8) {
		data.write(0, 2)
	}
	scan := data.bytes()
	for range n {
		seg(&b, 0xDA, []byte{1, 1, 0x00, 0, 63, 0})
		b.Write(scan)
	}
	b.Write([]byte{0xFF, 0xD9})
	return b.Bytes()
}

// HuffmanTables is a 64×64 baseline JPEG that redefines a Huffman table n
// times before its frame, 37 bytes a definition (a 2 MB file holds 56,000),
// each of which a decoder may build look-up tables for.
func HuffmanTables(n int) []byte {
	img := SequentialScans(64, 64, 1)
	var b bytes.Buffer
	b.Write(img[:2])
	// A table of 16 codes, 1 of each length, as full a look-up table as
	// one segment can make the decoder fill.
	spec := append([]byte{0x11}, bytes.Repeat([]byte{1}, 16)...)
	for i := range 16 {
		spec = append(spec, byte(i+1))
	}
	for range n {
		seg(&b, 0xC4, spec)
	}
	b.Write(img[2:])
	return b.Bytes()
}

// seg writes a JPEG marker segment.
func seg(b *bytes.Buffer, marker byte, payload []byte) {
	b.Write([]byte{0xFF, marker, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)})
	b.Write(payload)
}

// bitWriter packs entropy-coded bits MSB first, stuffing a zero after 0xFF.
type bitWriter struct {
	out  []byte
	acc  uint32
	nacc uint
}

func (w *bitWriter) write(v uint32, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | (v>>uint(i))&1
		if w.nacc++; w.nacc == 8 {
			w.emit()
		}
	}
}

func (w *bitWriter) emit() {
	c := byte(w.acc)
	w.out = append(w.out, c)
	if c == 0xFF {
		w.out = append(w.out, 0)
	}
	w.acc, w.nacc = 0, 0
}

// bytes pads the last byte with ones, as T.81 F.1.2.3 says.
func (w *bitWriter) bytes() []byte {
	for w.nacc != 0 {
		w.write(1, 1)
	}
	return w.out
}

// zeros is a zlib stream of n zero bytes, near deflate's 1032:1 limit.
// Compressing 128 MiB takes seconds, so only three chunks are: once the
// compressor's window holds nothing but zeros, each further chunk comes out
// as the same bytes (checked), which are repeated. The trailer's Adler-32
// of n zeros is (n mod 65521)<<16 | 1.
func zeros(n int) []byte {
	const chunk = 1 << 18
	var b bytes.Buffer
	z, _ := zlib.NewWriterLevel(&b, zlib.BestCompression)
	zs := make([]byte, chunk)
	next := func(k int) []byte {
		z.Write(zs[:k])
		z.Flush()
		out := bytes.Clone(b.Bytes())
		b.Reset()
		return out
	}
	out := next(min(n, chunk))
	left := n - min(n, chunk)
	if left >= 2*chunk {
		steady, again := next(chunk), next(chunk)
		if !bytes.Equal(steady, again) {
			panic("imagebomb: deflate output of zeros is not periodic")
		}
		out = append(out, steady...)
		out = append(out, again...)
		for left -= 2 * chunk; left >= chunk; left -= chunk {
			out = append(out, steady...)
		}
	}
	for ; left > 0; left -= min(left, chunk) {
		out = append(out, next(min(left, chunk))...)
	}
	z.Close()
	out = append(out, b.Bytes()...)
	binary.BigEndian.PutUint32(out[len(out)-4:], uint32(n%65521)<<16|1)
	return out
}

// PNG16 is a w×h 16-bit RGBA PNG of black, about w·h/128 bytes: decoded it
// is 8 bytes a pixel, 128 MiB at 4096×4096.
func PNG16(w, h int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 16, 6, 0, 0, 0) // depth 16, RGBA, deflate, no filter, no interlace
	chunk(&b, "IHDR", ihdr)
	chunk(&b, "IDAT", zeros((8*w+1)*h)) // each row a filter byte, 0, and its samples
	chunk(&b, "IEND", nil)
	return b.Bytes()
}

func chunk(w io.Writer, typ string, data []byte) {
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(data)))
	copy(hdr[4:], typ)
	w.Write(hdr[:])
	w.Write(data)
	crc := crc32.NewIEEE()
	crc.Write(hdr[4:])
	crc.Write(data)
	binary.Write(w, binary.BigEndian, crc.Sum32())
}

// TIFFTiles is a w×h 8-bit grey TIFF of black in 16×16 tiles, each its own
// deflate stream (~12 bytes): a decoder sets up an inflater per tile,
// 65,536 of them at 4096×4096 in 1 MB.
func TIFFTiles(w, h int) []byte {
	const side = 16
	tile := zeros(side * side)
	n := ((w + side - 1) / side) * ((h + side - 1) / side)
	const ifdAt = 8
	entries := []tiffEntry{
		{256, 4, 1, uint32(w)},
		{257, 4, 1, uint32(h)},
		{258, 3, 1, 8},
		{259, 3, 1, 8}, // Deflate
		{262, 3, 1, 1}, // BlackIsZero
		{277, 3, 1, 1},
		{322, 3, 1, side},
		{323, 3, 1, side},
		{324, 4, uint32(n), 0}, // TileOffsets, at offsetsAt
		{325, 4, uint32(n), 0}, // TileByteCounts, at countsAt
	}
	offsetsAt := uint32(ifdAt + 2 + 12*len(entries) + 4)
	countsAt := offsetsAt + 4*uint32(n)
	dataAt := countsAt + 4*uint32(n)
	entries[8].value, entries[9].value = offsetsAt, countsAt
	b := tiffHeader(ifdAt, entries)
	// Every tile points at the one stream.
	for range n {
		b = binary.LittleEndian.AppendUint32(b, dataAt)
	}
	for range n {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(tile)))
	}
	return append(b, tile...)
}

// TIFF16 is a w×h 16-bit RGB TIFF of black in one deflate-compressed strip,
// about w·h/170 bytes: decoded it is 6 bytes a pixel (8 in image.RGBA64).
func TIFF16(w, h int) []byte {
	strip := zeros(6 * w * h)
	const ifdAt = 8
	entries := []tiffEntry{
		{256, 4, 1, uint32(w)},
		{257, 4, 1, uint32(h)},
		{258, 3, 3, 0}, // BitsPerSample 16,16,16, at bpsAt
		{259, 3, 1, 8}, // Deflate
		{262, 3, 1, 2}, // RGB
		{273, 4, 1, 0}, // StripOffsets, at dataAt
		{277, 3, 1, 3},
		{278, 4, 1, uint32(h)},
		{279, 4, 1, uint32(len(strip))},
	}
	bpsAt := uint32(ifdAt + 2 + 12*len(entries) + 4)
	dataAt := bpsAt + 6
	entries[2].value, entries[5].value = bpsAt, dataAt
	b := tiffHeader(ifdAt, entries)
	for range 3 {
		b = binary.LittleEndian.AppendUint16(b, 16)
	}
	return append(b, strip...)
}

// GIFFrames is a w×h two-colour GIF of n frames: the first of stripes, the
// others black, about 800 bytes each at 512×512 (LZW of one colour): 1,500
// frames in 1.2 MB are 393 M pixels to a decoder of every frame.
func GIFFrames(w, h, n int) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, uint16(w))
	b = binary.LittleEndian.AppendUint16(b, uint16(h))
	b = append(b, 0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF) // a global table: black, white
	stripes := make([]byte, w*h)
	for i := range stripes {
		stripes[i] = byte(i / 7 % 2)
	}
	frame := func(pix []byte) []byte {
		f := []byte{0x2C, 0, 0, 0, 0}
		f = binary.LittleEndian.AppendUint16(f, uint16(w))
		f = binary.LittleEndian.AppendUint16(f, uint16(h))
		f = append(f, 0, 2) // no local table; LZW minimum code size 2
		var data bytes.Buffer
		z := lzw.NewWriter(&data, lzw.LSB, 2)
		z.Write(pix)
		z.Close()
		for d := data.Bytes(); len(d) > 0; d = d[min(len(d), 255):] {
			f = append(f, byte(min(len(d), 255)))
			f = append(f, d[:min(len(d), 255)]...)
		}
		return append(f, 0)
	}
	b = append(b, frame(stripes)...)
	black := frame(make([]byte, w*h))
	for range n - 1 {
		b = append(b, black...)
	}
	return append(b, 0x3B)
}

// tiffEntry is one 12-byte IFD entry; value holds the datum itself or, for
// data longer than 4 bytes, its offset.
type tiffEntry struct {
	tag, typ     uint16
	count, value uint32
}

// tiffHeader is a little-endian TIFF header whose one IFD, at ifdAt right
// after the header, holds entries and ends the IFD chain.
func tiffHeader(ifdAt uint32, entries []tiffEntry) []byte {
	b := []byte("II*\x00")
	b = binary.LittleEndian.AppendUint32(b, ifdAt)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.typ)
		b = binary.LittleEndian.AppendUint32(b, e.count)
		b = binary.LittleEndian.AppendUint32(b, e.value)
	}
	return binary.LittleEndian.AppendUint32(b, 0)
}
