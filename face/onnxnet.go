package face

import "github.com/portrait-id/portrait/nn"

// openONNXNet loads an ONNX descriptor taking a size×size crop (fed NHWC
// by the runtime) with a [1 dim] output (dim 0: its only [1 N] output).
func openONNXNet(path string, size, dim int) (*graphNet, error) {
	m, err := nn.LoadONNX(path)
	if err != nil {
		return nil, err
	}
	return newGraphNet(path, m, size, dim)
}
