package nn

import (
	"fmt"
	"math"
	"slices"
)

// onnxOps translates each ONNX operator into runtime nodes. Constant
// subgraphs (the Shape → Gather → Concat chains exporters write for
// reshapes) fold here, as every shape is static.
var onnxOps map[string]func(b *onnxBuilder, n *onnxNode, name string) error

func init() {
	onnxOps = map[string]func(b *onnxBuilder, n *onnxNode, name string) error{
		"Constant": (*onnxBuilder).constantNode,
		"Identity": (*onnxBuilder).identity, "Dropout": (*onnxBuilder).identity,
		"Conv": (*onnxBuilder).conv,
		"Add":  (*onnxBuilder).binary, "Sub": (*onnxBuilder).binary, "Mul": (*onnxBuilder).binary,
		"Div": (*onnxBuilder).binary, "Max": (*onnxBuilder).binary, "Min": (*onnxBuilder).binary,
		"PRelu":   (*onnxBuilder).binary,
		"Clip":    (*onnxBuilder).clip,
		"Reshape": (*onnxBuilder).reshape, "Flatten": (*onnxBuilder).reshape,
		"Shape": (*onnxBuilder).shapeOp, "Cast": (*onnxBuilder).cast, "Gather": (*onnxBuilder).gather,
		"Unsqueeze": (*onnxBuilder).unsqueeze, "Squeeze": (*onnxBuilder).squeeze,
		"Concat": (*onnxBuilder).concat, "Slice": (*onnxBuilder).slice, "Split": (*onnxBuilder).split,
		"Transpose": (*onnxBuilder).transpose, "Softmax": (*onnxBuilder).softmax,
		"GlobalAveragePool": (*onnxBuilder).reduce, "ReduceMean": (*onnxBuilder).reduce, "ReduceSum": (*onnxBuilder).reduce,
		"MaxPool": (*onnxBuilder).pool, "AveragePool": (*onnxBuilder).pool,
		"Gemm": (*onnxBuilder).gemm, "MatMul": (*onnxBuilder).gemm,
		"BatchNormalization": (*onnxBuilder).batchNorm, "Pad": (*onnxBuilder).pad,
	}
	for k := range onnxUnary {
		onnxOps[k] = (*onnxBuilder).unary
	}
}

func (b *onnxBuilder) identity(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	return b.set(n, x)
}

func (b *onnxBuilder) unary(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	if n.op == "Elu" && n.attrFloat("alpha", 1) != 1 {
		return fmt.Errorf("alpha %g: only 1 is supported", n.attrFloat("alpha", 1))
	}
	y, err := b.add(name, onnxUnary[n.op], attrs{}, x.n)
	if err != nil {
		return err
	}
	return b.set(n, onnxValue{n: y, shape: x.shape, nhwc: x.nhwc})
}

func (b *onnxBuilder) constantNode(n *onnxNode, name string) error {
	for _, a := range n.attrs {
		switch a.name {
		case "value":
			if a.t == nil {
				return fmt.Errorf("value without a tensor")
			}
			return b.set(n, b.constant(name, a.t.dims, a.t.data))
		case "value_float":
			return b.set(n, b.constant(name, nil, []float32{a.f}))
		case "value_floats":
			return b.set(n, b.constant(name, []int{len(a.floats)}, a.floats))
		case "value_int":
			return b.set(n, b.constant(name, nil, []float32{int64ToFloat(a.i)}))
		case "value_ints":
			v := make([]float32, len(a.ints))
			for i, x := range a.ints {
				v[i] = int64ToFloat(x)
			}
			return b.set(n, b.constant(name, []int{len(v)}, v))
		}
	}
	return fmt.Errorf("no supported value attribute")
}

