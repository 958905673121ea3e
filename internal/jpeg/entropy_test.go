package jpeg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	stdjpeg "image/jpeg"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// What must match image/jpeg is not only what is decoded but where the
// reading stops, since the next marker is read from there, when the
// underlying reader is read and where its errors surface, and what the end
// of the buffered bytes or a marker inside the data does to the codes
// around it: a decoder that reads ahead of image/jpeg has to get all of
// that right. bytes.Reader fills the 4096-byte buffer in whole reads, which
// puts the buffer's end at one place per file; these readers put it
// everywhere.

// chunkReader returns data in reads of random length, 1 to max bytes.
type chunkReader struct {
	data []byte
	rng  *rand.Rand
	max  int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.data), 1+r.rng.IntN(r.max))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// errReader returns data in reads of at most chunk bytes, then fails at
// byte at with errBroken.
type errReader struct {
	data      []byte
	at, chunk int
}

var errBroken = errors.New("broken reader")

func (r *errReader) Read(p []byte) (int, error) {
	if r.at == 0 {
		return 0, errBroken
	}
	n := min(len(p), len(r.data), r.at, r.chunk)
	if n == 0 {
		return 0, io.EOF
	}
	copy(p, r.data[:n])
	r.data, r.at = r.data[n:], r.at-n
	return n, nil
}

// sameThroughReader decodes data at every scale through the reader that
// newReader makes, and image/jpeg through another like it, and reports the
// first difference.
func sameThroughReader(t *testing.T, name string, newReader func() io.Reader) {
	t.Helper()
	want, wantErr := stdjpeg.Decode(newReader())
	for _, d := range denoms {
		got, err := DecodeScaled(context.Background(), newReader(), d)
		if diff := sameError(err, wantErr); diff != "" {
			t.Fatalf("%s /%d: %s", name, d, diff)
		}
		if err == nil && d == 1 {
			if diff := sameImage(got, want); diff != "" {
				t.Fatalf("%s: %s", name, diff)
			}
		}
	}
}

func TestReaders(t *testing.T) {
	for _, f := range append(testdataFiles(t), generatedFiles(t)...) {
		readers := []struct {
			name string
			new  func() io.Reader
		}{
			{"one byte", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(f.data)) }},
			{"half", func() io.Reader { return iotest.HalfReader(bytes.NewReader(f.data)) }},
			{"data and EOF", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(f.data)) }},
			{"timeout", func() io.Reader { return iotest.TimeoutReader(bytes.NewReader(f.data)) }},
		}
		for _, max := range []int{3, 17, 300} {
			readers = append(readers, struct {
				name string
				new  func() io.Reader
			}{fmt.Sprintf("chunks of up to %d", max), func() io.Reader {
				return &chunkReader{f.data, rand.New(rand.NewPCG(uint64(max), 1)), max}
			}})
		}
		for _, r := range readers {
			sameThroughReader(t, f.name+", "+r.name, r.new)
		}
	}
}

// TestReaderErrors breaks the reader at many places in each file, for reads
// of one byte and of many, so that the error surfaces in each part of the
// scan's data, and checks that it does so exactly when it does for
// image/jpeg.
func TestReaderErrors(t *testing.T) {
	for _, f := range testdataFiles(t) {
		step := max(1, len(f.data)/53)
		for at := 0; at < len(f.data); at += step {
			for _, chunk := range []int{1, 7, 4096} {
				sameThroughReader(t, fmt.Sprintf("%s broken at %d in reads of %d", f.name, at, chunk), func() io.Reader {
					return &errReader{f.data, at, chunk}
				})
			}
		}
	}
}

// TestBufferBoundaries moves each file's scan data across the 4096-byte
// buffer's boundaries, a byte at a time, with a comment segment after the
// SOI marker, so that every kind of code, stuffed byte and marker gets to
// straddle the end of the buffered bytes.
func TestBufferBoundaries(t *testing.T) {
	for _, f := range testdataFiles(t) {
		if len(f.data) < 4096 {
			continue
		}
		for pad := range 97 {
			b := append([]byte{0xff, 0xd8, 0xff, 0xfe, 0, byte(2 + pad)}, make([]byte, pad)...)
			b = append(b, f.data[2:]...)
			checkAgainstStdlib(t, fmt.Sprintf("%s after %d bytes of comment", f.name, pad), b)
		}
	}
}

// tinyJPEG is a grayscale baseline JPEG, blocks 8×8 blocks wide, with the
// given Huffman table code counts and values (one DC and one AC table), SOS
// header ending in lastSOS (the Ah/Al byte, which a sequential decode
// ignores) and entropy-coded data.
func tinyJPEG(blocks int, dcCounts, dcVals, acCounts, acVals []byte, lastSOS byte, data []byte) []byte {
	b := []byte{0xff, 0xd8, 0xff, 0xdb, 0, 67, 0}
	b = append(b, bytes.Repeat([]byte{1}, 64)...)
	b = append(b, 0xff, 0xc0, 0, 11, 8, 0, 8, byte(8*blocks>>8), byte(8*blocks), 1, 1, 0x11, 0)
	dht := func(class byte, counts, vals []byte) {
		n := 2 + 1 + 16 + len(vals)
		b = append(b, 0xff, 0xc4, byte(n>>8), byte(n), class)
		b = append(b, counts...)
		b = append(b, make([]byte, 16-len(counts))...)
		b = append(b, vals...)
	}
	dht(0x00, dcCounts, dcVals)
	dht(0x10, acCounts, acVals)
	b = append(b, 0xff, 0xda, 0, 8, 1, 1, 0x00, 0, 63, lastSOS)
	b = append(b, data...)
	return append(b, 0xff, 0xd9)
}

