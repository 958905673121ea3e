package jpeg

import "encoding/binary"

// Entropy decoding of sequential scans.
//
// image/jpeg reads the scan a byte at a time into a 32-bit accumulator
// behind a call per code and per coefficient, which on phone photos made
// Huffman decoding the floor of a reduced-size decode. decodeBlock instead
// holds up to 63 bits in a register, tops them up eight bytes at a time when
// none of the eight is 0xff, and resolves most codes and their extra bits
// with one look-up (huffman.fast), as libjpeg-turbo's decode_mcu_fast does.
//
// The output and errors must stay image/jpeg's, and image/jpeg's reader
// position is observable: after a scan or restart interval the next marker
// is read from wherever its bit reader stopped, and its byte-wise reader
// decides when the underlying io.Reader is read and what a marker inside the
// data does. So:
//
//   - Codes are decoded this way only while 32 bits of data are in hand,
//     enough for any code and its extra bits, so they come from the same bits
//     image/jpeg's would and none of its reads could fail.
//   - The bits are taken only from bytes already buffered; the buffer is
//     never refilled here.
//   - When fewer than 32 bits are left before a marker, nearStep decodes as
//     image/jpeg does when reads start failing there; when they are left
//     before the end of the buffer, it hands the state back to d and lets
//     image/jpeg's own code read on, fill included.
//   - The state goes back to d there, at restart markers and at the end of
//     the scan; handBack gives back the bytes taken early.

// bitReader is decodeBlock's reader state between blocks. It has at most
// four fields so that the compiler can keep it in registers.
type bitReader struct {
	// acc holds the next n bits of the scan's data, first bit in the most
	// significant place. Below them are zeros or the bits of the bytes at
	// d.bytes.buf[i:], which the next top-up writes over with themselves.
	acc uint64
	n   uint
	// i is where in d.bytes.buf the next byte to take is.
	i int
}

// blockCoder is what decodeBlock needs of a component of the scan.
type blockCoder struct {
	dcH, acH *huffman
	dc       int32 // The DC prediction, section F.2.1.3.1.
}

// decodeBlock decodes a sequential block's DC difference, adding it to
// c.dc and storing the sum in b[0], and its AC coefficients, storing them in
// acb in natural order, or continues an end-of-band run. It decodes
// what decodeHuffman, receiveExtend, decodeBits and image/jpeg's block loop
// would, in the same order, and fails with the same error where they would.
//
// Only ends of block and codes that huffman.fast resolves with their extra
// bits are decoded here; step does the rest, with the state in memory, so
// that the loop has just two ways back to its start, which lets the
// compiler keep the state in registers.
func (d *decoder) decodeBlock(r bitReader, c *blockCoder, b, acb *block) (bitReader, error) {
	acc, n, i := r.acc, r.n, r.i

	// The DC difference, as specified in section F.2.2.1.
	if n < 32 {
		if w, ok := d.next8(i); ok {
			acc, n, i = acc|w>>n, n|56, i+int((63-n)>>3)
		}
	}
	// The look-up is of bits that may not be data yet: its result counts
	// only if n >= 32.
	if e := c.dcH.fast[acc>>(64-fastBits)]; e&fastCombined != 0 && n >= 32 {
		c.dc += int32(e) >> 16
		s := e & 31
		acc <<= s
		n -= uint(s)
	} else {
		st := blockState{bitReader{acc, n, i}, 0}
		diff, _, err := d.step(&st, c.dcH, false)
		if err != nil {
			return r, err
		}
		c.dc += diff
		acc, n, i = st.acc, st.n, st.i
	}
	b[0] = c.dc

	if d.eobRun > 0 {
		d.eobRun--
		return bitReader{acc, n, i}, nil
	}

	// The AC coefficients, as specified in section F.2.2.2.
	tab := &c.acH.fast
	for k := 1; k < blockSize; k++ {
		if n < 32 {
			w, ok := d.next8(i)
			if !ok {
				// step tops up a byte at a time, or decodes with
				// what is left.
				goto slow
			}
			acc, n, i = acc|w>>n, n|56, i+int((63-n)>>3)
		}
		if e := tab[acc>>(64-fastBits)]; e&fastCombined != 0 {
			if k += int(e>>12) & 0x0f; k < blockSize {
				acb[unzig[k&(blockSize-1)]&(blockSize-1)] = int32(e) >> 16
				s := e & 31
				acc <<= s
				n -= uint(s)
				continue
			}
			// The run leaves the block: image/jpeg stops before the
			// coefficient's bits.
			l := e&31 - e>>8&0x0f
			acc <<= l & 31
			n -= uint(l)
			break
		} else if e-1 < 0x1f {
			// An end of block: the entry is just its code's length.
			acc <<= e & 31
			n -= uint(e)
			break
		}
	slow:
		st := blockState{bitReader{acc, n, i}, k}
		x, sym, err := d.step(&st, c.acH, true)
		if err != nil {
			return r, err
		}
		acc, n, i = st.acc, st.n, st.i
		run := int(sym >> 4)
		if sym&0x0f != 0 {
			if k += run; k >= blockSize {
				break
			}
			acb[unzig[k&(blockSize-1)]&(blockSize-1)] = x
		} else if run == 0x0f {
			k += 0x0f
		} else {
			// An end-of-band run: image/jpeg's decodeAC accepts them in
			// sequential scans too.
			d.eobRun = (uint16(1)<<run | uint16(x)) - 1
			break
		}
	}
	return bitReader{acc, n, i}, nil
}