// conv lowers Conv: group 1 to a convolution, group = channels to a
// depthwise one, other groups to a convolution with a block-diagonal filter.
func (b *onnxBuilder) conv(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	w, err := b.needConst(n, 1)
	if err != nil {
		return err
	}
	xin, err := b.toNHWC(name, x)
	if err != nil {
		return err
	}
	if len(w.shape) != 4 {
		return fmt.Errorf("weights of shape %v: only 2-D convolutions are supported", w.shape)
	}
	cout, cg, kh, kw := w.shape[0], w.shape[1], w.shape[2], w.shape[3]
	c := x.shape[1]
	group := int(n.attrInt("group", 1))
	if group < 1 || c%group != 0 || cout%group != 0 || cg != c/group {
		return fmt.Errorf("group %d with %d input channels and weights %v", group, c, w.shape)
	}
	if ks, ok := n.attrInts("kernel_shape"); ok && !slices.Equal(ks, []int{kh, kw}) {
		return fmt.Errorf("kernel_shape %v for weights %v", ks, w.shape)
	}
	win, err := onnxWindow(n)
	if err != nil {
		return err
	}
	a := attrs{win: win}
	var filter onnxValue
	o := opConv2D
	src := w.n.val
	if group == c && group > 1 {
		// Depthwise: [C·M,1,KH,KW] → [KH,KW,C,M]; output channel c·M+m is
		// the same index on both sides.
		o = opDepthwiseConv2D
		f := make([]float32, len(src))
		for o := range cout {
			for k := range kh * kw {
				f[k*cout+o] = src[o*kh*kw+k]
			}
		}
		filter = b.constant(b.tmp(name, "filter"), []int{kh, kw, c, cout / c}, f)
	} else {
		// [Cout,Cin/g,KH,KW] → [KH,KW,Cin,Cout], zero outside each group's block.
		if err := checkElems([]int{kh, kw, c, cout}); err != nil {
			return fmt.Errorf("filter: %w", err)
		}
		f := make([]float32, kh*kw*c*cout)
		og := cout / group
		for o := range cout {
			g := o / og
			for ci := range cg {
				for k := range kh * kw {
					f[(k*c+g*cg+ci)*cout+o] = src[((o*cg)+ci)*kh*kw+k]
				}
			}
		}
		filter = b.constant(b.tmp(name, "filter"), []int{kh, kw, c, cout}, f)
	}
	ins := []*node{xin, filter.n}
	if bias, ok, err := b.in(n, 2); err != nil {
		return err
	} else if ok {
		if !bias.isConst() || len(bias.n.val) != cout {
			return fmt.Errorf("bias must be a constant of %d values", cout)
		}
		a.fused.bias = true
		ins = append(ins, bias.n)
	}
	y, err := b.add(name, o, a, ins...)
	if err != nil {
		return err
	}
	s := y.shape
	return b.set(n, onnxValue{n: y, shape: []int{s[0], s[3], s[1], s[2]}, nhwc: true})
}

// onnxWindow reads a window op's strides, dilations and pads.
func onnxWindow(n *onnxNode) (Window, error) {
	st, ok := n.attrInts("strides")
	if !ok {
		st = []int{1, 1}
	}
	dl, ok := n.attrInts("dilations")
	if !ok {
		dl = []int{1, 1}
	}
	if len(st) != 2 || len(dl) != 2 {
		return Window{}, fmt.Errorf("strides %v, dilations %v: only 2-D windows are supported", st, dl)
	}
	w := Window{StrideH: st[0], StrideW: st[1], DilH: dl[0], DilW: dl[1]}
	switch ap := string(attrBytes(n, "auto_pad")); ap {
	case "", "NOTSET":
		p, ok := n.attrInts("pads")
		if !ok {
			p = []int{0, 0, 0, 0}
		}
		if len(p) != 4 {
			return w, fmt.Errorf("pads %v", p)
		}
		// ONNX: [top, left, bottom, right].
		w.Padding, w.Top, w.Left, w.Bottom, w.Right = PadExplicit, p[0], p[1], p[2], p[3]
	case "VALID":
		w.Padding = PadValid
	case "SAME_UPPER":
		w.Padding = PadSame
	default:
		return w, fmt.Errorf("auto_pad %s is not supported", ap)
	}
	if w.StrideH < 1 || w.StrideW < 1 || w.DilH < 1 || w.DilW < 1 {
		return w, fmt.Errorf("strides %v, dilations %v", st, dl)
	}
	return w, nil
}

func attrBytes(n *onnxNode, name string) []byte {
	if a := n.attr(name); a != nil {
		return a.s
	}
	return nil
}

var onnxUnary = map[string]op{"Relu": opRelu, "Sigmoid": opSigmoid, "Tanh": opTanh, "Exp": opExp, "Abs": opAbs, "Neg": opNeg, "Sqrt": opSqrt, "Elu": opElu}

var onnxBinary = map[string]op{"Add": opAdd, "Sub": opSub, "Mul": opMul, "Div": opDiv, "Max": opMax, "Min": opMin, "PRelu": opPrelu}

