package kernel

import "sync"

// The tile kernels compute C[mr×nr] (+)= A[mr×kc]·B[kc×nr] and, on the last
// K block, the fused epilogue. A row r, step k is read at a + r*rs + k*ks
// (bytes), so the same kernel reads A in place or packed; B rows are one
// packed panel row (panel floats) apart. ldc is in bytes.
//
//go:noescape
func gemmTile512(mr, kc int, a *float32, rs, ks int, b, c *float32, ldc, mode int, bias, alpha *float32, leak float32)

//go:noescape
func gemmTile256(mr, kc int, a *float32, rs, ks int, b, c *float32, ldc, mode int, bias, alpha *float32, leak float32)

// Kernel mode bits; internal/asmgen emits the same values.
const (
	modeAcc  = 1 // add the tile to C (every K block after the first)
	modeBias = 2
	actShift = 4
)

// asmAct is the kernels' code for the activations they fuse; 0 leaves the
// rest (Elu, Sigmoid) to a Go pass over the stored tile.
func asmAct(a Activation) int {
	switch a {
	case ActRelu:
		return 1
	case ActRelu6:
		return 2
	case ActPrelu:
		return 3
	case ActLeakyRelu:
		return 4
	}
	return 0
}

type tileShape struct {
	avx512 bool
	mr, nr int
}

var (
	shape512 = tileShape{avx512: true, mr: 14, nr: 32}
	shape256 = tileShape{avx512: false, mr: 6, nr: 16}
)

const (
	// kcMax bounds a K block so a panel's slice of B (kc×panel floats, 48 KiB
	// at 384) stays near L1 while the row tiles stream past it.
	kcMax = 384
	// aBufLen is the packed-A block: 256 KiB, a quarter of L2, so A stays
	// cached across all panels of B.
	aBufLen = 1 << 16
	// packMinPanels is how many column tiles must reuse an A block before
	// packing it (one contiguous stream per tile instead of mr strided ones)
	// pays for the copy.
	packMinPanels = 4
)

var aPool = sync.Pool{New: func() any { return new([aBufLen]float32) }}

func gemmSIMD(m int, a []float32, lda int, b *PackedB, c []float32, ldc int, ep *Epilogue, sh *tileShape) {
	k, n := b.K, b.N
	if k == 0 {
		gemmPortable(m, a, lda, b, c, ldc, ep)
		return
	}
	checkGemm(m, a, lda, b, c, ldc, ep)

	pack := (n+sh.nr-1)/sh.nr >= packMinPanels && m > 1
	var buf *[aBufLen]float32
	if pack {
		buf = aPool.Get().(*[aBufLen]float32)
		defer aPool.Put(buf)
	}
	nkb := (k + kcMax - 1) / kcMax
	kcb := (k + nkb - 1) / nkb
	epMode := asmAct(ep.Act) << actShift
	if ep.Bias != nil {
		epMode |= modeBias
	}
	goAct := ep.Act == ActElu || ep.Act == ActSigmoid

	// Edge tiles (n not a multiple of nr) go through scratch so the kernels
	// always store full vectors; bias and slopes are padded to match.
	var scratch [14 * 32]float32
	var biasPad, alphaPad [panel]float32

	for k0 := 0; k0 < k; k0 += kcb {
		kc := min(kcb, k-k0)
		last := k0+kc == k
		mode := 0
		if k0 > 0 {
			mode |= modeAcc
		}
		if last {
			mode |= epMode
		}
		mc := m
		if pack {
			mc = min(m, aBufLen/kc/sh.mr*sh.mr)
		}
		for i0 := 0; i0 < m; i0 += mc {
			mcb := min(mc, m-i0)
			if pack {
				packA(buf[:], a[i0*lda+k0:], lda, mcb, kc, sh.mr)
			}
			for p0 := 0; p0 < n; p0 += sh.nr {
				w := min(sh.nr, n-p0)
				bp := &b.Data[(p0/panel)*panel*k+k0*panel+p0%panel]
				var bias, alpha *float32
				if mode&modeBias != 0 {
					bias = padded(&biasPad, ep.Bias[p0:n], sh.nr)
				}
				if last && ep.Act == ActPrelu {
					alpha = padded(&alphaPad, ep.Alpha[p0:n], sh.nr)
				}
				for t0 := 0; t0 < mcb; t0 += sh.mr {
					mr := min(sh.mr, mcb-t0)
					row := i0 + t0
					var ap *float32
					var rs, ks int
					if pack {
						ap, rs, ks = &buf[t0*kc], 4, 4*mr
					} else {
						ap, rs, ks = &a[row*lda+k0], 4*lda, 4
					}
					if w == sh.nr {
						sh.tile(mr, kc, ap, rs, ks, bp, &c[row*ldc+p0], 4*ldc, mode, bias, alpha, ep.Leak)
					} else {
						if mode&modeAcc != 0 {
							for i := range mr {
								copy(scratch[i*sh.nr:i*sh.nr+w], c[(row+i)*ldc+p0:])
							}
						}
						sh.tile(mr, kc, ap, rs, ks, bp, &scratch[0], 4*sh.nr, mode, bias, alpha, ep.Leak)
						for i := range mr {
							copy(c[(row+i)*ldc+p0:(row+i)*ldc+p0+w], scratch[i*sh.nr:])
						}
					}
					if last && goAct {
						for i := range mr {
							cr := c[(row+i)*ldc+p0 : (row+i)*ldc+p0+w]
							for j, v := range cr {
								cr[j] = activate(v, ep, p0+j)
							}
						}
					}
				}
			}
		}
	}
}

