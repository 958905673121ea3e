package kernel

import "golang.org/x/sys/cpu"

//go:generate go run ./internal/asmgen

// The AVX-512 kernels use EVEX forms of F and DQ instructions (VPXORD,
// VPBROADCASTD from a GPR, masked moves); the OS must also save zmm state,
// which x/sys/cpu folds into HasAVX512F.
var (
	hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

func available() []Path {
	switch {
	case hasAVX512:
		return []Path{PathAVX512, PathAVX2, PathPortable}
	case hasAVX2:
		return []Path{PathAVX2, PathPortable}
	}
	return []Path{PathPortable}
}

func gemm(m int, a []float32, lda int, b *PackedB, c []float32, ldc int, ep *Epilogue) {
	switch current {
	case PathAVX512:
		gemmSIMD(m, a, lda, b, c, ldc, ep, &shape512)
	case PathAVX2:
		gemmSIMD(m, a, lda, b, c, ldc, ep, &shape256)
	default:
		gemmPortable(m, a, lda, b, c, ldc, ep)
	}
}

func depthwise(p *DepthwiseParams, in, filter, out []float32, ep *Epilogue) {
	switch current {
	case PathAVX512:
		depthwiseSIMD(p, in, filter, out, ep, true)
	case PathAVX2:
		depthwiseSIMD(p, in, filter, out, ep, false)
	default:
		depthwisePortable(p, in, filter, out, ep)
	}
}
