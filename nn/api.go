package nn

import (
	"fmt"
	"slices"

	"github.com/portrait-id/portrait/nn/kernel"
)

// Activation is applied after a layer's bias (see the kernel package).
type Activation = kernel.Activation

const (
	ActNone      = kernel.ActNone
	ActRelu      = kernel.ActRelu
	ActRelu6     = kernel.ActRelu6
	ActPrelu     = kernel.ActPrelu
	ActElu       = kernel.ActElu
	ActSigmoid   = kernel.ActSigmoid
	ActLeakyRelu = kernel.ActLeakyRelu
)

// Epilogue is what a layer applies to each output channel after the
// product: bias, then activation (Alpha per channel for PReLU, Leak for
// LeakyRelu).
type Epilogue struct {
	Bias  []float32
	Act   Activation
	Alpha []float32
	Leak  float32
}

func (e Epilogue) check(c int) error {
	if e.Bias != nil && len(e.Bias) != c {
		return fmt.Errorf("%d biases for %d channels", len(e.Bias), c)
	}
	if e.Act == ActPrelu && len(e.Alpha) != c {
		return fmt.Errorf("%d PReLU slopes for %d channels", len(e.Alpha), c)
	}
	return nil
}

func (e Epilogue) kernel() kernel.Epilogue {
	return kernel.Epilogue{Bias: e.Bias, Act: e.Act, Alpha: e.Alpha, Leak: e.Leak}
}

// FoldScaleShift folds a per-channel y = x·scale + shift that follows a
// convolution or dense layer into its weights (last axis = output channel)
// and bias, so the layer's epilogue does the batch norm for free. bias may
// be nil; the inputs are not modified.
func FoldScaleShift(weights *Tensor, bias, scale, shift []float32) (*Tensor, []float32, error) {
	c := 0
	if len(weights.Shape) > 0 {
		c = weights.Shape[len(weights.Shape)-1]
	}
	if c == 0 || len(scale) != c || (shift != nil && len(shift) != c) || (bias != nil && len(bias) != c) {
		return nil, nil, fmt.Errorf("fold scale: weights %v with %d scales, %d shifts, %d biases", weights.Shape, len(scale), len(shift), len(bias))
	}
	w := &Tensor{Shape: slices.Clone(weights.Shape), Data: make([]float32, len(weights.Data))}
	for i, v := range weights.Data {
		w.Data[i] = v * scale[i%c]
	}
	b := make([]float32, c)
	for j := range b {
		if bias != nil {
			b[j] = bias[j] * scale[j]
		}
		if shift != nil {
			b[j] += shift[j]
		}
	}
	return w, b, nil
}

// Conv2D is an NHWC convolution layer (batch 1) whose weights are packed
// once, for networks written in Go against the runtime.
type Conv2D struct {
	win    Window
	cin    int
	packed *kernel.PackedB
	ep     Epilogue
}

// NewConv2D prepares a convolution with filter [KH,KW,Cin,Cout]; w gives
// strides, dilations and padding (its KH and KW are taken from the filter).
func NewConv2D(filter *Tensor, w Window, ep Epilogue) (*Conv2D, error) {
	if len(filter.Shape) != 4 || numel(filter.Shape) != len(filter.Data) {
		return nil, fmt.Errorf("conv2d: filter shape %v with %d values", filter.Shape, len(filter.Data))
	}
	kh, kw, cin, cout := filter.Shape[0], filter.Shape[1], filter.Shape[2], filter.Shape[3]
	if err := ep.check(cout); err != nil {
		return nil, fmt.Errorf("conv2d: %w", err)
	}
	w.KH, w.KW = kh, kw
	return &Conv2D{win: w, cin: cin, packed: kernel.PackB(kh*kw*cin, cout, filter.Data, cout), ep: ep}, nil
}

func (c *Conv2D) op(in []int) (convOp, error) {
	g, err := resolve4(c.win, in)
	if err != nil {
		return convOp{}, fmt.Errorf("conv2d: %w", err)
	}
	if g.C != c.cin {
		return convOp{}, fmt.Errorf("conv2d: input %v for %d channels", in, c.cin)
	}
	return makeConvOp(g, c.packed, c.ep.kernel()), nil
}

