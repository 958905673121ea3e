// Copyright 2012 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package jpeg

import (
	"fmt"
	"image"
	mbits "math/bits"
)

// makeImg allocates and initializes the destination image. Its planes are
// whole MCUs at the decode's scale, so that edge blocks need no clipping.
func (d *decoder) makeImg(mxx, myy int) {
	s := d.scale
	w, h := (d.width+1<<s-1)>>s, (d.height+1<<s-1)>>s
	if d.nComp == 1 {
		m := image.NewGray(image.Rect(0, 0, 8*mxx>>s, 8*myy>>s))
		d.img1 = m.SubImage(image.Rect(0, 0, w, h)).(*image.Gray)
		return
	}

	h0 := d.comp[0].h
	v0 := d.comp[0].v
	hRatio := h0 / d.comp[1].h
	vRatio := v0 / d.comp[1].v
	var subsampleRatio image.YCbCrSubsampleRatio
	switch hRatio<<4 | vRatio {
	case 0x11:
		subsampleRatio = image.YCbCrSubsampleRatio444
	case 0x12:
		subsampleRatio = image.YCbCrSubsampleRatio440
	case 0x21:
		subsampleRatio = image.YCbCrSubsampleRatio422
	case 0x22:
		subsampleRatio = image.YCbCrSubsampleRatio420
	case 0x41:
		subsampleRatio = image.YCbCrSubsampleRatio411
	case 0x42:
		subsampleRatio = image.YCbCrSubsampleRatio410
	default:
		panic("unreachable")
	}
	m := image.NewYCbCr(image.Rect(0, 0, 8*h0*mxx>>s, 8*v0*myy>>s), subsampleRatio)
	d.img3 = m.SubImage(image.Rect(0, 0, w, h)).(*image.YCbCr)

	if d.nComp == 4 {
		h3, v3 := d.comp[3].h, d.comp[3].v
		d.blackStride = 8 * h3 * mxx >> s
		d.blackPix = make([]byte, d.blackStride*(8*v3*myy>>s))
	}
}

