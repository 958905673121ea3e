// Copyright 2009 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package jpeg

import (
	"io"
)

// maxCodeLength is the maximum (inclusive) number of bits in a Huffman code.
const maxCodeLength = 16

// maxNCodes is the maximum (inclusive) number of codes in a Huffman tree.
const maxNCodes = 256

// lutSize is the log-2 size of the Huffman decoder's look-up table.
const lutSize = 8

// fastBits is the log-2 size of the sequential decoder's look-up table,
// huffman.fast. Wider than lut, it resolves most codes together with their
// extra bits: with the standard tables, about 91% of luma AC codes and 71%
// of chroma ones (whose end of block is a bare 2-bit code). At 9 bits the
// 1/8-scale benchmarks took 10% longer, at 11 no less, with tables twice
// the size (4 KB each, and a decoder holds eight).
const fastBits = 10

// A huffman.fast entry describes the code that starts with its index's bits:
// the low 5 bits are how many bits to take, bits 8-15 the code's value
// (symbol) and, if fastCombined is set, bits 16-31 are the coefficient or DC
// difference its extra bits make, which the low bits then include. Zero means
// the code is longer than fastBits, or invalid: decodeSlow has to say.
const fastCombined = 1 << 5

// huffman is a Huffman decoder, specified in section C.
type huffman struct {
	// length is the number of codes in the tree.
	nCodes int32
	// lut is the look-up table for the next lutSize bits in the bit-stream.
	// The high 8 bits of the uint16 are the encoded value. The low 8 bits
	// are 1 plus the code length, or 0 if the value is too large to fit in
	// lutSize bits.
	lut [1 << lutSize]uint16
	// vals are the decoded values, sorted by their encoding.
	vals [maxNCodes]uint8
	// minCodes[i] is the minimum code of length i, or -1 if there are no
	// codes of that length.
	minCodes [maxCodeLength]int32
	// maxCodes[i] is the maximum code of length i, or -1 if there are no
	// codes of that length.
	maxCodes [maxCodeLength]int32
	// valsIndices[i] is the index into vals of minCodes[i].
	valsIndices [maxCodeLength]int32
	// fast is the sequential decoder's look-up table for the next fastBits
	// bits; see fastCombined. It is built when a sequential scan first
	// uses the table (stale until then), not at its DHT segment: building
	// it takes ~10 µs, and a file can define a table every 18 bytes.
	fast  [1 << fastBits]uint32
	stale bool
}

// errShortHuffmanData means that an unexpected EOF occurred while decoding
// Huffman data.
var errShortHuffmanData = FormatError("short Huffman data")

// ensureNBits reads bytes from the byte buffer to ensure that d.bits.n is at
// least n. For best performance (avoiding function calls inside hot loops),
// the caller is the one responsible for first checking that d.bits.n < n.
func (d *decoder) ensureNBits(n int32) error {
	for {
		c, err := d.readByteStuffedByte()
		if err != nil {
			if err == io.ErrUnexpectedEOF {
				return errShortHuffmanData
			}
			return err
		}
		d.bits.a = d.bits.a<<8 | uint32(c)
		d.bits.n += 8
		if d.bits.n >= n {
			break
		}
	}
	return nil
}

// receiveExtend is the composition of RECEIVE and EXTEND, specified in section
// F.2.2.1.
func (d *decoder) receiveExtend(t uint8) (int32, error) {
	if d.bits.n < int32(t) {
		if err := d.ensureNBits(int32(t)); err != nil {
			return 0, err
		}
	}
	d.bits.n -= int32(t)
	s := int32(1) << t
	x := int32(d.bits.a>>uint8(d.bits.n)) & (s - 1)
	if x < s>>1 {
		x += ((-1) << t) + 1
	}
	return x, nil
}

// processDHT processes a Define Huffman Table marker, and initializes a huffman
// struct from its contents. Specified in section B.2.4.2.
func (d *decoder) processDHT(n int) error {
	for n > 0 {
		if n < 17 {
			return FormatError("DHT has wrong length")
		}
		if err := d.readFull(d.tmp[:17]); err != nil {
			return err
		}
		tc := d.tmp[0] >> 4
		if tc > maxTc {
			return FormatError("bad Tc value")
		}
		th := d.tmp[0] & 0x0f
		// The baseline th <= 1 restriction is specified in table B.5.
		if th > maxTh || (d.baseline && th > 1) {
			return FormatError("bad Th value")
		}
		h := &d.huff[tc][th]

		// Read nCodes and h.vals (and derive h.nCodes).
		// nCodes[i] is the number of codes with code length i.
		// h.nCodes is the total number of codes.
		h.nCodes = 0
		var nCodes [maxCodeLength]int32
		for i := range nCodes {
			nCodes[i] = int32(d.tmp[i+1])
			h.nCodes += nCodes[i]
		}
		if h.nCodes == 0 {
			return FormatError("Huffman table has zero length")
		}
		if h.nCodes > maxNCodes {
			return FormatError("Huffman table has excessive length")
		}
		n -= int(h.nCodes) + 17
		if n < 0 {
			return FormatError("DHT has wrong length")
		}
		if err := d.readFull(h.vals[:h.nCodes]); err != nil {
			return err
		}

		// Derive the look-up table.
		clear(h.lut[:])
		var x, code uint32
		for i := uint32(0); i < lutSize; i++ {
			code <<= 1
			for j := int32(0); j < nCodes[i]; j++ {
				// The codeLength is 1+i, so shift code by 8-(1+i) to
				// calculate the high bits for every 8-bit sequence
				// whose codeLength's high bits matches code.
				// The high 8 bits of lutValue are the encoded value.
				// The low 8 bits are 1 plus the codeLength.
				base := uint8(code << (7 - i))
				lutValue := uint16(h.vals[x])<<8 | uint16(2+i)
				for k := uint8(0); k < 1<<(7-i); k++ {
					h.lut[base|k] = lutValue
				}
				code++
				x++
			}
		}

		// Derive minCodes, maxCodes, and valsIndices.
		var c, index int32
		for i, n := range nCodes {
			if n == 0 {
				h.minCodes[i] = -1
				h.maxCodes[i] = -1
				h.valsIndices[i] = -1
			} else {
				h.minCodes[i] = c
				h.maxCodes[i] = c + n - 1
				h.valsIndices[i] = index
				c += n
				index += n
			}
			c <<= 1
		}
		h.stale = true
	}
	return nil
}

