// Command asmgen writes the amd64 assembly of package kernel. The kernels are
// fully unrolled over the register tile, so every row count of a GEMM tile and
// every channel-block width of the depthwise loop is its own block of code;
// generating them keeps those blocks identical in shape and easy to change.
//
// Run it from nn/kernel with `go generate`.
package main

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"strings"
)

// Epilogue mode bits, the same as the mode constants and asmAct in
// gemm_amd64.go: the activation code sits above bit 4.
const (
	modeAcc  = 1
	modeBias = 2
	modeRes  = 8
	actShift = 4
	actRelu  = 1
	actRelu6 = 2
	actPrelu = 3
	actLeaky = 4
	six      = 0x40c00000 // float32 6.0
)

type gen struct {
	bytes.Buffer
}

func (g *gen) p(format string, args ...any) {
	fmt.Fprintf(g, "\t"+format+"\n", args...)
}

func (g *gen) label(l string) { fmt.Fprintf(g, "%s:\n", l) }

// flushSubnormals saves MXCSR in the frame and sets flush-to-zero and
// denormals-are-zero for the kernel's duration (ret restores it). Products
// of small activations and weights underflow to subnormals, and an Intel
// core takes a microcode assist on every one: fr_feature ran 3.7× slower
// on a Xeon with them than without. Go code never runs with the flags set:
// they are restored before every return, and an assembly function is not
// preempted. Frames are 8 bytes for the two words; AX is free on entry.
func (g *gen) flushSubnormals() {
	g.p("STMXCSR mxcsr-4(SP)")
	g.p("MOVL mxcsr-4(SP), AX")
	g.p("ORL $0x8040, AX")
	g.p("MOVL AX, ftz-8(SP)")
	g.p("LDMXCSR ftz-8(SP)")
}

// ret restores the caller's MXCSR and returns.
func (g *gen) ret() {
	g.p("LDMXCSR mxcsr-4(SP)")
	g.p("RET")
}

// isa abstracts the register file: zmm with 32 registers or ymm with 16.
type isa struct {
	name  string // function suffix
	reg   string // "Z" or "Y"
	bytes int    // vector width in bytes
}

var (
	avx512 = isa{"512", "Z", 64}
	avx2   = isa{"256", "Y", 32}
)

func (s isa) r(i int) string { return fmt.Sprintf("%s%d", s.reg, i) }

func (s isa) zero(g *gen, r string) {
	if s.reg == "Z" {
		g.p("VPXORD %s, %s, %s", r, r, r)
	} else {
		g.p("VXORPS %s, %s, %s", r, r, r)
	}
}

// broadcast6 fills r with 6.0, through xtmp on AVX2 (no GPR broadcast there).
// VMOVQ, not MOVQ: a legacy SSE instruction among ymm ones would pay the
// SSE/AVX transition on older Intel cores.
func (s isa) broadcast6(g *gen, r, xtmp string) {
	g.p("MOVL $0x%x, AX", six)
	if s.reg == "Z" {
		g.p("VPBROADCASTD AX, %s", r)
		return
	}
	g.p("VMOVQ AX, %s", xtmp)
	g.p("VBROADCASTSS %s, %s", xtmp, r)
}

// epi describes one epilogue site: the accumulators (row-major, cols vectors
// per row), how to load a row's worth of per-column bias or slopes, and
// registers free for it (cols for those vectors plus two temporaries).
type epi struct {
	accs      []string
	cols      int
	loadBias  func(g *gen, dst []string)
	loadAlpha func(g *gen, dst []string)
	leak      string // memory operand of the scalar slope
	scratch   []string
	prefix    string // label prefix, unique per site
	// addRes, when set, adds a residual to e.accs if the mode has modeRes;
	// it may use e.scratch and AX, CX.
	addRes func(g *gen)
}