// Specified in section B.2.3.
func (d *decoder) processSOS(n int) error {
	if d.nComp == 0 {
		return FormatError("missing SOF marker")
	}
	if n < 6 || 4+2*d.nComp < n || n%2 != 0 {
		return FormatError("SOS has wrong length")
	}
	if err := d.readFull(d.tmp[:n]); err != nil {
		return err
	}
	nComp := int(d.tmp[0])
	if n != 4+2*nComp {
		return FormatError("SOS length inconsistent with number of components")
	}
	var scan [maxComponents]scanComp
	totalHV := 0
	for i := 0; i < nComp; i++ {
		cs := d.tmp[1+2*i] // Component selector.
		compIndex := -1
		for j, comp := range d.comp[:d.nComp] {
			if cs == comp.c {
				compIndex = j
			}
		}
		if compIndex < 0 {
			return FormatError("unknown component selector")
		}
		scan[i].compIndex = uint8(compIndex)
		// Section B.2.3 states that "the value of Cs_j shall be different from
		// the values of Cs_1 through Cs_(j-1)". Since we have previously
		// verified that a frame's component identifiers (C_i values in section
		// B.2.2) are unique, it suffices to check that the implicit indexes
		// into d.comp are unique.
		for j := 0; j < i; j++ {
			if scan[i].compIndex == scan[j].compIndex {
				return FormatError("repeated component selector")
			}
		}
		totalHV += d.comp[compIndex].h * d.comp[compIndex].v

		// The baseline t <= 1 restriction is specified in table B.3.
		scan[i].td = d.tmp[2+2*i] >> 4
		if t := scan[i].td; t > maxTh || (d.baseline && t > 1) {
			return FormatError("bad Td value")
		}
		scan[i].ta = d.tmp[2+2*i] & 0x0f
		if t := scan[i].ta; t > maxTh || (d.baseline && t > 1) {
			return FormatError("bad Ta value")
		}
	}
	// Section B.2.3 states that if there is more than one component then the
	// total H*V values in a scan must be <= 10.
	if d.nComp > 1 && totalHV > 10 {
		return FormatError("total sampling factors too large")
	}

	// zigStart and zigEnd are the spectral selection bounds.
	// ah and al are the successive approximation high and low values.
	// The spec calls these values Ss, Se, Ah and Al.
	//
	// For progressive JPEGs, these are the two more-or-less independent
	// aspects of progression. Spectral selection progression is when not
	// all of a block's 64 DCT coefficients are transmitted in one pass.
	// For example, three passes could transmit coefficient 0 (the DC
	// component), coefficients 1-5, and coefficients 6-63, in zig-zag
	// order. Successive approximation is when not all of the bits of a
	// band of coefficients are transmitted in one pass. For example,
	// three passes could transmit the 6 most significant bits, followed
	// by the second-least significant bit, followed by the least
	// significant bit.
	//
	// For sequential JPEGs, these parameters are hard-coded to 0/63/0/0, as
	// per table B.3.
	zigStart, zigEnd, ah, al := int32(0), int32(blockSize-1), uint32(0), uint32(0)
	if d.progressive {
		zigStart = int32(d.tmp[1+2*nComp])
		zigEnd = int32(d.tmp[2+2*nComp])
		ah = uint32(d.tmp[3+2*nComp] >> 4)
		al = uint32(d.tmp[3+2*nComp] & 0x0f)
		if (zigStart == 0 && zigEnd != 0) || zigStart > zigEnd || blockSize <= zigEnd {
			return FormatError("bad spectral selection bounds")
		}
		if zigStart != 0 && nComp != 1 {
			return FormatError("progressive AC coefficients for more than one component")
		}
		if ah != 0 && ah != al+1 {
			return FormatError("bad successive approximation values")
		}
	}

	// mxx and myy are the number of MCUs (Minimum Coded Units) in the image.
	h0, v0 := d.comp[0].h, d.comp[0].v // The h and v values from the Y components.
	mxx := (d.width + 8*h0 - 1) / (8 * h0)
	myy := (d.height + 8*v0 - 1) / (8 * v0)
	if d.progressive && d.progNonZero[0] == nil && d.progNonZero[1] == nil && d.progNonZero[2] == nil && d.progNonZero[3] == nil {
		// Every component may come to keep its coefficients: check
		// their sum before allocating the first.
		total := 0
		for _, c := range d.comp[:d.nComp] {
			total += mxx * myy * c.h * c.v * corners[d.scale].n * 4
		}
		if total > maxCoeffBytes {
			return LimitError(fmt.Sprintf("progressive coefficients of %d MiB at 1/%d scale, more than %d MiB", total>>20, 1<<d.scale, maxCoeffBytes>>20))
		}
	}
	if d.img1 == nil && d.img3 == nil {
		d.makeImg(mxx, myy)
	}
	d.bits = bits{}
	if !d.progressive {
		// A sequential image codes each component in one scan (T.81
		// 4.10). A second one would decode and reconstruct every block
		// of the component again, for one bit a block.
		for _, sc := range scan[:nComp] {
			if d.coded&(1<<sc.compIndex) != 0 {
				return errRescan
			}
			d.coded |= 1 << sc.compIndex
		}
		return d.sequentialScan(scan[:nComp], mxx, myy)
	}
	for i := 0; i < nComp; i++ {
		compIndex := scan[i].compIndex
		if d.progCoeffs[compIndex] == nil {
			n := mxx * myy * d.comp[compIndex].h * d.comp[compIndex].v
			d.progCoeffs[compIndex] = make([]int32, n*corners[d.scale].n)
			d.progNonZero[compIndex] = make([]uint64, n)
		}
	}

	mcu, expectedRST := 0, uint8(rst0Marker)
	keep, slot := corners[d.scale].n, &corners[d.scale].slot
	band := bandMask(zigStart, zigEnd)
	var (
		dc [maxComponents]int32
		// bx and by are the location of the current block, in units of 8x8
		// blocks: the third block in the first row has (bx, by) = (2, 0).
		bx, by int
		// nextX and nextY are the location of the next block of a
		// non-interleaved scan, which is traversed in raster order.
		nextX, nextY int
	)
	for my := 0; my < myy; my++ {
		if err := d.ctx.Err(); err != nil {
			return err
		}
		for mx := 0; mx < mxx; mx++ {
			for i := 0; i < nComp; i++ {
				compIndex := scan[i].compIndex
				hi := d.comp[compIndex].h
				vi := d.comp[compIndex].v
				// jx and jy are block j's position within the MCU, kept as
				// counters because j%hi and j/hi cost a division each.
				jx, jy := 0, 0
				for j := 0; j < hi*vi; j, jx = j+1, jx+1 {
					if jx == hi {
						jx, jy = 0, jy+1
					}
					// The blocks are traversed one MCU at a time. For 4:2:0 chroma
					// subsampling, there are four Y 8x8 blocks in every 16x16 MCU.
					//
					// For a sequential 32x16 pixel image, the Y blocks visiting order is:
					//	0 1 4 5
					//	2 3 6 7
					//
					// For progressive images, the interleaved scans (those with nComp > 1)
					// are traversed as above, but non-interleaved scans are traversed left
					// to right, top to bottom:
					//	0 1 2 3
					//	4 5 6 7
					// Only DC scans (zigStart == 0) can be interleaved. AC scans must have
					// only one component.
					//
					// To further complicate matters, for non-interleaved scans, there is no
					// data for any blocks that are inside the image at the MCU level but
					// outside the image at the pixel level. For example, a 24x16 pixel 4:2:0
					// progressive image consists of two 16x16 MCUs. The interleaved scans
					// will process 8 Y blocks:
					//	0 1 4 5
					//	2 3 6 7
					// The non-interleaved scans will process only 6 Y blocks:
					//	0 1 2
					//	3 4 5
					if nComp != 1 {
						bx = hi*mx + jx
						by = vi*my + jy
					} else {
						bx, by = nextX, nextY
						if nextX++; nextX == mxx*hi {
							nextX, nextY = 0, nextY+1
						}
						if bx*8 >= d.width || by*8 >= d.height {
							continue
						}
					}

					// The block's coefficients so far, those the scale
					// keeps (see corners), updated in place: a scan that
					// only continues an end-of-band run then costs next to
					// nothing per block.
					bi := by*mxx*hi + bx
					if d.eobRun > 0 && zigStart > 0 && (ah == 0 || d.progNonZero[compIndex][bi]&band == 0) {
						// Inside an end-of-band run, a block with no
						// coefficient of the band to correct is left as it
						// is: what decodeAC and refine would do, for less.
						d.eobRun--
						continue
					}
					b, nonZero := d.progCoeffs[compIndex][bi*keep:][:keep], &d.progNonZero[compIndex][bi]

					if ah != 0 {
						if err := d.refine(b, slot, nonZero, &d.huff[acTable][scan[i].ta], zigStart, zigEnd, 1<<al); err != nil {
							return err
						}
					} else {
						zig := zigStart
						if zig == 0 {
							zig++
							// Decode the DC coefficient, as specified in section F.2.2.1.
							value, err := d.decodeHuffman(&d.huff[dcTable][scan[i].td])
							if err != nil {
								return err
							}
							if value > 16 {
								return UnsupportedError("excessive DC component")
							}
							dcDelta, err := d.receiveExtend(value)
							if err != nil {
								return err
							}
							dc[compIndex] += dcDelta
							b[0] = dc[compIndex] << al
						}

						if zig <= zigEnd && d.eobRun > 0 {
							d.eobRun--
						} else {
							if err := d.decodeAC(b, slot, nonZero, &d.huff[acTable][scan[i].ta], zig, zigEnd, al); err != nil {
								return err
							}
						}
					}

					// At this point, we could call reconstructBlock to dequantize and perform the
					// inverse DCT, to save early stages of a progressive image to the *image.YCbCr
					// buffers (the whole point of progressive encoding), but in Go, the jpeg.Decode
					// function does not return until the entire image is decoded, so that would be
					// wasted computation. Instead, reconstructBlock is called on each accumulated
					// block by the reconstructProgressiveImage method after all of the SOS markers
					// are processed.
				} // for j
			} // for i
			mcu++
			if d.ri > 0 && mcu%d.ri == 0 && mcu < mxx*myy {
				var err error
				if expectedRST, err = d.readRST(expectedRST); err != nil {
					return err
				}
				// Reset the Huffman decoder.
				d.bits = bits{}
				// Reset the DC components, as per section F.2.1.3.1.
				dc = [maxComponents]int32{}
				// Reset the progressive decoder state, as per section G.1.2.2.
				d.eobRun = 0
			}
		} // for mx
	} // for my

	return nil
}