// randomData is n bytes of entropy-coded data: random, with each 0xff
// stuffed.
func randomData(rng *rand.Rand, n int) []byte {
	var b []byte
	for range n {
		c := byte(rng.IntN(256))
		b = append(b, c)
		if c == 0xff {
			b = append(b, 0x00)
		}
	}
	return b
}

// TestMalformedTables decodes scans under Huffman tables that are valid
// only in image/jpeg's lax sense. Where code lengths over-fill the code
// space, image/jpeg's 8-bit look-up and its bit-at-a-time decoding disagree
// (three 1-bit codes: the look-up's third entry overwrites the first), and
// which of them it uses depends on how many bits it has, so every one- and
// two-byte scan is tried, where the EOI marker leaves few; longer random
// scans go through the fast path and meet the rarer values: DC differences
// of over 16 bits (an error), end-of-band runs (which image/jpeg accepts
// in sequential scans too), zero runs and runs past the block's end. The
// third set's DC codes are mostly longer than both look-up tables.
func TestMalformedTables(t *testing.T) {
	long := []byte{0}
	for i := range 255 {
		long = append(long, byte(i%12))
	}
	tables := []struct{ dcCounts, dcVals, acCounts, acVals []byte }{
		{[]byte{3}, []byte{0, 1, 2}, []byte{1}, []byte{0x00}},
		{[]byte{1, 4}, []byte{3, 0, 1, 2, 4}, []byte{2, 1}, []byte{0x00, 0x01, 0x11}},
		{[]byte{1, 0, 0, 0, 0, 0, 0, 0, 255}, long, []byte{0, 3}, []byte{0x00, 0x21, 0x02}},
		{[]byte{1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1}, []byte{2, 0, 16, 17},
			[]byte{1, 1, 1, 2, 0, 0, 0, 0, 0, 0, 0, 2, 2}, []byte{0x01, 0x00, 0x31, 0x20, 0xf0, 0xe3, 0x0f, 0x12, 0x34}},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for ti, tb := range tables {
		var failed, total int
		check := func(blocks int, data []byte) {
			b := tinyJPEG(blocks, tb.dcCounts, tb.dcVals, tb.acCounts, tb.acVals, 0, data)
			if checkAgainstStdlib(t, fmt.Sprintf("table set %d, %d blocks, data %x", ti, blocks, data), b) {
				failed++
			}
			total++
		}
		for v := range 1 << 16 {
			data := []byte{byte(v >> 8), byte(v)}
			if v < 256 {
				data = data[1:]
			} else if v%13 != 0 {
				continue
			}
			if !bytes.Contains(data, []byte{0xff}) {
				check(2, data)
			}
		}
		for i := range 1500 {
			check(1+i%7, randomData(rng, 1+i%40))
		}
		t.Logf("table set %d: %d of %d scans rejected", ti, failed, total)
	}
}

// TestRandomScans follows the headers of the baseline test files with
// random data, which decodes to every kind of code those tables have, and
// to errors, with and without restart intervals.
func TestRandomScans(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var failed, total int
	for _, f := range append(testdataFiles(t), generatedFiles(t)...) {
		sos := bytes.Index(f.data, []byte{0xff, 0xda})
		if sos < 0 || bytes.Contains(f.data[:sos], []byte{0xff, 0xc2}) {
			continue
		}
		header := f.data[:sos+2+int(f.data[sos+2])<<8+int(f.data[sos+3])]
		for i := range 40 {
			b := append(bytes.Clone(header), randomData(rng, 1+rng.IntN(64<<(i%8)))...)
			if checkAgainstStdlib(t, fmt.Sprintf("%s with %d random bytes", f.name, len(b)-len(header)), append(b, 0xff, 0xd9)) {
				failed++
			}
			total++
		}
	}
	t.Logf("%d of %d random scans rejected", failed, total)
}

// TestScanStartsAfter0xff decodes scans whose SOS header ends in 0xff
// (allowed: a sequential decode ignores that byte) and whose data begins
// with a 0x00, which together look like a stuffed byte, through a reader
// whose first read ends just after the start of the data: a decoder that
// reads ahead then has bytes to give back before it has decoded any of the
// scan's codes.
func TestScanStartsAfter0xff(t *testing.T) {
	for v := range 256 {
		b := tinyJPEG(2, []byte{1, 2}, []byte{0, 1, 2}, []byte{1, 1}, []byte{0x00, 0x01}, 0xff, []byte{0x00, byte(v), 0x5a})
		start := len(b) - 5
		for k := start - 1; k <= len(b); k++ {
			sameThroughReader(t, fmt.Sprintf("data 00%02x5a, first read %d bytes", v, k), func() io.Reader {
				return io.MultiReader(bytes.NewReader(b[:k]), bytes.NewReader(b[k:]))
			})
		}
	}
}