// epilogue emits bias, then the residual, then activation, over e.accs,
// steered by the mode word in BX (bias and residual bits and activation
// code, see the mode constants); it ends at the label e.prefix+"_store".
//
// MAXPS and MINPS return their second source when either is NaN, so the
// value being clamped goes second: a NaN passes through every activation,
// as it does in the portable path.
func (s isa) epilogue(g *gen, e epi) {
	vec := e.scratch[:e.cols]
	t0, t1 := e.scratch[e.cols], e.scratch[e.cols+1]
	g.p("TESTQ $%d, BX", modeBias)
	g.p("JZ %s_nobias", e.prefix)
	e.loadBias(g, vec)
	for i, a := range e.accs {
		g.p("VADDPS %s, %s, %s", vec[i%e.cols], a, a)
	}
	g.label(e.prefix + "_nobias")
	if e.addRes != nil {
		g.p("TESTQ $%d, BX", modeRes)
		g.p("JZ %s_nores", e.prefix)
		e.addRes(g)
		g.label(e.prefix + "_nores")
	}
	g.p("SHRQ $%d, BX", actShift)
	g.p("CMPQ BX, $%d", actRelu)
	g.p("JEQ %s_relu", e.prefix)
	g.p("CMPQ BX, $%d", actRelu6)
	g.p("JEQ %s_relu6", e.prefix)
	g.p("CMPQ BX, $%d", actPrelu)
	g.p("JEQ %s_prelu", e.prefix)
	g.p("CMPQ BX, $%d", actLeaky)
	g.p("JEQ %s_leaky", e.prefix)
	g.p("JMP %s_store", e.prefix)

	g.label(e.prefix + "_relu")
	s.zero(g, t0)
	for _, a := range e.accs {
		g.p("VMAXPS %s, %s, %s", a, t0, a)
	}
	g.p("JMP %s_store", e.prefix)

	g.label(e.prefix + "_relu6")
	s.zero(g, t0)
	s.broadcast6(g, t1, "X"+strings.TrimPrefix(t1, s.reg))
	for _, a := range e.accs {
		g.p("VMAXPS %s, %s, %s", a, t0, a)
		g.p("VMINPS %s, %s, %s", a, t1, a)
	}
	g.p("JMP %s_store", e.prefix)

	g.label(e.prefix + "_prelu")
	e.loadAlpha(g, vec)
	g.p("JMP %s_slope", e.prefix)

	g.label(e.prefix + "_leaky")
	g.p("VBROADCASTSS %s, %s", e.leak, vec[0])
	for _, v := range vec[1:] {
		g.p("VMOVAPS %s, %s", vec[0], v)
	}

	// v = max(v,0) + slope*min(v,0) needs no compare masks, so the AVX2
	// and AVX-512 paths share it.
	g.label(e.prefix + "_slope")
	s.zero(g, t0)
	for i, a := range e.accs {
		g.p("VMINPS %s, %s, %s", a, t0, t1)
		g.p("VMAXPS %s, %s, %s", a, t0, a)
		g.p("VFMADD231PS %s, %s, %s", vec[i%e.cols], t1, a)
	}
	g.label(e.prefix + "_store")
}

// Args of gemmTile: mr, kc int, a *float32, lda int, b, c *float32,
// ldc, mode int, bias, alpha *float32, leak float32, the columns to
// store, so edge tiles need no scratch: for AVX-512 a k-mask (bit j stores
// column j), for AVX2 nil (all) or 16 int32 lane masks for VMASKMOVPS;
// then the residual tile, its row stride in bytes and the columns that
// take it (rmask, a mask like mask: a shortcut padded on channels covers
// fewer columns); then how many runs of kc steps make up the tile's K
// (slices) and the bytes from one run's start in A to the next
// (sliceStep), so a convolution's input serves as A in place. The
// arguments from res on sit at the same offsets from res for both ISAs.
func gemmArgs(s isa) (decl, frame string, resOff int) {
	decl = "mr, kc int, a *float32, lda int, b, c *float32, ldc, mode int, bias, alpha *float32, leak float32"
	if s.reg == "Z" {
		return decl + ", mask uint32, res *float32, ldr int, rmask uint32, slices, sliceStep int", "$8-128", 88
	}
	return decl + ", mask *int32, res *float32, ldr int, rmask *int32, slices, sliceStep int", "$8-136", 96
}