// OutShape is the output shape for an input shape [1,H,W,Cin].
func (c *Conv2D) OutShape(in []int) ([]int, error) {
	op, err := c.op(in)
	if err != nil {
		return nil, err
	}
	return []int{1, op.g.OH, op.g.OW, op.cout}, nil
}

// ScratchLen is the scratch Forward needs for an input shape.
func (c *Conv2D) ScratchLen(in []int) int {
	op, err := c.op(in)
	if err != nil {
		return 0
	}
	return op.scratchLen()
}

// Forward computes dst from src; scratch of ScratchLen floats avoids an
// allocation (nil or short scratch is allocated here).
func (c *Conv2D) Forward(dst, src *Tensor, scratch []float32) error {
	op, err := c.op(src.Shape)
	if err != nil {
		return err
	}
	if err := checkOut("conv2d", dst, dims4(1, op.g.OH, op.g.OW, op.cout)); err != nil {
		return err
	}
	if len(scratch) < op.scratchLen() {
		scratch = make([]float32, op.scratchLen())
	}
	op.run(src.Data, dst.Data, scratch, nil)
	return nil
}

// DepthwiseConv2D is an NHWC depthwise convolution layer (batch 1).
type DepthwiseConv2D struct {
	win    Window
	c      int
	mult   int
	filter []float32
	ep     Epilogue
}

// NewDepthwiseConv2D prepares a depthwise convolution with filter
// [KH,KW,C,M]; output channel c·M+m is input channel c through filter m.
func NewDepthwiseConv2D(filter *Tensor, w Window, ep Epilogue) (*DepthwiseConv2D, error) {
	if len(filter.Shape) != 4 || numel(filter.Shape) != len(filter.Data) {
		return nil, fmt.Errorf("depthwise conv2d: filter shape %v with %d values", filter.Shape, len(filter.Data))
	}
	c, m := filter.Shape[2], filter.Shape[3]
	if err := ep.check(c * m); err != nil {
		return nil, fmt.Errorf("depthwise conv2d: %w", err)
	}
	w.KH, w.KW = filter.Shape[0], filter.Shape[1]
	return &DepthwiseConv2D{win: w, c: c, mult: m, filter: filter.Data, ep: ep}, nil
}

func (d *DepthwiseConv2D) op(in []int) (depthwiseOp, error) {
	g, err := resolve4(d.win, in)
	if err != nil {
		return depthwiseOp{}, fmt.Errorf("depthwise conv2d: %w", err)
	}
	if g.C != d.c {
		return depthwiseOp{}, fmt.Errorf("depthwise conv2d: input %v for %d channels", in, d.c)
	}
	return makeDepthwiseOp(g, d.filter, d.mult, d.ep.kernel()), nil
}

// OutShape is the output shape for an input shape [1,H,W,C].
func (d *DepthwiseConv2D) OutShape(in []int) ([]int, error) {
	op, err := d.op(in)
	if err != nil {
		return nil, err
	}
	return []int{1, op.p.OH, op.p.OW, op.p.C}, nil
}

// ScratchLen is the scratch Forward needs for an input shape: H·W·C·M
// floats for a channel multiplier M above 1, else none.
func (d *DepthwiseConv2D) ScratchLen(in []int) int {
	op, err := d.op(in)
	if err != nil {
		return 0
	}
	return op.scratchLen()
}

// Forward computes dst from src; scratch of ScratchLen floats avoids an
// allocation (nil or short scratch is allocated here).
func (d *DepthwiseConv2D) Forward(dst, src *Tensor, scratch []float32) error {
	op, err := d.op(src.Shape)
	if err != nil {
		return err
	}
	if err := checkOut("depthwise conv2d", dst, dims4(1, op.p.OH, op.p.OW, op.p.C)); err != nil {
		return err
	}
	if len(scratch) < op.scratchLen() {
		scratch = make([]float32, op.scratchLen())
	}
	op.run(src.Data, dst.Data, scratch)
	return nil
}

// Dense is a fully connected layer: dst[M,N] = epilogue(src[M,K]·W[K,N]).
type Dense struct {
	packed *kernel.PackedB
	ep     Epilogue
}