// scanComp is a component of a scan, as the scan's header lists it.
type scanComp struct {
	compIndex uint8
	td        uint8 // DC table selector.
	ta        uint8 // AC table selector.
}

// sequentialScan decodes and reconstructs the blocks of a sequential scan,
// in image/jpeg's order, restart markers included (processSOS's progressive
// loop is image/jpeg's loop for both kinds of scan). What the blocks of a
// component share is looked up once per scan instead of once per block,
// which mattered at 1/8 scale, where a block costs little else.
func (d *decoder) sequentialScan(scan []scanComp, mxx, myy int) error {
	type unit struct {
		blockCoder
		qt     *block
		dst    []byte
		stride int
		h, v   int
	}
	var units [maxComponents]unit
	for i, s := range scan {
		c := &d.comp[s.compIndex]
		dst, stride, err := d.plane(int(s.compIndex))
		if err != nil {
			return err
		}
		d.huff[dcTable][s.td].buildFast(false)
		d.huff[acTable][s.ta].buildFast(true)
		units[i] = unit{
			blockCoder: blockCoder{dcH: &d.huff[dcTable][s.td], acH: &d.huff[acTable][s.ta]},
			qt:         &d.quant[c.tq], dst: dst, stride: stride, h: c.h, v: c.v,
		}
	}
	// b is the block being decoded, acb where its AC coefficients go. At
	// 1/8 scale the reconstruction reads only the DC term, so they go to a
	// block that is never read, and b need not be cleared between uses.
	var b, unread block
	acb := &b
	if d.scale == 3 {
		acb = &unread
	}
	// The bits go through r rather than d.bits; d is brought up to date
	// at each restart and at the end.
	r := bitReader{i: d.bytes.i}
	d.dataStart = r.i
	mcu, expectedRST := 0, uint8(rst0Marker)
	// nextX and nextY are the location of the next block of a
	// non-interleaved scan, which is traversed in raster order; see
	// processSOS.
	nextX, nextY := 0, 0
	for my := 0; my < myy; my++ {
		if err := d.ctx.Err(); err != nil {
			return err
		}
		for mx := 0; mx < mxx; mx++ {
			for ui := range scan {
				u := &units[ui]
				for jy := 0; jy < u.v; jy++ {
					for jx := 0; jx < u.h; jx++ {
						bx, by := u.h*mx+jx, u.v*my+jy
						if len(scan) == 1 {
							bx, by = nextX, nextY
							if nextX++; nextX == mxx*u.h {
								nextX, nextY = 0, nextY+1
							}
							if bx*8 >= d.width || by*8 >= d.height {
								continue
							}
						}
						if d.scale != 3 {
							b = block{}
						}
						var err error
						if r, err = d.decodeBlock(r, &u.blockCoder, &b, acb); err != nil {
							return err
						}
						if d.scale == 3 {
							idct1x1(u.dst[by*u.stride+bx:], &b, u.qt)
						} else {
							d.reconstruct(&b, u.qt, u.dst, u.stride, bx, by)
						}
					}
				}
			}
			mcu++
			if d.ri > 0 && mcu%d.ri == 0 && mcu < mxx*myy {
				d.handBack(r)
				var err error
				if expectedRST, err = d.readRST(expectedRST); err != nil {
					return err
				}
				d.bits = bits{}
				r = bitReader{i: d.bytes.i}
				d.dataStart = r.i
				for i := range scan {
					units[i].dc = 0
				}
				d.eobRun = 0
			}
		}
	}
	d.handBack(r)
	return nil
}

