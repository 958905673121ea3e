package kernel

// The tile kernels compute C[mr×nr] (+)= A[mr×kc]·B[kc×nr] and, on the last
// K block, the fused epilogue. A is read in place, lda bytes between rows:
// packing it cost more than it saved on every shape measured, as the mr row
// streams prefetch well. B rows are one packed panel row (panel floats)
// apart. ldc and ldr (the residual's row stride) are in bytes; rmask
// selects the columns that take the residual as mask does those stored. A
// tile's
// K is slices runs of kc steps, sliceStep bytes apart in A (see GemmSlices).
//
//go:noescape
func gemmTile512(mr, kc int, a *float32, lda int, b, c *float32, ldc, mode int, bias, alpha *float32, leak float32, mask uint32, res *float32, ldr int, rmask uint32, slices, sliceStep int)

//go:noescape
func gemmTile256(mr, kc int, a *float32, lda int, b, c *float32, ldc, mode int, bias, alpha *float32, leak float32, mask *int32, res *float32, ldr int, rmask *int32, slices, sliceStep int)

// laneMask windows give gemmTile256 the VMASKMOVPS masks of an edge tile:
// the 16 entries from laneMask[16-w] enable the first w columns.
var laneMask = [32]int32{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}

// lanes is gemmTile256's mask for the first w of 16 columns: nil for all.
func lanes(w int) *int32 {
	if w == 16 {
		return nil
	}
	return &laneMask[16-w]
}

// Kernel mode bits; internal/asmgen emits the same values.
const (
	modeAcc  = 1 // add the tile to C (every K block after the first)
	modeBias = 2
	modeRes  = 8
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

// tileShape is a kernel's register tile: mr rows by nr columns.
type tileShape struct {
	avx512 bool
	mr, nr int
}

var (
	shape512 = tileShape{avx512: true, mr: 14, nr: 32}
	shape256 = tileShape{avx512: false, mr: 6, nr: 16}
)

const (
	// kcMax bounds a K block so a panel's slice of B (kc×panel
	// floats, 48 KiB at 384) stays near L1 while the row tiles stream past.
	kcMax = 384
	// mcBytes bounds the rows of A one pass over the panels of B
	// reads, so they stay in L2 from one panel to the next.
	mcBytes = 512 << 10
)

func gemmSIMD(m int, av *aView, b *PackedB, c []float32, ldc int, ep *Epilogue, sh *tileShape) {
	k, n := b.K, b.N
	if k == 0 {
		gemmPortable(m, av, b, c, ldc, ep)
		return
	}
	checkGemm(m, av, b, c, ldc, ep)
	a, lda := av.a, av.lda

	// A single row tile of a whole-panel kernel reads each B element once,
	// so K blocks, which keep B cached for the next tile, would only add
	// passes over C. The AVX2 kernel covers half a panel per pass and
	// needs the blocks to find the other half still cached.
	nkb := (k + kcMax - 1) / kcMax
	if m <= sh.mr && sh.nr == panel {
		nkb = 1
	}
	kcb := (k + nkb - 1) / nkb
	if av.run < k {
		// A K block is whole runs, so it starts at a run.
		kcb = max(av.run, kcb/av.run*av.run)
	}
	epMode := asmAct(ep.Act) << actShift
	if ep.Bias != nil {
		epMode |= modeBias
	}
	if ep.Residual != nil {
		epMode |= modeRes
	}
	goAct := ep.Act == ActElu || ep.Act == ActSigmoid
	resCols := ep.residualCols(n)

	// Edge tiles (n not a multiple of nr) store through masks, but the
	// kernels load bias and slopes whole, so those are padded.
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
		mc := max(sh.mr, mcBytes/(4*kc)/sh.mr*sh.mr)
		kcRun, slices := kc, 1
		if av.run < k {
			kcRun, slices = av.run, kc/av.run
		}
		for i0 := 0; i0 < m; i0 += mc {
			mcb := min(mc, m-i0)
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
					ap := &a[av.off(row, k0)]
					cp := &c[row*ldc+p0]
					rw := max(0, min(w, resCols-p0)) // columns with a residual
					tmode, rp := mode, (*float32)(nil)
					if mode&modeRes != 0 && rw > 0 {
						rp = &ep.Residual[row*ep.ResidualStride+p0]
					} else {
						tmode &^= modeRes
					}
					ldr := 4 * ep.ResidualStride
					switch {
					case sh.avx512:
						// Bit j of the masks stores column j, adds its residual.
						gemmTile512(mr, kcRun, ap, 4*lda, bp, cp, 4*ldc, tmode, bias, alpha, ep.Leak, uint32(1<<w-1), rp, ldr, uint32(1<<rw-1), slices, 4*av.sliceStride)
					default:
						gemmTile256(mr, kcRun, ap, 4*lda, bp, cp, 4*ldc, tmode, bias, alpha, ep.Leak, lanes(w), rp, ldr, lanes(rw), slices, 4*av.sliceStride)
					}
					if last && goAct {
						for i := range mr {
							activateRow(c[(row+i)*ldc+p0:(row+i)*ldc+p0+w], p0, ep)
						}
					}
				}
			}
		}
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

// checkGemm rejects operands too short for their shapes: the assembly does
// not bounds-check, so a bad call must fail here instead of corrupting memory.
func checkGemm(m int, av *aView, b *PackedB, c []float32, ldc int, ep *Epilogue) {
	k, n := b.K, b.N
	switch {
	case m < 0 || k < 0 || n < 0 || m > 1 && (av.run == k && av.lda < k || ldc < n):
		panic("kernel: Gemm: bad dimensions or strides")
	case len(av.a) < av.minLen(m, k) || len(c) < (m-1)*ldc+n || len(b.Data) < PackedLen(k, n):
		panic("kernel: Gemm: operand shorter than its shape")
	case ep.Bias != nil && len(ep.Bias) < n:
		panic("kernel: Gemm: bias shorter than n")
	case ep.Act == ActPrelu && len(ep.Alpha) < n:
		panic("kernel: Gemm: alpha shorter than n")
	case ep.ResidualCols < 0 || ep.ResidualCols > n:
		panic("kernel: Gemm: residual columns outside [0, n]")
	case ep.Residual != nil && (m > 1 && ep.ResidualStride < ep.residualCols(n) || len(ep.Residual) < (m-1)*ep.ResidualStride+ep.residualCols(n)):
		panic("kernel: Gemm: residual shorter than its shape")
	}
}