// gemmTile emits C[mr×cols*vec] (+)= A·B over kc steps. A row r, step k is
// at a + r*lda + 4k (bytes); B advances 128 bytes (one 32-float panel row)
// per step.
func gemmTile(g *gen, s isa, maxRows, cols int) {
	decl, frame, resOff := gemmArgs(s)
	masked := s.reg == "Z"
	g.WriteString(fmt.Sprintf("// func gemmTile%s(%s)\n", s.name, decl))
	g.WriteString(fmt.Sprintf("TEXT ·gemmTile%s(SB), NOSPLIT, %s\n", s.name, frame))
	g.flushSubnormals()
	g.p("MOVQ mr+0(FP), AX")
	g.p("MOVQ kc+8(FP), CX")
	g.p("MOVQ a+16(FP), SI")
	g.p("MOVQ lda+24(FP), R11")
	g.p("MOVQ b+32(FP), DI")
	g.p("LEAQ (R11)(R11*2), R12")
	// R10 counts the slices left; R8 moves A from the end of one to the
	// start of the next.
	g.p("MOVQ sliceStep+%d(FP), R8", resOff+32)
	g.p("MOVQ CX, R10")
	g.p("SHLQ $2, R10")
	g.p("SUBQ R10, R8")
	g.p("MOVQ slices+%d(FP), R10", resOff+24)
	// Rows 4q..4q+3 address A from base q as (base), (base)(lda),
	// (base)(2lda), (base)(3lda).
	bases := []string{"SI", "R13", "R14", "R9"}
	for q := 1; q*4 < maxRows; q++ {
		g.p("LEAQ (%s)(R11*4), %s", bases[q-1], bases[q])
	}
	for mr := maxRows; mr >= 1; mr-- {
		g.p("CMPQ AX, $%d", mr)
		g.p("JEQ gemm%s_m%d", s.name, mr)
	}
	g.ret()
	for mr := maxRows; mr >= 1; mr-- {
		pre := fmt.Sprintf("gemm%s_m%d", s.name, mr)
		g.label(pre)
		nacc := mr * cols
		// Fewer than 4 rows leave too few accumulators to cover the FMA
		// latency, so those tiles keep split independent sums over
		// alternate k steps and add them up at the end.
		split := 1
		if mr < 4 {
			split = (4 + mr - 1) / mr
		}
		sets := make([][]string, split)
		for u := range sets {
			for i := 0; i < nacc; i++ {
				sets[u] = append(sets[u], s.r(u*nacc+i))
				s.zero(g, s.r(u*nacc+i))
			}
		}
		accs := sets[0]
		bregs := []string{}
		for j := 0; j < cols; j++ {
			bregs = append(bregs, s.r(split*nacc+j))
		}
		bc := s.r(split*nacc + cols)
		// step emits k step u of an iteration into accumulator set acc.
		step := func(u int, acc []string) {
			for j, b := range bregs {
				g.p("VMOVUPS %d(DI), %s", u*128+j*s.bytes, b)
			}
			for r := 0; r < mr; r++ {
				base := bases[r/4]
				addr := []string{"%d(%s)", "%d(%s)(R11*1)", "%d(%s)(R11*2)", "%d(%s)(R12*1)"}[r%4]
				g.p("VBROADCASTSS "+addr+", %s", 4*u, base, bc)
				for j, b := range bregs {
					g.p("VFMADD231PS %s, %s, %s", b, bc, acc[r*cols+j])
				}
			}
		}
		advance := func(steps int) {
			for q := 0; q*4 < mr; q++ {
				g.p("ADDQ $%d, %s", 4*steps, bases[q])
			}
			g.p("ADDQ $%d, DI", 128*steps)
		}
		g.label(pre + "_slice")
		if split > 1 {
			g.label(pre + "_split")
			g.p("CMPQ CX, $%d", split)
			g.p("JLT %s_rest", pre)
			for u, acc := range sets {
				step(u, acc)
			}
			advance(split)
			g.p("SUBQ $%d, CX", split)
			g.p("JMP %s_split", pre)
			g.label(pre + "_rest")
		}
		g.p("TESTQ CX, CX")
		g.p("JZ %s_endslice", pre)
		g.label(pre + "_loop")
		step(0, accs)
		advance(1)
		g.p("DECQ CX")
		g.p("JNZ %s_loop", pre)
		g.label(pre + "_endslice")
		g.p("DECQ R10")
		g.p("JLE %s_sum", pre)
		for q := 0; q*4 < mr; q++ {
			g.p("ADDQ R8, %s", bases[q])
		}
		g.p("MOVQ kc+8(FP), CX")
		g.p("JMP %s_slice", pre)
		g.label(pre + "_sum")
		for _, set := range sets[1:] {
			for i, a := range set {
				g.p("VADDPS %s, %s, %s", a, accs[i], accs[i])
			}
		}
		g.label(pre + "_done")
		g.p("MOVQ c+40(FP), DX")
		g.p("MOVQ ldc+48(FP), R8")
		g.p("MOVQ mode+56(FP), BX")
		// kmask[j] guards vector column j of the row.
		var kmask []string
		if masked {
			g.p("MOVL mask+84(FP), AX")
			g.p("KMOVW AX, K2")
			g.p("SHRL $16, AX")
			g.p("KMOVW AX, K3")
			kmask = []string{"K2", "K3"}
		}
		var scratch []string
		for i := nacc; len(scratch) < cols+2; i++ {
			scratch = append(scratch, s.r(i))
		}
		g.p("TESTQ $%d, BX", modeAcc)
		g.p("JZ %s_noacc", pre)
		g.p("MOVQ DX, AX")
		if !masked {
			// AVX2 edge tiles add C through VMASKMOVPS, which cannot
			// fault on the lanes it skips.
			g.p("MOVQ mask+88(FP), R10")
			g.p("TESTQ R10, R10")
			g.p("JZ %s_accfull", pre)
			g.p("VMOVUPS (R10), %s", scratch[2])
			g.p("VMOVUPS %d(R10), %s", s.bytes, scratch[3])
			for r := 0; r < mr; r++ {
				for j := 0; j < cols; j++ {
					a := accs[r*cols+j]
					g.p("VMASKMOVPS %d(AX), %s, %s", j*s.bytes, scratch[2+j], scratch[j])
					g.p("VADDPS %s, %s, %s", scratch[j], a, a)
				}
				if r < mr-1 {
					g.p("ADDQ R8, AX")
				}
			}
			g.p("JMP %s_noacc", pre)
			g.label(pre + "_accfull")
		}
		for r := 0; r < mr; r++ {
			for j := 0; j < cols; j++ {
				if masked {
					// Zeroing the masked-off lanes is harmless: they
					// are never stored, and the masked load cannot
					// fault past the end of C.
					g.p("VADDPS.Z %d(AX), %s, %s, %s", j*s.bytes, accs[r*cols+j], kmask[j], accs[r*cols+j])
				} else {
					g.p("VADDPS %d(AX), %s, %s", j*s.bytes, accs[r*cols+j], accs[r*cols+j])
				}
			}
			if r < mr-1 {
				g.p("ADDQ R8, AX")
			}
		}
		g.label(pre + "_noacc")
		// addRes adds the residual rows like the accumulate path above adds
		// C, through rmask: AVX2's masked loads zero the lanes they skip,
		// AVX-512 merge-masks them, so the columns without a residual keep
		// their sums.
		addRes := func(g *gen) {
			g.p("MOVQ res+%d(FP), AX", resOff)
			g.p("MOVQ ldr+%d(FP), CX", resOff+8)
			if masked {
				g.p("MOVL rmask+%d(FP), R10", resOff+16)
				g.p("KMOVW R10, K4")
				g.p("SHRL $16, R10")
				g.p("KMOVW R10, K5")
			} else {
				g.p("MOVQ rmask+%d(FP), R10", resOff+16)
				g.p("TESTQ R10, R10")
				g.p("JZ %s_resfull", pre)
				g.p("VMOVUPS (R10), %s", scratch[2])
				g.p("VMOVUPS %d(R10), %s", s.bytes, scratch[3])
				for r := 0; r < mr; r++ {
					for j := 0; j < cols; j++ {
						a := accs[r*cols+j]
						g.p("VMASKMOVPS %d(AX), %s, %s", j*s.bytes, scratch[2+j], scratch[j])
						g.p("VADDPS %s, %s, %s", scratch[j], a, a)
					}
					if r < mr-1 {
						g.p("ADDQ CX, AX")
					}
				}
				g.p("JMP %s_nores", pre)
				g.label(pre + "_resfull")
			}
			for r := 0; r < mr; r++ {
				for j := 0; j < cols; j++ {
					a := accs[r*cols+j]
					if masked {
						g.p("VADDPS %d(AX), %s, %s, %s", j*s.bytes, a, []string{"K4", "K5"}[j], a)
					} else {
						g.p("VADDPS %d(AX), %s, %s", j*s.bytes, a, a)
					}
				}
				if r < mr-1 {
					g.p("ADDQ CX, AX")
				}
			}
		}
		loadVec := func(arg string) func(g *gen, dst []string) {
			return func(g *gen, dst []string) {
				g.p("MOVQ %s, AX", arg)
				for j, d := range dst {
					g.p("VMOVUPS %d(AX), %s", j*s.bytes, d)
				}
			}
		}
		s.epilogue(g, epi{
			accs: accs, cols: cols,
			loadBias:  loadVec("bias+64(FP)"),
			loadAlpha: loadVec("alpha+72(FP)"),
			leak:      "leak+80(FP)",
			scratch:   scratch,
			prefix:    pre,
			addRes:    addRes,
		})
		if !masked {
			g.p("MOVQ mask+88(FP), R10")
			g.p("TESTQ R10, R10")
			g.p("JZ %s_storefull", pre)
			g.p("VMOVUPS (R10), %s", scratch[0])
			g.p("VMOVUPS %d(R10), %s", s.bytes, scratch[1])
			for r := 0; r < mr; r++ {
				for j := 0; j < cols; j++ {
					g.p("VMASKMOVPS %s, %s, %d(DX)", accs[r*cols+j], scratch[j], j*s.bytes)
				}
				if r < mr-1 {
					g.p("ADDQ R8, DX")
				}
			}
			g.p("VZEROUPPER")
			g.ret()
			g.label(pre + "_storefull")
		}
		for r := 0; r < mr; r++ {
			for j := 0; j < cols; j++ {
				if masked {
					g.p("VMOVUPS %s, %s, %d(DX)", accs[r*cols+j], kmask[j], j*s.bytes)
				} else {
					g.p("VMOVUPS %s, %d(DX)", accs[r*cols+j], j*s.bytes)
				}
			}
			if r < mr-1 {
				g.p("ADDQ R8, DX")
			}
		}
		g.p("VZEROUPPER")
		g.ret()
	}
	g.WriteString("\n")
}