// buildFast derives h.fast from h.lut and decodeSlow, that is from exactly
// what decodeHuffman would make of the same bits, rather than from the code
// lengths: a table whose lengths over-fill the code space makes lut and the
// bit-at-a-time path disagree, and image/jpeg's answer depends on which one
// it takes. For a value whose extra bits fit in the fastBits too, the entry
// also holds the coefficient (AC) or difference (DC) they make.
func (h *huffman) buildFast(ac bool) {
	if !h.stale {
		return
	}
	h.stale = false
	const suffixes = 1 << (fastBits - lutSize)
	for prefix, v := range h.lut {
		for suffix := range suffixes {
			p := prefix*suffixes + suffix
			var sym uint8
			var l uint
			if v != 0 {
				sym, l = uint8(v>>8), uint(v&0xff)-1
			} else {
				// With fewer than 16 bits, decodeSlow runs out of
				// bits (l == 0) before it can find a code bad.
				sym, l, _ = h.decodeSlow(uint64(p)<<(64-fastBits), fastBits)
				if l == 0 {
					h.fast[p] = 0
					continue
				}
			}
			// t is the number of extra bits, if the value is one that
			// decodeBlock turns into a coefficient or difference: not an
			// AC end of block or zero run, nor a DC category above 16,
			// which is an error.
			t := uint(sym)
			if ac {
				t = uint(sym & 0x0f)
			}
			if (ac && t == 0) || t > 16 || l+t > fastBits {
				h.fast[p] = uint32(sym)<<8 | uint32(l)
				continue
			}
			x := extend(uint64(p)<<(64-fastBits+l), t)
			h.fast[p] = uint32(x)<<16 | uint32(sym)<<8 | fastCombined | uint32(l+t)
		}
	}
}

// extend is RECEIVE and EXTEND (section F.2.2.1) of the first t bits of acc.
func extend(acc uint64, t uint) int32 {
	x := int32(acc >> (64 - t))
	if x < int32(1)<<t>>1 {
		x += int32(-1)<<t + 1
	}
	return x
}

// decodeSlow is decodeHuffman's bit-at-a-time path on the first n bits of
// acc, for the codes that huffman.fast leaves to it. It returns a length of 0
// if the code needs more than n bits.
func (h *huffman) decodeSlow(acc uint64, n uint) (uint8, uint, error) {
	if h.nCodes == 0 {
		return 0, 0, FormatError("uninitialized Huffman table")
	}
	code := int32(0)
	for i := range uint(maxCodeLength) {
		if i == n {
			return 0, 0, nil
		}
		code |= int32(acc>>(63-i)) & 1
		if code <= h.maxCodes[i] {
			return h.vals[h.valsIndices[i]+code-h.minCodes[i]], i + 1, nil
		}
		code <<= 1
	}
	return 0, 0, FormatError("bad Huffman code")
}

// decodeHuffman returns the next Huffman-coded value from the bit-stream,
// decoded according to h.
func (d *decoder) decodeHuffman(h *huffman) (uint8, error) {
	if h.nCodes == 0 {
		return 0, FormatError("uninitialized Huffman table")
	}

	if d.bits.n < 8 {
		if err := d.ensureNBits(8); err != nil {
			if err != errMissingFF00 && err != errShortHuffmanData {
				return 0, err
			}
			// There are no more bytes of data in this segment, but we may still
			// be able to read the next symbol out of the previously read bits.
			// First, undo the readByte that the ensureNBits call made.
			if d.bytes.nUnreadable != 0 {
				d.unreadByteStuffedByte()
			}
			goto slowPath
		}
	}
	if v := h.lut[(d.bits.a>>uint32(d.bits.n-lutSize))&0xff]; v != 0 {
		d.bits.n -= int32(v&0xff) - 1
		return uint8(v >> 8), nil
	}

slowPath:
	for i, code := 0, int32(0); i < maxCodeLength; i++ {
		if d.bits.n == 0 {
			if err := d.ensureNBits(1); err != nil {
				return 0, err
			}
		}
		d.bits.n--
		code |= int32(d.bits.a>>uint32(d.bits.n)) & 1
		if code <= h.maxCodes[i] {
			return h.vals[h.valsIndices[i]+code-h.minCodes[i]], nil
		}
		code <<= 1
	}
	return 0, FormatError("bad Huffman code")
}

func (d *decoder) decodeBit() (bool, error) {
	if d.bits.n == 0 {
		if err := d.ensureNBits(1); err != nil {
			return false, err
		}
	}
	d.bits.n--
	return d.bits.a>>uint32(d.bits.n)&1 != 0, nil
}

func (d *decoder) decodeBits(n int32) (uint32, error) {
	if d.bits.n < n {
		if err := d.ensureNBits(n); err != nil {
			return 0, err
		}
	}
	ret := d.bits.a >> uint32(d.bits.n-n)
	ret &= (1 << uint32(n)) - 1
	d.bits.n -= n
	return ret, nil
}