// binary lowers a broadcasting elementwise op. When an operand is stored
// NHWC, constants are laid out to broadcast the same way and other
// operands must be NHWC too.
func (b *onnxBuilder) binary(n *onnxNode, name string) error {
	if len(n.inputs) != 2 {
		return fmt.Errorf("%d inputs, want 2", len(n.inputs))
	}
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	y, err := b.need(n, 1)
	if err != nil {
		return err
	}
	v, err := b.binaryOf(name, onnxBinary[n.op], x, y)
	if err != nil {
		return err
	}
	return b.set(n, v)
}

func (b *onnxBuilder) binaryOf(name string, o op, x, y onnxValue) (onnxValue, error) {
	shape, err := broadcastShape(x.shape, y.shape)
	if err != nil {
		return onnxValue{}, err
	}
	nhwc := (x.nhwc || y.nhwc) && len(shape) == 4
	args := []onnxValue{x, y}
	for _, a := range args {
		if !a.nhwc && !a.isConst() && len(a.shape) != 4 {
			// A lower-rank runtime operand broadcasts along the logical
			// axes: compute in the logical layout.
			nhwc = false
		}
	}
	ins := make([]*node, 2)
	for i, a := range args {
		switch {
		case nhwc == a.nhwc:
			ins[i] = a.n
		case !nhwc:
			ins[i], err = b.plain(name, a)
		case a.isConst():
			ins[i], err = b.nhwcConst(name, a)
		default:
			ins[i], err = b.toNHWC(name, a)
		}
		if err != nil {
			return onnxValue{}, err
		}
	}
	out, err := b.add(name, o, attrs{}, ins...)
	return onnxValue{n: out, shape: shape, nhwc: nhwc}, err
}

// clip lowers Clip to the activation it is (ReLU, ReLU6) or to a max and a
// min with its bounds.
func (b *onnxBuilder) clip(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
	if b.opset < 11 {
		lo, hi = n.attrFloat("min", lo), n.attrFloat("max", hi)
	} else {
		for i, p := range []*float32{&lo, &hi} {
			v, ok, err := b.in(n, i+1)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if !v.isConst() || len(v.n.val) != 1 {
				return fmt.Errorf("bound %s must be a scalar constant", n.inputs[i+1])
			}
			*p = v.n.val[0]
		}
	}
	out := onnxValue{n: x.n, shape: x.shape, nhwc: x.nhwc}
	switch {
	case lo == 0 && hi == 6:
		out.n, err = b.add(name, opRelu6, attrs{}, x.n)
	case lo == 0 && math.IsInf(float64(hi), 1):
		out.n, err = b.add(name, opRelu, attrs{}, x.n)
	default:
		if !math.IsInf(float64(lo), -1) {
			if out.n, err = b.add(b.tmp(name, "max"), opMax, attrs{}, out.n, &node{name: b.tmp(name, "lo"), op: opConst, val: []float32{lo}}); err != nil {
				return err
			}
		}
		if !math.IsInf(float64(hi), 1) {
			out.n, err = b.add(name, opMin, attrs{}, out.n, &node{name: b.tmp(name, "hi"), op: opConst, val: []float32{hi}})
		}
	}
	if err != nil {
		return err
	}
	return b.set(n, out)
}

// reshape lowers Reshape and Flatten, which read the logical (NCHW) order.
func (b *onnxBuilder) reshape(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	var target []int
	if n.op == "Flatten" {
		axis := int(n.attrInt("axis", 1))
		if axis < 0 {
			axis += len(x.shape)
		}
		if axis < 0 || axis > len(x.shape) {
			return fmt.Errorf("axis %d for rank %d", axis, len(x.shape))
		}
		target = []int{numel(x.shape[:axis]), numel(x.shape[axis:])}
	} else {
		s, err := b.needConst(n, 1)
		if err != nil {
			return err
		}
		allowZero := n.attrInt("allowzero", 0) == 1
		target = make([]int, len(s.n.val))
		for i, v := range s.n.val {
			target[i] = int(v)
			if v == 0 && !allowZero {
				if i >= len(x.shape) {
					return fmt.Errorf("shape %v copies dimension %d of %v", s.n.val, i, x.shape)
				}
				target[i] = x.shape[i]
			}
		}
	}
	return b.setLogical(n, name, x, opReshape, target)
}

