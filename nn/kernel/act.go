package kernel

import "math"

// applyRow runs the epilogue over dst, whose first element is output column
// (or channel) j0, with res the residual of its first len(res) elements.
// One loop per activation keeps the per-element switch out of the portable
// kernels' inner loops.
func applyRow(dst []float32, j0 int, res []float32, ep *Epilogue) {
	if ep.Bias != nil {
		for j, b := range ep.Bias[j0 : j0+len(dst)] {
			dst[j] += b
		}
	}
	for j, r := range res {
		dst[j] += r
	}
	activateRow(dst, j0, ep)
}

// activateRow applies only the activation, for values that already carry
// their bias.
func activateRow(dst []float32, j0 int, ep *Epilogue) {
	switch ep.Act {
	case ActRelu:
		for j, v := range dst {
			dst[j] = max(v, 0)
		}
	case ActRelu6:
		for j, v := range dst {
			dst[j] = min(max(v, 0), 6)
		}
	case ActPrelu:
		for j, a := range ep.Alpha[j0 : j0+len(dst)] {
			if dst[j] < 0 {
				dst[j] *= a
			}
		}
	case ActElu:
		for j, v := range dst {
			if v < 0 {
				dst[j] = float32(math.Expm1(float64(v)))
			}
		}
	case ActSigmoid:
		for j, v := range dst {
			dst[j] = float32(1 / (1 + math.Exp(-float64(v))))
		}
	case ActLeakyRelu:
		for j, v := range dst {
			if v < 0 {
				dst[j] = v * ep.Leak
			}
		}
	}
}
