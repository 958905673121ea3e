package jpeg

import "encoding/binary"

// Reduced inverse DCTs, for decoding at 1/2, 1/4 and 1/8 scale.
//
// A block's 64 coefficients F(u, v) describe its 8×8 pixels as
//
//	f(x, y) = ¼ Σ_u Σ_v C(u) C(v) F(u, v) cos((2x+1)uπ/16) cos((2y+1)vπ/16)
//
// with C(0) = 1/√2 and C(u) = 1 otherwise. Evaluating that sum at the centre
// of each k×k group of pixels (x = kx' + (k-1)/2) instead of at each pixel
// gives the reduced picture. At those points the basis functions for u ≥ 8/k
// are either zero or alias lower ones, and they carry the detail a k-fold
// reduction must drop anyway, so only the top-left (8/k)×(8/k) coefficients
// are used. This is libjpeg's scale_denom approach. The reduced sum keeps ¼
// and C(u) as they are, so a flat block keeps its exact level.
//
// Each function dequantizes only the coefficients it uses (quant is in
// natural order), and stores its pixels with one wide store per row, since
// with the IDCT this small the per-pixel bounds checks of a byte-at-a-time
// store would cost as much as the arithmetic.

// clampLevel converts an IDCT output that already includes the +128 level
// shift to a pixel, saturating at 0 and 255.
func clampLevel(v int32) uint32 {
	if uint32(v) > 255 {
		// Negative: v>>31 is -1, so this is 0. Too large: v>>31 is 0, so
		// this is all ones, of which the caller keeps the low byte.
		v = ^(v >> 31)
	}
	return uint32(v) & 0xff
}

// store8x8 level-shifts, clamps and stores the output of idct: the same
// pixels as image/jpeg's byte-at-a-time loop, eight at a time.
func store8x8(dst []byte, stride int, b *block) {
	for y := range 8 {
		r := b[8*y : 8*y+8 : 8*y+8]
		p := uint64(clampLevel(r[0]+128)) |
			uint64(clampLevel(r[1]+128))<<8 |
			uint64(clampLevel(r[2]+128))<<16 |
			uint64(clampLevel(r[3]+128))<<24 |
			uint64(clampLevel(r[4]+128))<<32 |
			uint64(clampLevel(r[5]+128))<<40 |
			uint64(clampLevel(r[6]+128))<<48 |
			uint64(clampLevel(r[7]+128))<<56
		binary.LittleEndian.PutUint64(dst[y*stride:], p)
	}
}

// idct4 is the 4-point IDCT at the centres of pixel pairs, scaled by 2√2
// (so that its even part needs no multiply) and by 2¹³ (the constants'
// precision), with bias added to every output. At those centres the cosines
// are cos((2x'+1)uπ/8): the even part is x0 ± x2 because cos(π/4) cancels
// against √2, and the odd part is a rotation of (x1, x3) by π/8.
func idct4(x0, x1, x2, x3, bias int32) (y0, y1, y2, y3 int32) {
	e0 := (x0+x2)<<13 + bias
	e1 := (x0-x2)<<13 + bias
	// o0 = √2·(x1 cos π/8 + x3 cos 3π/8), o1 = √2·(x1 cos 3π/8 − x3 cos π/8).
	o0, o1 := dctBox(x3, x1, k13Cos, k13Sin)
	return e0 + o0, e1 + o1, e1 - o1, e0 - o0
}

// The odd part's constants, √2·cos(3π/8) and √2·sin(3π/8) = √2·cos(π/8)
// to 13 bits. They are c(sqrt2_cos6, 13) and c(sqrt2_sin6, 13), spelled as
// constant expressions because the calls would cost idct4 its inlining.
const (
	k13Cos = (sqrt2_cos6 + 1<<(59-13)) >> (60 - 13)
	k13Sin = (sqrt2_sin6 + 1<<(59-13)) >> (60 - 13)
)

// idct4x4 writes the 4×4 pixels of a half-scale block.
func idct4x4(dst []byte, stride int, b, q *block) {
	// Columns first. Dequantized coefficients are integers; keeping two
	// fraction bits (a shift of 13-2, rounded) leaves the rows' products
	// well inside int32 for any 8-bit image.
	const bias1 = 1 << 10
	var w [4][4]int32 // w[y][u]
	w[0][0], w[1][0], w[2][0], w[3][0] = idct4(b[0]*q[0], b[8]*q[8], b[16]*q[16], b[24]*q[24], bias1)
	w[0][1], w[1][1], w[2][1], w[3][1] = idct4(b[1]*q[1], b[9]*q[9], b[17]*q[17], b[25]*q[25], bias1)
	w[0][2], w[1][2], w[2][2], w[3][2] = idct4(b[2]*q[2], b[10]*q[10], b[18]*q[18], b[26]*q[26], bias1)
	w[0][3], w[1][3], w[2][3], w[3][3] = idct4(b[3]*q[3], b[11]*q[11], b[19]*q[19], b[27]*q[27], bias1)

	// Rows. Two passes of 2√2 make 8, so with the two fraction bits and the
	// constants' 13 the pixel is the output >> 18. The bias rounds that
	// shift and adds the +128 level shift.
	const bias2 = 1<<17 + 128<<18
	for y := range 4 {
		r := &w[y]
		p0, p1, p2, p3 := idct4(r[0]>>11, r[1]>>11, r[2]>>11, r[3]>>11, bias2)
		binary.LittleEndian.PutUint32(dst[y*stride:], clampLevel(p0>>18)|
			clampLevel(p1>>18)<<8|
			clampLevel(p2>>18)<<16|
			clampLevel(p3>>18)<<24)
	}
}

// idct2x2 writes the 2×2 pixels of a quarter-scale block. At the centres of
// 4×4 groups the u = 1 cosines are ±1/√2, which cancel against C(0) = 1/√2
// and the ¼: each pixel is (F00 ± F01 ± F10 ± F11) / 8, exactly.
func idct2x2(dst []byte, stride int, b, q *block) {
	const bias = 4 + 128<<3 // rounds the /8 and adds the level shift
	f00 := b[0]*q[0] + bias
	f01 := b[1] * q[1]
	f10 := b[8] * q[8]
	f11 := b[9] * q[9]
	// The v = 0 and v = 1 rows of coefficients evaluated at the left and
	// right pixel; the top pixel adds the v = 1 part, the bottom subtracts it.
	l, r := f00+f01, f00-f01
	dl, dr := f10+f11, f10-f11
	binary.LittleEndian.PutUint16(dst, uint16(clampLevel((l+dl)>>3)|clampLevel((r+dr)>>3)<<8))
	binary.LittleEndian.PutUint16(dst[stride:], uint16(clampLevel((l-dl)>>3)|clampLevel((r-dr)>>3)<<8))
}

// idct1x1 writes the one pixel of an eighth-scale block: its mean, F00/8.
func idct1x1(dst []byte, b, q *block) {
	dst[0] = uint8(clampLevel((b[0]*q[0] + 4 + 128<<3) >> 3))
}