// Offsets in dwArgs (depthwise_amd64.go; TestDwArgsLayout pins them).
const (
	dwOut     = 0
	dwIn      = 8
	dwFilter  = 16
	dwBias    = 24
	dwAlpha   = 32
	dwTaps    = 40
	dwNTaps   = 48
	dwC       = 56
	dwNPix    = 64
	dwInStep  = 72
	dwOutStep = 80
	dwMode    = 88
	dwLeak    = 96
	dwCVec    = 104
)

// depthwise emits a kernel over npix output pixels that share a tap list:
// groups of 8 and then 4 pixels (depthwiseGroup), then the rest one at a
// time, where every channel block sums in[tap]·filter[tap] over the taps and
// runs the epilogue. Blocks of 4, 2 and 1 vectors keep independent FMA
// chains in flight. The AVX2 kernel masks the last partial vector; the
// AVX-512 one takes only whole vectors (C%16 == 0, see depthwise in
// dispatch_amd64.go).
func depthwise(g *gen, s isa) {
	g.WriteString(fmt.Sprintf("// func depthwise%s(p *dwArgs)\n", s.name))
	g.WriteString(fmt.Sprintf("TEXT ·depthwise%s(SB), NOSPLIT, $8-8\n", s.name))
	g.flushSubnormals()
	lanes := s.bytes / 4
	g.p("MOVQ p+0(FP), R14")
	g.p("MOVQ %d(R14), DX", dwOut)
	g.p("MOVQ %d(R14), SI", dwIn)
	g.p("MOVQ %d(R14), DI", dwFilter)
	g.p("MOVQ %d(R14), R8", dwNPix)
	const mask = "Y15"
	blocks := []int{4, 2, 1}
	if s.reg == "Y" {
		// dwMask holds 8 ones then 8 zeros; the window at 8-rem has rem
		// leading lanes set.
		g.p("MOVQ %d(R14), CX", dwC)
		g.p("ANDQ $%d, CX", lanes-1)
		g.p("NEGQ CX")
		g.p("LEAQ dwMask<>+32(SB), BX")
		g.p("VMOVUPS (BX)(CX*4), Y15")
		blocks = append(blocks, 0) // 0: the masked partial vector
	}
	depthwiseGroup(g, s, mask, 8)
	depthwiseGroup(g, s, mask, 4)
	g.p("TESTQ R8, R8")
	g.p("JZ dw%s_end", s.name)
	g.label(fmt.Sprintf("dw%s_pix", s.name))
	g.p("XORQ R9, R9")
	g.p("MOVQ %d(R14), R10", dwC)
	for _, nv := range blocks {
		pre := fmt.Sprintf("dw%s_b%d", s.name, nv)
		width := nv * lanes
		masked := nv == 0
		if masked {
			nv = 1
		}
		g.label(pre)
		if masked {
			g.p("TESTQ R10, R10")
			g.p("JZ dw%s_next", s.name)
		} else {
			g.p("CMPQ R10, $%d", width)
			g.p("JLT %s_skip", pre)
		}
		var accs, ins []string
		for i := 0; i < nv; i++ {
			accs = append(accs, s.r(i))
			ins = append(ins, s.r(4+i))
			s.zero(g, s.r(i))
		}
		g.p("MOVQ %d(R14), R11", dwTaps)
		g.p("MOVQ %d(R14), R12", dwNTaps)
		g.p("TESTQ R12, R12")
		g.p("JZ %s_epi", pre)
		g.label(pre + "_tap")
		g.p("MOVQ 0(R11), BX")
		g.p("MOVQ 8(R11), R13")
		g.p("ADDQ SI, BX")
		g.p("ADDQ R9, BX")
		g.p("ADDQ DI, R13")
		g.p("ADDQ R9, R13")
		switch {
		case !masked:
			for i := 0; i < nv; i++ {
				g.p("VMOVUPS %d(BX), %s", i*s.bytes, ins[i])
				g.p("VFMADD231PS %d(R13), %s, %s", i*s.bytes, ins[i], accs[i])
			}
		default:
			g.p("VMASKMOVPS (BX), %s, Y4", mask)
			g.p("VMASKMOVPS (R13), %s, Y5", mask)
			g.p("VFMADD231PS Y5, Y4, Y0")
		}
		g.p("ADDQ $16, R11")
		g.p("DECQ R12")
		g.p("JNZ %s_tap", pre)
		g.label(pre + "_epi")
		loadVec := func(off int) func(g *gen, dst []string) {
			return func(g *gen, dst []string) {
				g.p("MOVQ %d(R14), R13", off)
				g.p("ADDQ R9, R13")
				for i, d := range dst {
					switch {
					case !masked:
						g.p("VMOVUPS %d(R13), %s", i*s.bytes, d)
					default:
						g.p("VMASKMOVPS (R13), %s, %s", mask, d)
					}
				}
			}
		}
		var scratch []string
		for i := 8; i < 8+nv+2; i++ {
			scratch = append(scratch, s.r(i))
		}
		g.p("MOVQ %d(R14), BX", dwMode)
		s.epilogue(g, epi{
			accs: accs, cols: nv,
			loadBias:  loadVec(dwBias),
			loadAlpha: loadVec(dwAlpha),
			leak:      fmt.Sprintf("%d(R14)", dwLeak),
			scratch:   scratch,
			prefix:    pre,
		})
		switch {
		case !masked:
			for i := 0; i < nv; i++ {
				g.p("VMOVUPS %s, %d(DX)(R9*1)", accs[i], i*s.bytes)
			}
			g.p("ADDQ $%d, R9", width*4)
			g.p("SUBQ $%d, R10", width)
			if nv == 4 {
				g.p("JMP %s", pre)
			}
		default:
			g.p("VMASKMOVPS Y0, %s, (DX)(R9*1)", mask)
		}
		if !masked {
			g.label(pre + "_skip")
		}
	}
	g.label(fmt.Sprintf("dw%s_next", s.name))
	g.p("ADDQ %d(R14), SI", dwInStep)
	g.p("ADDQ %d(R14), DX", dwOutStep)
	g.p("DECQ R8")
	g.p("JNZ dw%s_pix", s.name)
	g.label(fmt.Sprintf("dw%s_end", s.name))
	g.p("VZEROUPPER")
	g.ret()
	g.WriteString("\n")
}