// NewDense prepares a fully connected layer with weights [K,N].
func NewDense(weights *Tensor, ep Epilogue) (*Dense, error) {
	if len(weights.Shape) != 2 || numel(weights.Shape) != len(weights.Data) {
		return nil, fmt.Errorf("dense: weights shape %v with %d values", weights.Shape, len(weights.Data))
	}
	k, n := weights.Shape[0], weights.Shape[1]
	if err := ep.check(n); err != nil {
		return nil, fmt.Errorf("dense: %w", err)
	}
	return &Dense{packed: kernel.PackB(k, n, weights.Data, n), ep: ep}, nil
}

// Forward computes dst [M,N] from src; src may have any shape of M·K values
// with K last (a [1,K] vector, or a [1,H,W,K] map treated as H·W rows).
func (d *Dense) Forward(dst, src *Tensor) error {
	k, n := d.packed.K, d.packed.N
	if len(src.Data)%k != 0 || len(src.Data) != numel(src.Shape) {
		return fmt.Errorf("dense: input %v for K=%d", src.Shape, k)
	}
	m := len(src.Data) / k
	if err := checkOut("dense", dst, dims{[maxRank]int{m, n}, 2}); err != nil {
		return err
	}
	kernel.Gemm(m, src.Data, k, d.packed, dst.Data, n, d.ep.kernel())
	return nil
}

// dims is a shape held by value, so that checking one allocates nothing.
type dims struct {
	d [maxRank]int
	r int
}

func dims4(a, b, c, d int) dims { return dims{[maxRank]int{a, b, c, d}, 4} }

func dimsOf(s []int) dims {
	var x dims
	x.r = copy(x.d[:], s)
	return x
}

// checkOut reports whether dst has room and the element count of shape;
// only the error path copies the shape to the heap.
func checkOut(op string, dst *Tensor, shape dims) error {
	n := numel(shape.d[:shape.r])
	if numel(dst.Shape) != n || len(dst.Data) < n {
		return fmt.Errorf("%s: output %v, want %v", op, dst.Shape, slices.Clone(shape.d[:shape.r]))
	}
	return nil
}

// PoolShape is the output shape of a pooling window over an input shape.
func PoolShape(in []int, w Window) ([]int, error) {
	g, err := resolve4(w, in)
	if err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	return []int{1, g.OH, g.OW, g.C}, nil
}

// MaxPool pools src [1,H,W,C] into dst with window w.
func MaxPool(dst, src *Tensor, w Window) error { return pool(dst, src, w, false) }

// AvgPool averages over window w; padded taps do not count, as in TF.
func AvgPool(dst, src *Tensor, w Window) error { return pool(dst, src, w, true) }

func pool(dst, src *Tensor, w Window, avg bool) error {
	g, err := resolve4(w, src.Shape)
	if err != nil {
		return fmt.Errorf("pool: %w", err)
	}
	if err := checkOut("pool", dst, dims4(1, g.OH, g.OW, g.C)); err != nil {
		return err
	}
	op := poolOp{g: g, avg: avg}
	op.run(src.Data, dst.Data)
	return nil
}

// Pad writes src into dst with zeros before and after each dimension.
func Pad(dst, src *Tensor, before, after []int) error {
	r := len(src.Shape)
	if len(before) != r || len(after) != r || r > maxRank {
		return fmt.Errorf("pad: %d/%d paddings for shape %v", len(before), len(after), src.Shape)
	}
	out := make([]int, r)
	for i, d := range src.Shape {
		if before[i] < 0 || after[i] < 0 {
			return fmt.Errorf("pad: negative padding")
		}
		out[i] = d + before[i] + after[i]
	}
	if err := checkOut("pad", dst, dimsOf(out)); err != nil {
		return err
	}
	op := padOp{inShape: src.Shape, outShape: out, before: before}
	op.run(src.Data, dst.Data[:numel(out)])
	return nil
}

// BinaryOp selects an elementwise op of two broadcast operands.
type BinaryOp uint8

const (
	OpAdd BinaryOp = BinaryOp(binAdd)
	OpSub BinaryOp = BinaryOp(binSub)
	OpMul BinaryOp = BinaryOp(binMul)
	OpDiv BinaryOp = BinaryOp(binDiv)
	OpMax BinaryOp = BinaryOp(binMax)
	OpMin BinaryOp = BinaryOp(binMin)
)

