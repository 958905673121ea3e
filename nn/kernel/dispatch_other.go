//go:build !amd64

package kernel

func available() []Path { return []Path{PathPortable} }

func gemm(m int, a *aView, b *PackedB, c []float32, ldc int, ep *Epilogue) {
	gemmPortable(m, a, b, c, ldc, ep)
}

func depthwise(p *DepthwiseParams, in, filter, out []float32, ep *Epilogue) {
	depthwisePortable(p, in, filter, out, ep)
}

func maxPoolRow(p *MaxPool2x2Params, in, out []float32, n int) { maxPoolPortable(p, in, out, n) }