// depthwiseGroup emits the loop over groups of np (4 or 8) pixels: one
// vector of channels at a time, np accumulators, so each filter load feeds
// np FMAs and np independent chains cover the FMA latency even when C is a
// single vector. It leaves the remaining pixels to the next loop. The tap
// loop is the hot one, so it runs off a -1-terminated list with its bases
// precomputed per channel block: no counter, no per-tap adds.
func depthwiseGroup(g *gen, s isa, mask string, np int) {
	pre := fmt.Sprintf("dw%s_g%d", s.name, np)
	// CX and R12 hold 1 and 3 input steps, so a tap's pixels are (AX),
	// (AX)(CX*1), (AX)(CX*2), (AX)(R12*1), then the same from BX = AX+4CX.
	g.p("MOVQ %d(R14), CX", dwInStep)
	g.p("LEAQ (CX)(CX*2), R12")
	g.label(pre)
	g.p("CMPQ R8, $%d", np)
	g.p("JLT %s_end", pre)
	g.p("XORQ R9, R9")
	var accs []string
	for i := range np {
		accs = append(accs, s.r(i))
	}
	f, tmp := s.r(8), s.r(9)
	quad := func(base, idx3 string) []string {
		return []string{"(" + base + ")", "(" + base + ")(" + "CX*1)", "(" + base + ")(CX*2)", "(" + base + ")(" + idx3 + "*1)"}
	}
	tails, afterFull := []bool{false, true}, pre+"_tail"
	if s.reg == "Z" {
		tails, afterFull = []bool{false}, pre+"_next" // whole vectors only
	}
	for _, masked := range tails {
		bp := pre + "_full"
		if masked {
			bp = pre + "_tail"
		}
		g.label(bp)
		if masked {
			g.p("MOVQ %d(R14), AX", dwC)
			g.p("SHLQ $2, AX")
			g.p("CMPQ R9, AX")
			g.p("JGE %s_next", pre)
		} else {
			g.p("CMPQ R9, %d(R14)", dwCVec)
			g.p("JGE %s", afterFull)
		}
		for _, a := range accs {
			s.zero(g, a)
		}
		g.p("LEAQ (SI)(R9*1), DI")
		g.p("MOVQ %d(R14), R10", dwFilter)
		g.p("ADDQ R9, R10")
		g.p("MOVQ %d(R14), R11", dwTaps)
		g.p("CMPQ 0(R11), $-1")
		g.p("JEQ %s_epi", bp)
		g.label(bp + "_tap")
		g.p("MOVQ 0(R11), BX")
		g.p("MOVQ 8(R11), R13")
		g.p("LEAQ (DI)(BX*1), AX")
		in := quad("AX", "R12")
		if np == 8 {
			g.p("LEAQ (AX)(CX*4), BX")
			in = append(in, quad("BX", "R12")...)
		}
		switch {
		case !masked:
			g.p("VMOVUPS (R10)(R13*1), %s", f)
			for i, a := range accs {
				g.p("VFMADD231PS %s, %s, %s", in[i], f, a)
			}
		default:
			g.p("VMASKMOVPS (R10)(R13*1), %s, %s", mask, f)
			for i, a := range accs {
				g.p("VMASKMOVPS %s, %s, %s", in[i], mask, tmp)
				g.p("VFMADD231PS %s, %s, %s", tmp, f, a)
			}
		}
		g.p("ADDQ $16, R11")
		g.p("CMPQ 0(R11), $-1")
		g.p("JNE %s_tap", bp)
		g.label(bp + "_epi")
		load := func(off int) func(g *gen, dst []string) {
			return func(g *gen, dst []string) {
				g.p("MOVQ %d(R14), R13", off)
				g.p("ADDQ R9, R13")
				switch {
				case !masked:
					g.p("VMOVUPS (R13), %s", dst[0])
				default:
					g.p("VMASKMOVPS (R13), %s, %s", mask, dst[0])
				}
			}
		}
		g.p("MOVQ %d(R14), BX", dwMode)
		s.epilogue(g, epi{
			accs: accs, cols: 1,
			loadBias:  load(dwBias),
			loadAlpha: load(dwAlpha),
			leak:      fmt.Sprintf("%d(R14)", dwLeak),
			scratch:   []string{s.r(10), s.r(11), s.r(12)},
			prefix:    bp,
		})
		// Output pixels are outStep apart: R13 = outStep, AX = 3 steps.
		g.p("MOVQ %d(R14), R13", dwOutStep)
		g.p("LEAQ (R13)(R13*2), AX")
		g.p("LEAQ (DX)(R9*1), BX")
		out := []string{"(BX)", "(BX)(R13*1)", "(BX)(R13*2)", "(BX)(AX*1)"}
		for i, a := range accs {
			if i == 4 {
				g.p("LEAQ (BX)(R13*4), BX")
			}
			o := out[i%4]
			switch {
			case !masked:
				g.p("VMOVUPS %s, %s", a, o)
			default:
				g.p("VMASKMOVPS %s, %s, %s", a, mask, o)
			}
		}
		if !masked {
			g.p("ADDQ $%d, R9", s.bytes)
			g.p("JMP %s_full", pre)
		}
	}
	g.label(pre + "_next")
	g.p("MOVQ %d(R14), AX", dwOutStep)
	for range np / 4 {
		g.p("LEAQ (SI)(CX*4), SI")
		g.p("LEAQ (DX)(AX*4), DX")
	}
	g.p("SUBQ $%d, R8", np)
	g.p("JMP %s", pre)
	g.label(pre + "_end")
	g.p("MOVQ %d(R14), DI", dwFilter)
}