// axisOf normalises an axis of a rank-r tensor.
func axisOf(a, r int) (int, error) {
	if a < 0 {
		a += r
	}
	if a < 0 || a >= r {
		return 0, fmt.Errorf("axis %d for rank %d", a, r)
	}
	return a, nil
}

// storedAxis is where logical axis a of v lives in its buffer.
func storedAxis(v onnxValue, a int) int {
	if v.nhwc {
		return slices.Index(nchwToNHWC, a)
	}
	return a
}

// intsArg reads a list of integers from attribute name (older opsets) or,
// when absent, from constant input i (newer ones); ok false when neither
// is there.
func (b *onnxBuilder) intsArg(n *onnxNode, name string, i int) ([]int, bool, error) {
	if v, ok := n.attrInts(name); ok {
		return v, true, nil
	}
	v, ok, err := b.in(n, i)
	if err != nil || !ok {
		return nil, false, err
	}
	if !v.isConst() {
		return nil, false, fmt.Errorf("%s must be a constant", n.inputs[i])
	}
	out, err := constInts(v.n)
	return out, true, err
}

func (b *onnxBuilder) shapeOp(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	r := len(x.shape)
	lo, hi := int(n.attrInt("start", 0)), int(n.attrInt("end", int64(r)))
	lo, hi = clampIndex(lo, r), clampIndex(hi, r)
	s := x.shape[lo:max(hi, lo)]
	return b.set(n, b.constant(name, []int{len(s)}, intsConst(name, s).val))
}

// clampIndex resolves a negative index and clamps it to [0, d].
func clampIndex(i, d int) int {
	if i < 0 {
		i += d
	}
	return min(max(i, 0), d)
}

func (b *onnxBuilder) cast(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	to := n.attrInt("to", onnxFloat)
	if !x.isConst() {
		if to != onnxFloat {
			return fmt.Errorf("cast to type %d: only constants or float32 are supported", to)
		}
		return b.set(n, x)
	}
	v := slices.Clone(x.n.val)
	switch to {
	case onnxFloat, onnxDouble, onnxFloat16:
	case onnxBool:
		for i, f := range v {
			v[i] = float32(b2f(f != 0))
		}
	default: // integer types truncate
		for i, f := range v {
			v[i] = float32(math.Trunc(float64(f)))
		}
	}
	return b.set(n, b.constant(name, x.shape, v))
}

func b2f(b bool) int {
	if b {
		return 1
	}
	return 0
}

// gather folds Gather over constants: every exporter's shape arithmetic.
func (b *onnxBuilder) gather(n *onnxNode, name string) error {
	x, err := b.needConst(n, 0)
	if err != nil {
		return err
	}
	idx, err := b.needConst(n, 1)
	if err != nil {
		return err
	}
	axis, err := axisOf(int(n.attrInt("axis", 0)), len(x.shape))
	if err != nil {
		return err
	}
	d := x.shape[axis]
	outer, inner := numel(x.shape[:axis]), numel(x.shape[axis+1:])
	shape := slices.Concat(x.shape[:axis], idx.shape, x.shape[axis+1:])
	if err := checkElems(shape); err != nil {
		return err
	}
	var out []float32
	for o := range outer {
		for _, f := range idx.n.val {
			i := int(f)
			if i < 0 {
				i += d
			}
			if i < 0 || i >= d {
				return fmt.Errorf("index %d out of %d", int(f), d)
			}
			out = append(out, x.n.val[(o*d+i)*inner:(o*d+i+1)*inner]...)
		}
	}
	return b.set(n, b.constant(name, shape, out))
}

// unsqueeze and squeeze only relabel the logical shape.
func (b *onnxBuilder) unsqueeze(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	axes, ok, err := b.intsArg(n, "axes", 1)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no axes")
	}
	r := len(x.shape) + len(axes)
	shape := make([]int, r)
	for _, a := range axes {
		if a, err = axisOf(a, r); err != nil {
			return err
		}
		if shape[a] != 0 {
			return fmt.Errorf("axes %v", axes)
		}
		shape[a] = 1
	}
	j := 0
	for i := range shape {
		if shape[i] == 0 {
			shape[i] = x.shape[j]
			j++
		}
	}
	return b.relabel(n, name, x, shape)
}