// blockState is decodeBlock's state for step: the reader and, for an AC
// code, the zig-zag index of the coefficient before it.
type blockState struct {
	bitReader
	k int
}

// step decodes the next code of a block and the extra bits after it, for
// the codes decodeBlock leaves to it, and returns the value (symbol) and
// what the extra bits make: a DC difference (ac false), an AC coefficient if
// its run stays in the block, or an end-of-band run's length.
func (d *decoder) step(st *blockState, h *huffman, ac bool) (x int32, sym uint8, err error) {
	if st.n < 32 {
		st.acc, st.n, st.i = d.topUpBytes(st.acc, st.n, st.i)
		if st.n < 32 {
			st.bitReader, sym, x, err = d.nearStep(st.bitReader, h, ac, st.k)
			return x, sym, err
		}
	}
	e := h.fast[st.acc>>(64-fastBits)]
	l := uint(e & 31)
	sym = uint8(e >> 8)
	if e&fastCombined != 0 {
		l -= tableExtra(sym, ac)
	} else if e == 0 {
		if sym, l, err = h.decodeSlow(st.acc, st.n); err != nil {
			return 0, 0, err
		}
	}
	st.acc <<= l
	st.n -= l
	if !ac && sym > 16 {
		return 0, 0, UnsupportedError("excessive DC component")
	}
	t := extraBits(sym, ac, st.k)
	x = int32(st.acc >> (64 - t))
	if !ac || sym&0x0f != 0 {
		x = extend(st.acc, t)
	}
	st.acc <<= t
	st.n -= t
	return x, sym, nil
}

// next8 returns the buffered bytes d.bytes.buf[i:i+8], if there are eight
// and none is 0xff, so that all eight are data as they stand. Topping up
// acc (holding n < 32 bits) with them is then acc | w>>n; it takes
// (63-n)/8 whole bytes, to 56 + n%8 bits, which is n | 56.
func (d *decoder) next8(i int) (w uint64, ok bool) {
	if i+8 > d.bytes.j {
		return 0, false
	}
	w = binary.BigEndian.Uint64(d.bytes.buf[i:])
	return w, (^w-0x0101010101010101)&w&0x8080808080808080 == 0
}

// topUpBytes tops up acc (holding n < 32 bits) a byte at a time, undoing
// byte stuffing, for when next8 cannot. It stops at more than 56 bits,
// before a marker and at the end of the buffered bytes.
func (d *decoder) topUpBytes(acc uint64, n uint, i int) (uint64, uint, int) {
	buf, j := &d.bytes.buf, d.bytes.j
	for n <= 56 && i < j {
		c := buf[i]
		if c == 0xff {
			if i+1 >= j || buf[i+1] != 0x00 {
				break
			}
			i++
		}
		i++
		acc |= uint64(c) << (56 - n)
		n += 8
	}
	return acc, n, i
}