// Binary computes dst = a op b with NumPy broadcasting; dst may be a or b.
func Binary(op BinaryOp, dst, a, b *Tensor) error {
	bo, err := newBinaryOp(binaryKind(op), a.Shape, b.Shape)
	if err != nil {
		return fmt.Errorf("binary op: %w", err)
	}
	if err := checkOut("binary op", dst, dimsOf(bo.outShape)); err != nil {
		return err
	}
	bo.run(a.Data, b.Data, dst.Data[:numel(bo.outShape)])
	return nil
}

// Add computes dst = a + b with broadcasting.
func Add(dst, a, b *Tensor) error { return Binary(OpAdd, dst, a, b) }

// Mul computes dst = a · b with broadcasting.
func Mul(dst, a, b *Tensor) error { return Binary(OpMul, dst, a, b) }

// Activate applies act to every value of src into dst (dst may be src);
// alpha holds per-channel (last axis) PReLU slopes.
func Activate(dst, src *Tensor, act Activation, alpha []float32) error {
	if len(dst.Data) < len(src.Data) {
		return fmt.Errorf("activate: output of %d values for %d", len(dst.Data), len(src.Data))
	}
	c := 1
	if len(src.Shape) > 0 {
		c = src.Shape[len(src.Shape)-1]
	}
	ep := Epilogue{Act: act, Alpha: alpha}
	if err := ep.check(c); act == ActPrelu && err != nil {
		return fmt.Errorf("activate: %w", err)
	}
	out := dst.Data[:len(src.Data)]
	switch act {
	case ActNone:
		copy(out, src.Data)
	case ActRelu:
		unRelu.run(src.Data, out)
	case ActRelu6:
		unRelu6.run(src.Data, out)
	case ActSigmoid:
		unSigmoid.run(src.Data, out)
	case ActElu:
		unElu.run(src.Data, out)
	case ActPrelu, ActLeakyRelu:
		for i, v := range src.Data {
			if v < 0 {
				if act == ActPrelu {
					v *= alpha[i%c]
				} else {
					v *= ep.Leak
				}
			}
			out[i] = v
		}
	default:
		return fmt.Errorf("activate: unknown activation %d", act)
	}
	return nil
}

// ScaleShift computes dst = src·scale + shift per channel (last axis): a
// batch normalization folded for inference, or face-api's scale layer.
func ScaleShift(dst, src *Tensor, scale, shift []float32) error {
	c := src.Shape[len(src.Shape)-1]
	if len(scale) != c || (shift != nil && len(shift) != c) || len(dst.Data) < len(src.Data) {
		return fmt.Errorf("scale shift: %d scales, %d shifts for shape %v", len(scale), len(shift), src.Shape)
	}
	for i := 0; i < len(src.Data); i += c {
		x, y := src.Data[i:i+c], dst.Data[i:i+c]
		for j, s := range scale {
			v := x[j] * s
			if shift != nil {
				v += shift[j]
			}
			y[j] = v
		}
	}
	return nil
}

// Mean averages src over axes, keeping them as size 1.
func Mean(dst, src *Tensor, axes ...int) error {
	op, kept, err := newReduceOp(src.Shape, axes, true)
	if err != nil {
		return fmt.Errorf("mean: %w", err)
	}
	if err := checkOut("mean", dst, kept); err != nil {
		return err
	}
	op.run(src.Data, dst.Data[:numel(kept.d[:kept.r])])
	return nil
}

// Softmax normalizes src along its last axis into dst.
func Softmax(dst, src *Tensor) error {
	if len(src.Shape) == 0 || len(dst.Data) < len(src.Data) {
		return fmt.Errorf("softmax: shapes %v → %v", src.Shape, dst.Shape)
	}
	softmax(src.Data, dst.Data[:len(src.Data)], src.Shape[len(src.Shape)-1])
	return nil
}

// Reshape returns a tensor sharing t's data with another shape of as many
// values.
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) {
	if numel(shape) != len(t.Data) {
		return nil, fmt.Errorf("reshape %v to %v", t.Shape, shape)
	}
	return &Tensor{Shape: slices.Clone(shape), Data: t.Data}, nil
}