func (b *onnxBuilder) squeeze(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	axes, _, err := b.intsArg(n, "axes", 1)
	if err != nil {
		return err
	}
	drop := make([]bool, len(x.shape))
	for _, a := range axes {
		if a, err = axisOf(a, len(x.shape)); err != nil {
			return err
		}
		if x.shape[a] != 1 {
			return fmt.Errorf("squeeze of axis %d of shape %v", a, x.shape)
		}
		drop[a] = true
	}
	var shape []int
	for i, d := range x.shape {
		if !drop[i] && (len(axes) > 0 || d != 1) {
			shape = append(shape, d)
		}
	}
	return b.relabel(n, name, x, shape)
}

// relabel gives x another logical shape of the same values in the same
// (logical) order.
func (b *onnxBuilder) relabel(n *onnxNode, name string, x onnxValue, shape []int) error {
	if x.isConst() {
		return b.set(n, b.constant(name, shape, x.n.val))
	}
	return b.setLogical(n, name, x, opReshape, shape)
}

// setLogical defines n's output as o of x in x's logical layout, o's second
// input the constant p (a shape or a permutation).
func (b *onnxBuilder) setLogical(n *onnxNode, name string, x onnxValue, o op, p []int) error {
	src, err := b.plain(name, x)
	if err != nil {
		return err
	}
	y, err := b.add(name, o, attrs{}, src, intsConst(b.tmp(name, "arg"), p))
	if err != nil {
		return err
	}
	return b.set(n, onnxValue{n: y, shape: y.shape})
}

func (b *onnxBuilder) concat(n *onnxNode, name string) error {
	if len(n.inputs) == 0 {
		return fmt.Errorf("no inputs")
	}
	var vals []onnxValue
	for i := range n.inputs {
		v, err := b.need(n, i)
		if err != nil {
			return err
		}
		if numel(v.shape) > 0 || len(vals) == 0 {
			vals = append(vals, v)
		}
	}
	r := len(vals[0].shape)
	axis, err := axisOf(int(n.attrInt("axis", 0)), r)
	if err != nil {
		return err
	}
	// NHWC when every runtime operand is; constants follow suit.
	nhwc := r == 4
	anyNHWC := false
	for _, v := range vals {
		nhwc = nhwc && (v.nhwc || v.isConst())
		anyNHWC = anyNHWC || v.nhwc
	}
	nhwc = nhwc && anyNHWC
	ins := make([]*node, len(vals))
	for i, v := range vals {
		switch {
		case nhwc && v.isConst():
			ins[i], err = b.nhwcConst(name, v)
		case nhwc:
			ins[i] = v.n
		default:
			ins[i], err = b.plain(name, v)
		}
		if err != nil {
			return err
		}
	}
	out := onnxValue{shape: slices.Clone(vals[0].shape), nhwc: nhwc}
	ax := axis
	if nhwc {
		ax = storedAxis(out, axis)
	}
	y, err := b.add(name, opConcat, attrs{}, append(ins, intsConst(b.tmp(name, "axis"), []int{ax}))...)
	if err != nil {
		return err
	}
	out.n = y
	out.shape[axis] = 0
	for _, v := range vals {
		out.shape[axis] += v.shape[axis]
	}
	return b.set(n, out)
}

// sliceOf takes begin[d]:end[d]:step[d] of every logical axis d of x.
func (b *onnxBuilder) sliceOf(name string, x onnxValue, begin, end, step []int) (onnxValue, error) {
	src := x.n
	if x.nhwc {
		begin, end, step = permute(begin, nchwToNHWC), permute(end, nchwToNHWC), permute(step, nchwToNHWC)
	}
	y, err := b.add(name, opSlice, attrs{begin: begin, end: end, step: step}, src)
	if err != nil {
		return onnxValue{}, err
	}
	shape := y.shape
	if x.nhwc {
		shape = permute(shape, nhwcToNCHW)
	}
	return onnxValue{n: y, shape: shape, nhwc: x.nhwc}, nil
}

// fullSlice is begin 0, end the dimension and step 1 on every axis.
func fullSlice(shape []int) (begin, end, step []int) {
	return make([]int, len(shape)), slices.Clone(shape), slices.Repeat([]int{1}, len(shape))
}