// readRST reads past expectedRST, the RST marker due after a restart
// interval, and returns the one due after the next interval. For
// well-formed input, the marker follows immediately. For corrupt input, it
// calls findRST to try to resynchronize.
func (d *decoder) readRST(expectedRST uint8) (uint8, error) {
	if err := d.readFull(d.tmp[:2]); err != nil {
		return 0, err
	} else if d.tmp[0] != 0xff || d.tmp[1] != expectedRST {
		if err := d.findRST(expectedRST); err != nil {
			return 0, err
		}
	}
	if expectedRST++; expectedRST == rst7Marker+1 {
		expectedRST = rst0Marker
	}
	return expectedRST, nil
}

// decodeAC decodes the AC coefficients zig to zigEnd of a progressive block,
// as specified in section G.1.2.2, or starts an end-of-band run. It is
// image/jpeg's loop: sequential scans, which phones write, have their own
// fast path (sequential.go), and progressive ones are rare enough not to
// need a second.
func (d *decoder) decodeAC(b []int32, slot *[blockSize]int8, nonZero *uint64, h *huffman, zig, zigEnd int32, al uint32) error {
	for ; zig <= zigEnd; zig++ {
		value, err := d.decodeHuffman(h)
		if err != nil {
			return err
		}
		val0 := value >> 4
		val1 := value & 0x0f
		if val1 != 0 {
			zig += int32(val0)
			if zig > zigEnd {
				break
			}
			ac, err := d.receiveExtend(val1)
			if err != nil {
				return err
			}
			if s := slot[zig]; s >= 0 {
				b[s] = ac << al
			}
			*nonZero |= 1 << zig
		} else {
			if val0 != 0x0f {
				d.eobRun = uint16(1 << val0)
				if val0 != 0 {
					bits, err := d.decodeBits(int32(val0))
					if err != nil {
						return err
					}
					d.eobRun |= uint16(bits)
				}
				d.eobRun--
				break
			}
			zig += 0x0f
		}
	}
	return nil
}