func (sh *tileShape) tile(mr, kc int, a *float32, rs, ks int, b, c *float32, ldc, mode int, bias, alpha *float32, leak float32) {
	if sh.avx512 {
		gemmTile512(mr, kc, a, rs, ks, b, c, ldc, mode, bias, alpha, leak)
	} else {
		gemmTile256(mr, kc, a, rs, ks, b, c, ldc, mode, bias, alpha, leak)
	}
}

// padded returns a pointer to w readable floats starting at v[0]: v itself
// when it is long enough, else a zero-padded copy in pad.
func padded(pad *[panel]float32, v []float32, w int) *float32 {
	if len(v) >= w {
		return &v[0]
	}
	n := copy(pad[:], v)
	clear(pad[n:])
	return &pad[0]
}

// packA lays out rows [0,m) × [0,kc) of a as consecutive tiles of mr rows,
// each step-major (a tile's mr values of one k adjacent), the order the
// kernels broadcast them in.
func packA(dst, a []float32, lda, m, kc, mr int) {
	for t0 := 0; t0 < m; t0 += mr {
		r := min(mr, m-t0)
		d := dst[t0*kc : t0*kc+r*kc]
		for i := range r {
			src := a[(t0+i)*lda : (t0+i)*lda+kc]
			for kk, v := range src {
				d[kk*r+i] = v
			}
		}
	}
}

// checkGemm rejects operands too short for their shapes: the assembly does
// not bounds-check, so a bad call must fail here instead of corrupting memory.
func checkGemm(m int, a []float32, lda int, b *PackedB, c []float32, ldc int, ep *Epilogue) {
	k, n := b.K, b.N
	switch {
	case m < 0 || k < 0 || n < 0 || lda < k || ldc < n:
		panic("kernel: Gemm: bad dimensions or strides")
	case len(a) < (m-1)*lda+k || len(c) < (m-1)*ldc+n || len(b.Data) < PackedLen(k, n):
		panic("kernel: Gemm: operand shorter than its shape")
	case ep.Bias != nil && len(ep.Bias) < n:
		panic("kernel: Gemm: bias shorter than n")
	case ep.Act == ActPrelu && len(ep.Alpha) < n:
		panic("kernel: Gemm: alpha shorter than n")
	}
}