func (b *onnxBuilder) slice(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	starts, ok1, err := b.intsArg(n, "starts", 1)
	if err != nil {
		return err
	}
	ends, ok2, err := b.intsArg(n, "ends", 2)
	if err != nil {
		return err
	}
	if !ok1 || !ok2 || len(starts) != len(ends) {
		return fmt.Errorf("starts %v, ends %v", starts, ends)
	}
	axes, ok, err := b.intsArg(n, "axes", 3)
	if err != nil {
		return err
	}
	if !ok {
		axes = make([]int, len(starts))
		for i := range axes {
			axes[i] = i
		}
	}
	steps, ok, err := b.intsArg(n, "steps", 4)
	if err != nil {
		return err
	}
	if !ok {
		steps = slices.Repeat([]int{1}, len(starts))
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return fmt.Errorf("axes %v, steps %v for %d starts", axes, steps, len(starts))
	}
	begin, end, step := fullSlice(x.shape)
	for i, a := range axes {
		if a, err = axisOf(a, len(x.shape)); err != nil {
			return err
		}
		if steps[i] < 1 {
			return fmt.Errorf("step %d: only positive steps are supported", steps[i])
		}
		d := x.shape[a]
		begin[a], end[a], step[a] = clampIndex(starts[i], d), clampIndex(ends[i], d), steps[i]
		end[a] = max(end[a], begin[a])
	}
	v, err := b.sliceOf(name, x, begin, end, step)
	if err != nil {
		return err
	}
	return b.set(n, v)
}

func (b *onnxBuilder) split(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	axis, err := axisOf(int(n.attrInt("axis", 0)), len(x.shape))
	if err != nil {
		return err
	}
	d := x.shape[axis]
	parts, ok, err := b.intsArg(n, "split", 1)
	if err != nil {
		return err
	}
	if !ok {
		k := len(n.outputs)
		if no := n.attrInt("num_outputs", 0); no > 0 {
			k = int(no)
		}
		if k < 1 {
			return fmt.Errorf("no outputs")
		}
		for i := range k {
			parts = append(parts, ceilDiv(d, k)*(i+1)-ceilDiv(d, k)*i)
		}
		parts[k-1] = d - ceilDiv(d, k)*(k-1)
	}
	if len(parts) != len(n.outputs) {
		return fmt.Errorf("%d parts for %d outputs", len(parts), len(n.outputs))
	}
	at := 0
	for i, p := range parts {
		begin, end, step := fullSlice(x.shape)
		begin[axis], end[axis] = at, at+p
		at += p
		if p < 0 || at > d {
			return fmt.Errorf("split %v of %d", parts, d)
		}
		v, err := b.sliceOf(n.outputs[i], x, begin, end, step)
		if err != nil {
			return err
		}
		b.vals[n.outputs[i]] = v
	}
	return nil
}

func (b *onnxBuilder) transpose(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	perm, ok := n.attrInts("perm")
	if !ok {
		for i := len(x.shape) - 1; i >= 0; i-- {
			perm = append(perm, i)
		}
	}
	op, err := newTransposeOp(x.shape, perm)
	if err != nil {
		return err
	}
	shape := op.outShape
	if x.nhwc && slices.Equal(perm, nchwToNHWC) {
		// The buffer already holds the transposed order.
		return b.set(n, onnxValue{n: x.n, shape: shape})
	}
	return b.setLogical(n, name, x, opTranspose, perm)
}

func (b *onnxBuilder) softmax(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	def := int64(-1)
	if b.opset < 13 {
		def = 1 // softmax over the flattened axes from here on
	}
	axis, err := axisOf(int(n.attrInt("axis", def)), len(x.shape))
	if err != nil {
		return err
	}
	src := x
	switch {
	case x.nhwc && axis == 1 && b.opset >= 13:
		// channels are innermost in the buffer
	case axis == len(x.shape)-1:
		if src.n, err = b.plain(name, x); err != nil {
			return err
		}
		src.nhwc = false
	default:
		return fmt.Errorf("softmax over axis %d of rank %d: only the innermost axis is supported", axis, len(x.shape))
	}
	y, err := b.add(name, opSoftmax, attrs{}, src.n)
	if err != nil {
		return err
	}
	src.n = y
	return b.set(n, src)
}