// refine decodes a successive approximation refinement block, as specified in
// section G.1.2. b holds the coefficients the scale keeps, at slot[z] for
// zig-zag index z; nonZero has bit z set where the coefficient is not zero,
// kept or not (see decoder.progNonZero).
func (d *decoder) refine(b []int32, slot *[blockSize]int8, nonZero *uint64, h *huffman, zigStart, zigEnd, delta int32) error {
	// Refining a DC component is trivial.
	if zigStart == 0 {
		if zigEnd != 0 {
			panic("unreachable")
		}
		bit, err := d.decodeBit()
		if err != nil {
			return err
		}
		if bit {
			b[0] |= delta
		}
		return nil
	}

	// Refining AC components is more complicated; see sections G.1.2.2 and G.1.2.3.
	zig := zigStart
	if d.eobRun == 0 {
	loop:
		for ; zig <= zigEnd; zig++ {
			z := int32(0)
			value, err := d.decodeHuffman(h)
			if err != nil {
				return err
			}
			val0 := value >> 4
			val1 := value & 0x0f

			switch val1 {
			case 0:
				if val0 != 0x0f {
					d.eobRun = uint16(1 << val0)
					if val0 != 0 {
						bits, err := d.decodeBits(int32(val0))
						if err != nil {
							return err
						}
						d.eobRun |= uint16(bits)
					}
					break loop
				}
			case 1:
				z = delta
				bit, err := d.decodeBit()
				if err != nil {
					return err
				}
				if !bit {
					z = -z
				}
			default:
				return FormatError("unexpected Huffman code")
			}

			zig, err = d.refineNonZeroes(b, slot, *nonZero, zig, zigEnd, int32(val0), delta)
			if err != nil {
				return err
			}
			if zig > zigEnd {
				return FormatError("too many coefficients")
			}
			if z != 0 {
				if s := slot[zig]; s >= 0 {
					b[s] = z
				}
				*nonZero |= 1 << zig
			}
		}
	}
	if d.eobRun > 0 {
		d.eobRun--
		if _, err := d.refineNonZeroes(b, slot, *nonZero, zig, zigEnd, -1, delta); err != nil {
			return err
		}
	}
	return nil
}