// nearStep decodes the next code and the extra bits after it, for
// decodeBlock when fewer than 32 bits of data are in hand: ac and k say
// which rules apply, as in decodeBlock. It returns the code's value and what
// its extra bits make.
func (d *decoder) nearStep(r bitReader, h *huffman, ac bool, k int) (bitReader, uint8, int32, error) {
	// topUpBytes, which took what it could, stopped at a marker or at the
	// end of the buffered bytes, where it leaves a 0xff whose next byte
	// is not buffered yet.
	if i := r.i; i+1 >= d.bytes.j || d.bytes.buf[i] != 0xff {
		// What comes next, and when to read it, is image/jpeg's to say.
		d.handBack(r)
		sym, x, err := d.stepSlow(h, ac, k)
		// Having decoded a code, image/jpeg has used some of the bits of
		// the data's first byte, and it may have refilled the buffer.
		d.dataStart = 0
		return d.takeBits(), sym, x, err
	}

	// The n bits are all there are before a marker, where image/jpeg's
	// reads fail with errMissingFF00. It looks a code up only if it has at
	// least 8 bits, reading a byte for them if need be, which succeeds if
	// n >= 8; otherwise, or if the look-up misses, it decodes bit by bit.
	// The bits below the n are not data and must not decide anything.
	var sym uint8
	var l uint
	if r.n >= 8 {
		if e := h.fast[r.acc>>(64-fastBits)]; e != 0 {
			sym, l = uint8(e>>8), uint(e&31)
			if e&fastCombined != 0 {
				l -= tableExtra(sym, ac)
			}
		}
	}
	if l == 0 || l > r.n {
		var err error
		if sym, l, err = h.decodeSlow(r.acc, r.n); err != nil {
			return r, 0, 0, err
		}
		if l == 0 {
			return r, 0, 0, errMissingFF00
		}
	}
	r.acc <<= l
	r.n -= l
	if !ac && sym > 16 {
		return r, 0, 0, UnsupportedError("excessive DC component")
	}
	t := extraBits(sym, ac, k)
	if t > r.n {
		return r, 0, 0, errMissingFF00
	}
	x := int32(r.acc >> (64 - t))
	if !ac || sym&0x0f != 0 {
		x = extend(r.acc, t)
	}
	r.acc <<= t
	r.n -= t
	return r, sym, x, nil
}

// tableExtra is how many extra bits a combined huffman.fast entry for sym
// includes.
func tableExtra(sym uint8, ac bool) uint {
	if ac {
		return uint(sym & 0x0f)
	}
	return uint(sym)
}

// extraBits is how many bits follow a code for sym that decodeBlock reads:
// a DC difference's, an AC coefficient's if its run stays in the block, or
// an end-of-band run's length.
func extraBits(sym uint8, ac bool, k int) uint {
	if !ac {
		return uint(sym)
	}
	t, run := uint(sym&0x0f), uint(sym>>4)
	switch {
	case t != 0:
		if k+int(run) < blockSize {
			return t
		}
		return 0
	case run != 0x0f:
		return run
	}
	return 0
}

// stepSlow is nearStep's work done by image/jpeg's own code, on d's state.
func (d *decoder) stepSlow(h *huffman, ac bool, k int) (uint8, int32, error) {
	sym, err := d.decodeHuffman(h)
	if err != nil {
		return 0, 0, err
	}
	if !ac && sym > 16 {
		return 0, 0, UnsupportedError("excessive DC component")
	}
	switch t := extraBits(sym, ac, k); {
	case t == 0:
		return sym, 0, nil
	case !ac || sym&0x0f != 0:
		x, err := d.receiveExtend(uint8(t))
		return sym, x, err
	default:
		bits, err := d.decodeBits(int32(t))
		return sym, int32(bits), err
	}
}

// handBack sets d.bits and d.bytes as image/jpeg's reader would have them
// after decoding the same codes, giving back every byte of acc that has no
// bit used yet.
//
// image/jpeg may have read one of those already, as it looks codes up with
// 8 bits, more than most codes have; but no one can tell, as long as the
// byte is in the buffer, as all of acc's are. It gives such a byte back
// itself before reading anything else (readFull and ignore do), and reads
// it again before using a bit of it.
func (d *decoder) handBack(r bitReader) {
	s := r.n & 7
	i := r.i
	for u := r.n / 8; u > 0; u-- {
		i -= d.stuffedLen(i)
	}
	d.bits = bits{a: uint32(r.acc >> (64 - s)), n: int32(s)}
	d.bytes.i = i
	d.bytes.nUnreadable = 0
}

// stuffedLen is how many bytes the byte of data that ends at d.bytes.buf[i]
// took: 2 if it was a stuffed 0xff 0x00, 1 otherwise. A byte of data never
// ends in 0xff, so a 0x00 after one is stuffing, except that before the
// first byte of data there is a header, and the last byte of a scan's
// header can be 0xff.
func (d *decoder) stuffedLen(i int) int {
	if i-2 >= d.dataStart && d.bytes.buf[i-1] == 0x00 && d.bytes.buf[i-2] == 0xff {
		return 2
	}
	return 1
}

// takeBits is the bitReader that continues from d's reader state.
func (d *decoder) takeBits() bitReader {
	n := uint(d.bits.n)
	return bitReader{acc: uint64(d.bits.a) << (64 - n), n: n, i: d.bytes.i}
}
