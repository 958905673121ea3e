package nn

// Tensor is a dense float32 tensor, row-major (NHWC for images).
type Tensor struct {
	Shape []int
	Data  []float32
}

// NewTensor allocates a zero tensor of the given shape.
func NewTensor(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int{}, shape...), Data: make([]float32, numel(shape))}
}