// refineNonZeroes refines non-zero entries of b in zig-zag order, from zig
// up to zigEnd or, if nz >= 0, up to the zero entry after the first nz,
// where it stops; it returns where it stopped. nonZero marks b's non-zero
// entries, so that its cost is that of the bits it reads and not of the
// entries it passes: an end-of-band run of a refinement scan passes every
// entry of every block it covers.
func (d *decoder) refineNonZeroes(b []int32, slot *[blockSize]int8, nonZero uint64, zig, zigEnd, nz, delta int32) (int32, error) {
	if zig > zigEnd {
		return zig, nil
	}
	band := bandMask(zig, zigEnd)
	end := zigEnd + 1
	if nz >= 0 {
		zeros := ^nonZero & band
		for ; nz > 0 && zeros != 0; nz-- {
			zeros &= zeros - 1
		}
		if zeros != 0 {
			end = int32(mbits.TrailingZeros64(zeros))
		}
	}
	// Where end is 64, the shift makes 0 and the mask all ones.
	for m := nonZero & band & (1<<end - 1); m != 0; m &= m - 1 {
		bit, err := d.decodeBit()
		if err != nil {
			return 0, err
		}
		u := slot[mbits.TrailingZeros64(m)]
		if !bit || u < 0 {
			continue
		}
		if b[u] >= 0 {
			b[u] += delta
		} else {
			b[u] -= delta
		}
	}
	return end, nil
}

// bandMask has the bits of zig-zag indices from to to set, in the layout of
// decoder.progNonZero.
func bandMask(from, to int32) uint64 { return ^uint64(0) >> (63 - to) &^ (1<<from - 1) }

// corners[scale] describes which coefficients a progressive decode at
// that scale keeps between scans: the (8>>scale)² of a block's top-left
// corner, which are all the reduced IDCT reads. At 1/8 scale that is the DC
// term alone, 4 bytes a block instead of 256, so the pipeline's first,
// reduced decode of a large progressive JPEG holds a few MB, not hundreds.
// Refinement still needs to know which of the others are nonzero, which
// decoder.progNonZero says.
var corners = func() (cs [4]struct {
	n       int              // coefficients kept
	slot    [blockSize]int8  // where zig-zag index z is kept, or -1
	natural [blockSize]uint8 // the natural index of each slot
}) {
	for scale := range cs {
		k := 8 >> scale
		c := &cs[scale]
		c.n = k * k
		for z, u := range unzig {
			row, col := int(u)/8, int(u)%8
			c.slot[z] = -1
			if row < k && col < k {
				c.slot[z] = int8(row*k + col)
				c.natural[row*k+col] = u
			}
		}
	}
	return cs
}()

