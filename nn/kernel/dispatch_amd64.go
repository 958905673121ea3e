package kernel

import (
	"slices"

	"golang.org/x/sys/cpu"
)

//go:generate go run ./internal/asmgen

// Every instruction of the AVX-512 kernels is in AVX512F (integer xor and
// broadcast rather than the DQ float forms, 16-bit k-masks); x/sys/cpu
// reports it only when the OS also saves the zmm and mask state.
var (
	hasAVX512 = cpu.X86.HasAVX512F
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

var paths = func() []Path {
	var p []Path
	if hasAVX512 {
		p = append(p, PathAVX512)
	}
	if hasAVX2 {
		p = append(p, PathAVX2)
	}
	return append(p, PathPortable)
}()

func available() []Path { return slices.Clone(paths) }

func gemm(m int, a *aView, b *PackedB, c []float32, ldc int, ep *Epilogue) {
	switch current {
	case PathAVX512:
		gemmSIMD(m, a, b, c, ldc, ep, &shape512)
	case PathAVX2:
		gemmSIMD(m, a, b, c, ldc, ep, &shape256)
	default:
		gemmPortable(m, a, b, c, ldc, ep)
	}
}

func depthwise(p *DepthwiseParams, in, filter, out []float32, ep *Epilogue) {
	switch current {
	case PathAVX512:
		// Pixels of C%16 != 0 channels leave most zmm loads straddling
		// two cache lines; the ymm kernel's split less, and measured
		// faster for every such C tried (17 to 88: C=24, 3×3 over
		// 128×128, 108 µs against 134).
		depthwiseSIMD(p, in, filter, out, ep, p.C%16 == 0)
	case PathAVX2:
		depthwiseSIMD(p, in, filter, out, ep, false)
	default:
		depthwisePortable(p, in, filter, out, ep)
	}
}

func maxPoolRow(p *MaxPool2x2Params, in, out []float32, n int) {
	switch current {
	case PathAVX512:
		maxPoolSIMD(p, in, out, n, true)
	case PathAVX2:
		maxPoolSIMD(p, in, out, n, false)
	default:
		maxPoolPortable(p, in, out, n)
	}
}