// maxPool emits maxPool512/256(out, in *float32, row, npix, c, step int):
// npix output pixels of a 2×2 max pool, c channels each, stored
// contiguously; an output's window starts step bytes after the previous
// one's, its two pixels are c floats apart and its lower row is row bytes
// below. Whole vectors run first, the last partial one masked.
//
// MAXPS returns its second source when either is NaN, so each pairwise max
// puts y second and then takes x back where x is NaN: a NaN in any tap
// reaches the output, as with Go's max in the portable path.
func maxPool(g *gen, s isa) {
	g.WriteString(fmt.Sprintf("// func maxPool%s(out, in *float32, row, npix, c, step int)\n", s.name))
	g.WriteString(fmt.Sprintf("TEXT ·maxPool%s(SB), NOSPLIT, $0-48\n", s.name))
	lanes := s.bytes / 4
	pre := "pool" + s.name
	g.p("MOVQ out+0(FP), DX")
	g.p("MOVQ in+8(FP), SI")
	g.p("MOVQ row+16(FP), R8")
	g.p("MOVQ npix+24(FP), R11")
	g.p("MOVQ c+32(FP), CX")
	g.p("MOVQ step+40(FP), R10")
	// R12: bytes per pixel; R13: bytes of whole vectors; CX: the rest.
	g.p("LEAQ (CX*4), R12")
	g.p("MOVQ CX, R13")
	g.p("ANDQ $%d, R13", ^(lanes - 1))
	g.p("SHLQ $2, R13")
	g.p("ANDQ $%d, CX", lanes-1)
	const mask = "Y15"
	if s.reg == "Z" {
		g.p("MOVL $1, BX")
		g.p("SHLL CX, BX")
		g.p("DECL BX")
		g.p("KMOVW BX, K1")
	} else {
		g.p("NEGQ CX")
		g.p("LEAQ dwMask<>+32(SB), BX")
		g.p("VMOVUPS (BX)(CX*4), %s", mask)
		g.p("NEGQ CX")
	}
	g.p("TESTQ R11, R11")
	g.p("JZ %s_end", pre)
	x, y, z, w := s.r(0), s.r(1), s.r(2), s.r(3)
	t, u := s.r(4), s.r(5)
	// max2 sets x = max(x, y), NaN from either: AVX-512 skips the lanes
	// where x is NaN, AVX2 blends x back into them.
	max2 := func(x, y string) {
		if s.reg == "Z" {
			g.p("VCMPPS $7, %s, %s, K2", x, x)
			g.p("VMAXPS %s, %s, K2, %s", y, x, x)
			return
		}
		g.p("VCMPPS $3, %s, %s, %s", x, x, u)
		g.p("VMAXPS %s, %s, %s", y, x, t)
		g.p("VBLENDVPS %s, %s, %s, %s", u, x, t, x)
	}
	g.label(pre + "_pix")
	g.p("XORQ AX, AX")
	for _, masked := range []bool{false, true} {
		bp := pre + "_full"
		if masked {
			bp = pre + "_tail"
		}
		g.label(bp)
		if masked {
			g.p("TESTQ CX, CX")
			g.p("JZ %s_next", pre)
		} else {
			g.p("CMPQ AX, R13")
			g.p("JGE %s_tail", pre)
		}
		g.p("LEAQ (SI)(AX*1), BX")
		g.p("LEAQ (BX)(R8*1), R9")
		for _, ld := range []struct{ addr, dst string }{{"(BX)", x}, {"(BX)(R12*1)", y}, {"(R9)", z}, {"(R9)(R12*1)", w}} {
			switch {
			case !masked:
				g.p("VMOVUPS %s, %s", ld.addr, ld.dst)
			case s.reg == "Z":
				g.p("VMOVUPS.Z %s, K1, %s", ld.addr, ld.dst)
			default:
				g.p("VMASKMOVPS %s, %s, %s", ld.addr, mask, ld.dst)
			}
		}
		max2(x, y)
		max2(z, w)
		max2(x, z)
		switch {
		case !masked:
			g.p("VMOVUPS %s, (DX)(AX*1)", x)
			g.p("ADDQ $%d, AX", s.bytes)
			g.p("JMP %s_full", pre)
		case s.reg == "Z":
			g.p("VMOVUPS %s, K1, (DX)(AX*1)", x)
		default:
			g.p("VMASKMOVPS %s, %s, (DX)(AX*1)", x, mask)
		}
	}
	g.label(pre + "_next")
	g.p("ADDQ R10, SI")
	g.p("ADDQ R12, DX")
	g.p("DECQ R11")
	g.p("JNZ %s_pix", pre)
	g.label(pre + "_end")
	g.p("VZEROUPPER")
	g.p("RET")
	g.WriteString("\n")
}

func main() {
	var g gen
	g.WriteString("// Code generated by internal/asmgen. DO NOT EDIT.\n\n#include \"textflag.h\"\n\n")
	// AVX-512: 14 rows × 2 zmm = 28 accumulators, 2 B vectors and the A
	// broadcast fill the 32 registers. AVX2: 6 rows × 2 ymm in 16.
	gemmTile(&g, avx512, 14, 2)
	gemmTile(&g, avx2, 6, 2)
	depthwise(&g, avx512)
	depthwise(&g, avx2)
	maxPool(&g, avx512)
	maxPool(&g, avx2)
	g.WriteString("DATA dwMask<>+0(SB)/8, $-1\nDATA dwMask<>+8(SB)/8, $-1\nDATA dwMask<>+16(SB)/8, $-1\nDATA dwMask<>+24(SB)/8, $-1\n")
	g.WriteString("DATA dwMask<>+32(SB)/8, $0\nDATA dwMask<>+40(SB)/8, $0\nDATA dwMask<>+48(SB)/8, $0\nDATA dwMask<>+56(SB)/8, $0\n")
	g.WriteString("GLOBL dwMask<>(SB), RODATA|NOPTR, $64\n")
	if err := os.WriteFile("kernels_amd64.s", g.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