func (d *decoder) reconstructProgressiveImage() error {
	// The h0, mxx, by and bx variables have the same meaning as in the
	// processSOS method.
	h0 := d.comp[0].h
	mxx := (d.width + 8*h0 - 1) / (8 * h0)
	for i := 0; i < d.nComp; i++ {
		if d.progCoeffs[i] == nil {
			continue
		}
		v := 8 * d.comp[0].v / d.comp[i].v
		h := 8 * d.comp[0].h / d.comp[i].h
		stride := mxx * d.comp[i].h
		c := &corners[d.scale]
		// At full scale the kept coefficients are the block. Otherwise
		// they go to their places in b, the only ones the reduced IDCT
		// reads, so b needs no clearing between blocks.
		var b block
		for by := 0; by*v < d.height; by++ {
			if err := d.ctx.Err(); err != nil {
				return err
			}
			for bx := 0; bx*h < d.width; bx++ {
				kept := d.progCoeffs[i][(by*stride+bx)*c.n:][:c.n]
				p := &b
				if c.n == blockSize {
					p = (*block)(kept)
				} else {
					for s, v := range kept {
						b[c.natural[s]] = v
					}
				}
				if err := d.reconstructBlock(p, bx, by, i); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// reconstructBlock dequantizes, performs the inverse DCT and stores the block
// to the image, as (8>>d.scale)×(8>>d.scale) pixels.
func (d *decoder) reconstructBlock(b *block, bx, by, compIndex int) error {
	dst, stride, err := d.plane(compIndex)
	if err != nil {
		return err
	}
	d.reconstruct(b, &d.quant[d.comp[compIndex].tq], dst, stride, bx, by)
	return nil
}

// plane returns the pixels and stride of a component's plane.
func (d *decoder) plane(compIndex int) ([]byte, int, error) {
	if d.nComp == 1 {
		return d.img1.Pix, d.img1.Stride, nil
	}
	switch compIndex {
	case 0:
		return d.img3.Y, d.img3.YStride, nil
	case 1:
		return d.img3.Cb, d.img3.CStride, nil
	case 2:
		return d.img3.Cr, d.img3.CStride, nil
	case 3:
		return d.blackPix, d.blackStride, nil
	}
	return nil, 0, UnsupportedError("too many components")
}

// reconstruct is reconstructBlock with the quantization table and plane
// given.
func (d *decoder) reconstruct(b, qt *block, dst []byte, stride, bx, by int) {
	n := 8 >> d.scale
	dst = dst[n*(by*stride+bx):]
	switch d.scale {
	case 0:
		for i := range b {
			b[i] *= qt[i]
		}
		idct(b)
		store8x8(dst, stride, b)
	case 1:
		idct4x4(dst, stride, b, qt)
	case 2:
		idct2x2(dst, stride, b, qt)
	default:
		idct1x1(dst, b, qt)
	}
}

// findRST advances past the next RST restart marker that matches expectedRST.
// Other than I/O errors, it is also an error if we encounter an {0xFF, M}
// two-byte marker sequence where M is not 0x00, 0xFF or the expectedRST.
//
// This is similar to libjpeg's jdmarker.c's next_marker function.
// https://github.com/libjpeg-turbo/libjpeg-turbo/blob/2dfe6c0fe9e18671105e94f7cbf044d4a1d157e6/jdmarker.c#L892-L935
//
// Precondition: d.tmp[:2] holds the next two bytes of JPEG-encoded input
// (input in the d.readFull sense).
func (d *decoder) findRST(expectedRST uint8) error {
	for {
		// i is the index such that, at the bottom of the loop, we read 2-i
		// bytes into d.tmp[i:2], maintaining the invariant that d.tmp[:2]
		// holds the next two bytes of JPEG-encoded input. It is either 0 or 1,
		// so that each iteration advances by 1 or 2 bytes (or returns).
		i := 0

		if d.tmp[0] == 0xff {
			if d.tmp[1] == expectedRST {
				return nil
			} else if d.tmp[1] == 0xff {
				i = 1
			} else if d.tmp[1] != 0x00 {
				// libjpeg's jdmarker.c's jpeg_resync_to_restart does something
				// fancy here, treating RST markers within two (modulo 8) of
				// expectedRST differently from RST markers that are 'more
				// distant'. Until we see evidence that recovering from such
				// cases is frequent enough to be worth the complexity, we take
				// a simpler approach for now. Any marker that's not 0x00, 0xff
				// or expectedRST is a fatal FormatError.
				return FormatError("bad RST marker")
			}

		} else if d.tmp[1] == 0xff {
			d.tmp[0] = 0xff
			i = 1
		}

		if err := d.readFull(d.tmp[i:2]); err != nil {
			return err
		}
	}
}
