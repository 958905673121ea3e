package kernel

import "math"

func activate(v float32, ep *Epilogue, j int) float32 {
	switch ep.Act {
	case ActRelu:
		return max(v, 0)
	case ActRelu6:
		return min(max(v, 0), 6)
	case ActPrelu:
		if v < 0 {
			return v * ep.Alpha[j]
		}
	case ActElu:
		if v < 0 {
			return float32(math.Expm1(float64(v)))
		}
	case ActSigmoid:
		return float32(1 / (1 + math.Exp(-float64(v))))
	case ActLeakyRelu:
		if v < 0 {
			return v * ep.Leak
		}
	}
	return v
}