// reduce lowers GlobalAveragePool, ReduceMean and ReduceSum.
func (b *onnxBuilder) reduce(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	o, keep := opMean, n.attrInt("keepdims", 1) == 1
	var axes []int
	switch n.op {
	case "GlobalAveragePool":
		if len(x.shape) != 4 {
			return fmt.Errorf("input of shape %v: want rank 4", x.shape)
		}
		axes, keep = []int{2, 3}, true
	default:
		if n.op == "ReduceSum" {
			o = opSum
		}
		var ok bool
		if axes, ok, err = b.intsArg(n, "axes", 1); err != nil {
			return err
		}
		if !ok || len(axes) == 0 {
			if n.attrInt("noop_with_empty_axes", 0) == 1 {
				return b.set(n, x)
			}
			axes = make([]int, len(x.shape))
			for i := range axes {
				axes[i] = i
			}
		}
	}
	red := make([]bool, len(x.shape))
	for _, a := range axes {
		if a, err = axisOf(a, len(x.shape)); err != nil {
			return err
		}
		red[a] = true
	}
	// In NHWC the kept axes keep their logical order when the output keeps
	// the reduced axes, or when both spatial ones go.
	src := x
	if x.nhwc && !keep && !(red[2] && red[3]) {
		if src.n, err = b.plain(name, x); err != nil {
			return err
		}
		src.nhwc = false
	}
	var stored []int
	var shape []int
	for a, r := range red {
		if r {
			stored = append(stored, storedAxis(src, a))
		}
		switch {
		case !r:
			shape = append(shape, x.shape[a])
		case keep:
			shape = append(shape, 1)
		}
	}
	y, err := b.add(name, o, attrs{keepDims: keep}, src.n, intsConst(b.tmp(name, "axes"), stored))
	if err != nil {
		return err
	}
	return b.set(n, onnxValue{n: y, shape: shape, nhwc: src.nhwc && keep})
}

func (b *onnxBuilder) pool(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	xin, err := b.toNHWC(name, x)
	if err != nil {
		return err
	}
	ks, ok := n.attrInts("kernel_shape")
	if !ok || len(ks) != 2 {
		return fmt.Errorf("kernel_shape %v: only 2-D pools are supported", ks)
	}
	w, err := onnxWindow(n)
	if err != nil {
		return err
	}
	w.KH, w.KW = ks[0], ks[1]
	o := opMaxPool
	if n.op == "AveragePool" {
		o = opAvgPool
		if n.attrInt("count_include_pad", 0) == 1 && w.Padding != PadValid && (w.Padding == PadSame || w.Top+w.Left+w.Bottom+w.Right > 0) {
			return fmt.Errorf("count_include_pad with padding is not supported")
		}
	}
	if n.attrInt("ceil_mode", 0) == 1 {
		if w.Padding != PadExplicit {
			return fmt.Errorf("ceil_mode with auto_pad is not supported")
		}
		// Pad the end so that the floor of the window count is its ceiling;
		// padded taps count for neither max nor average.
		h, wd := x.shape[2], x.shape[3]
		eh, ew := (w.KH-1)*max(w.DilH, 1)+1, (w.KW-1)*max(w.DilW, 1)+1
		w.Bottom += ceilPad(h+w.Top+w.Bottom, eh, w.StrideH)
		w.Right += ceilPad(wd+w.Left+w.Right, ew, w.StrideW)
	}
	y, err := b.add(name, o, attrs{win: w}, xin)
	if err != nil {
		return err
	}
	s := y.shape
	return b.set(n, onnxValue{n: y, shape: []int{s[0], s[3], s[1], s[2]}, nhwc: true})
}

// ceilPad is the padding that makes floor((n-k)/s)+1 windows equal
// ceil((n-k)/s)+1, without a window that starts in the padding.
func ceilPad(n, k, s int) int {
	if n < k || (n-k)%s == 0 {
		return 0
	}
	return s - (n-k)%s
}

// gemm lowers Gemm and MatMul with a constant right-hand side.
func (b *onnxBuilder) gemm(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	w, err := b.needConst(n, 1)
	if err != nil {
		return err
	}
	if n.attrInt("transA", 0) == 1 {
		return fmt.Errorf("transA is not supported")
	}
	if len(x.shape) != 2 || len(w.shape) != 2 {
		return fmt.Errorf("A %v · B %v: only matrices are supported", x.shape, w.shape)
	}
	k, nn := w.shape[0], w.shape[1]
	bt := w.n.val
	if n.attrInt("transB", 0) == 1 {
		nn, k = k, nn
		op, _ := newTransposeOp(w.shape, []int{1, 0})
		bt = make([]float32, len(w.n.val))
		op.run(w.n.val, bt)
	}
	if alpha := n.attrFloat("alpha", 1); alpha != 1 {
		bt = slices.Clone(bt)
		for i := range bt {
			bt[i] *= alpha
		}
	}
	a := attrs{}
	ins := []*node{x.n, b.constant(b.tmp(name, "B"), []int{k, nn}, bt).n}
	if c, ok, err := b.in(n, 2); err != nil {
		return err
	} else if ok && n.op == "Gemm" {
		if !c.isConst() || nn == 0 || (len(c.n.val) != nn && len(c.n.val) != 1) {
			return fmt.Errorf("C must be a constant of %d values", nn)
		}
		bias := slices.Repeat(c.n.val, nn/len(c.n.val))
		if beta := n.attrFloat("beta", 1); beta != 1 {
			for i := range bias {
				bias[i] *= beta
			}
		}
		a.fused.bias = true
		ins = append(ins, b.constant(b.tmp(name, "C"), []int{nn}, bias).n)
	}
	y, err := b.add(name, opMatMul, a, ins...)
	if err != nil {
		return err
	}
	return b.set(n, onnxValue{n: y, shape: y.shape})
}

// batchNorm folds inference batch normalisation into a per-channel scale
// and shift, which the convolution before it absorbs.
func (b *onnxBuilder) batchNorm(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	if len(x.shape) < 2 {
		return fmt.Errorf("input of shape %v", x.shape)
	}
	c := x.shape[1]
	var p [4][]float32 // scale, bias, mean, var
	for i := range p {
		v, err := b.needConst(n, i+1)
		if err != nil {
			return err
		}
		if len(v.n.val) != c {
			return fmt.Errorf("%s has %d values for %d channels", n.inputs[i+1], len(v.n.val), c)
		}
		p[i] = v.n.val
	}
	eps := float64(n.attrFloat("epsilon", 1e-5))
	scale, shift := make([]float32, c), make([]float32, c)
	for j := range c {
		s := float64(p[0][j]) / math.Sqrt(float64(p[3][j])+eps)
		scale[j] = float32(s)
		shift[j] = float32(float64(p[1][j]) - float64(p[2][j])*s)
	}
	// Shaped [C,1,…] to broadcast along axis 1.
	cs := append([]int{c}, slices.Repeat([]int{1}, len(x.shape)-2)...)
	y, err := b.binaryOf(b.tmp(name, "scale"), opMul, x, b.constant(b.tmp(name, "s"), cs, scale))
	if err != nil {
		return err
	}
	if y, err = b.binaryOf(name, opAdd, y, b.constant(b.tmp(name, "t"), cs, shift)); err != nil {
		return err
	}
	return b.set(n, y)
}

// pad lowers constant zero padding.
func (b *onnxBuilder) pad(n *onnxNode, name string) error {
	x, err := b.need(n, 0)
	if err != nil {
		return err
	}
	if m := string(attrBytes(n, "mode")); m != "" && m != "constant" {
		return fmt.Errorf("mode %s: only constant padding is supported", m)
	}
	pads, ok, err := b.intsArg(n, "pads", 1)
	if err != nil {
		return err
	}
	r := len(x.shape)
	if !ok || len(pads) != 2*r {
		return fmt.Errorf("pads %v for rank %d", pads, r)
	}
	if v, ok, err := b.in(n, 2); err != nil {
		return err
	} else if ok && (!v.isConst() || len(v.n.val) != 1 || v.n.val[0] != 0) || n.attrFloat("value", 0) != 0 {
		return fmt.Errorf("only zero padding is supported")
	}
	if _, ok, _ := b.in(n, 3); ok {
		return fmt.Errorf("axes are not supported")
	}
	// ONNX lists all the starts, then all the ends; the runtime pairs them.
	shape := slices.Clone(x.shape)
	paired := make([]int, 2*r)
	for d := range r {
		sd := storedAxis(x, d)
		paired[2*sd], paired[2*sd+1] = pads[d], pads[r+d]
		shape[d] += pads[d] + pads[r+d]
	}
	y, err := b.add(name, opPad, attrs{}, x.n, intsConst(b.tmp(name, "pads"), paired))
	if err != nil {
		return err
	}
	return b.set(n, onnxValue{n: y, shape: shape, nhwc: x.nhwc})
}
