package nn

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/portrait-id/portrait/nn/kernel"
)

var binaryOps = map[string]binaryKind{
	"Add": binAdd, "AddV2": binAdd, "BiasAdd": binAdd, "Sub": binSub, "Mul": binMul,
	"RealDiv": binDiv, "Div": binDiv, "Maximum": binMax, "Minimum": binMin,
	"Prelu": binPrelu, "SquaredDifference": binSquaredDiff,
}

var unaryOps = map[string]unaryKind{
	"Relu": unRelu, "Relu6": unRelu6, "Abs": unAbs, "Square": unSquare, "Rsqrt": unRsqrt,
	"Sqrt": unSqrt, "Sigmoid": unSigmoid, "Tanh": unTanh, "Exp": unExp, "Neg": unNeg, "Elu": unElu,
}

// aliasOps only relabel their input's shape; they share its buffer.
var aliasOps = map[string]bool{"Identity": true, "Reshape": true, "Squeeze": true, "ExpandDims": true, "Snapshot": true, "StopGradient": true}

// infer checks every node, computes its static shape, folds constant
// subgraphs and prepares how it will run. An op the runtime lacks fails here,
// at load, with its name.
func infer(order []*node) error {
	for _, n := range order {
		if err := inferNode(n); err != nil {
			return fmt.Errorf("node %s (%s): %w", n.name, n.op, err)
		}
	}
	return nil
}

func inferNode(n *node) error {
	want := func(k int) error {
		if len(n.in) < k {
			return fmt.Errorf("%d inputs, want %d", len(n.in), k)
		}
		return nil
	}
	if kind, ok := binaryOps[n.op]; ok {
		if err := want(2); err != nil {
			return err
		}
		a, b := n.in[0], n.in[1]
		op, err := newBinaryOp(kind, a.shape, b.shape)
		if err != nil {
			return err
		}
		n.shape = op.outShape
		if a.isConst() && b.isConst() {
			n.val = make([]float32, numel(n.shape))
			op.run(a.val, b.val, n.val)
			return nil
		}
		n.inplace = true
		n.exec = func(in []int, out int) step { return &binaryStep{op, in[0], in[1], out} }
		return nil
	}
	if kind, ok := unaryOps[n.op]; ok {
		if err := want(1); err != nil {
			return err
		}
		x := n.in[0]
		n.shape = x.shape
		if x.isConst() {
			n.val = make([]float32, len(x.val))
			kind.run(x.val, n.val)
			return nil
		}
		n.inplace = true
		n.exec = func(in []int, out int) step { return &unaryStep{kind, in[0], out} }
		return nil
	}
	if aliasOps[n.op] {
		if err := want(1); err != nil {
			return err
		}
		shape, err := aliasShape(n)
		if err != nil {
			return err
		}
		n.shape = shape
		if x := n.in[0]; x.isConst() {
			n.val = x.val
		}
		return nil
	}
	switch n.op {
	case "Const":
		return nil
	case "Placeholder":
		a, ok := n.attr["shape"]
		if !ok || a.Shape == nil {
			return fmt.Errorf("no shape attribute")
		}
		for i, d := range a.Shape.Dim {
			v, err := strconv.Atoi(d.Size)
			if err != nil {
				return fmt.Errorf("shape dimension %q", d.Size)
			}
			if v < 0 {
				if i != 0 {
					return fmt.Errorf("unknown dimension %d of shape: only the batch may be unknown", i)
				}
				v = 1 // batch fixed to 1
			}
			n.shape = append(n.shape, v)
		}
		return nil
	case "Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative":
		return inferConv(n)
	case "MatMul", "_FusedMatMul":
		return inferMatMul(n)
	case "MaxPool", "AvgPool":
		if err := want(1); err != nil {
			return err
		}
		if err := checkNHWC(n); err != nil {
			return err
		}
		ks := n.attrInts("ksize")
		if len(ks) != 4 || ks[0] != 1 || ks[3] != 1 {
			return fmt.Errorf("ksize %v: only spatial pooling is supported", ks)
		}
		win, err := windowAttrs(n, ks[1], ks[2])
		if err != nil {
			return err
		}
		g, err := resolve4(win, n.in[0].shape)
		if err != nil {
			return err
		}
		op := &poolOp{g: g, avg: n.op == "AvgPool"}
		n.pool = op
		n.shape = []int{1, g.OH, g.OW, g.C}
		n.exec = func(in []int, out int) step { return &poolStep{op, in[0], out} }
		return nil
	case "Pad", "PadV2":
		if err := want(2); err != nil {
			return err
		}
		if n.op == "PadV2" && len(n.in) > 2 {
			if v, ok := scalarConst(n.in[2]); !ok || v != 0 {
				return fmt.Errorf("only zero padding is supported")
			}
		}
		p, err := constInts(n.in[1])
		if err != nil {
			return err
		}
		x := n.in[0].shape
		if len(p) != 2*len(x) || len(x) > maxRank {
			return fmt.Errorf("paddings %v for shape %v", p, x)
		}
		op := &padOp{inShape: x, before: make([]int, len(x))}
		for i, d := range x {
			if p[2*i] < 0 || p[2*i+1] < 0 {
				return fmt.Errorf("negative paddings %v", p)
			}
			op.before[i] = p[2*i]
			op.outShape = append(op.outShape, d+p[2*i]+p[2*i+1])
		}
		n.shape = op.outShape
		n.exec = func(in []int, out int) step { return &padStep{op, in[0], out} }
		return nil
	case "Sum", "Mean":
		if err := want(2); err != nil {
			return err
		}
		axes, err := constInts(n.in[1])
		if err != nil {
			return err
		}
		op, keptDims, err := newReduceOp(n.in[0].shape, axes, n.op == "Mean")
		if err != nil {
			return err
		}
		kept := keptDims.d[:keptDims.r]
		if n.attr["keep_dims"].B {
			n.shape = slices.Clone(kept)
		} else {
			for i, d := range kept {
				if !slices.Contains(axes, i) && !slices.Contains(axes, i-len(kept)) {
					n.shape = append(n.shape, d)
				}
			}
		}
		n.exec = func(in []int, out int) step { return &reduceStep{&op, in[0], out} }
		return nil
	case "ConcatV2", "Concat":
		return inferConcat(n)
	case "Transpose":
		if err := want(2); err != nil {
			return err
		}
		perm, err := constInts(n.in[1])
		if err != nil {
			return err
		}
		op, err := newTransposeOp(n.in[0].shape, perm)
		if err != nil {
			return err
		}
		n.shape = op.outShape
		if x := n.in[0]; x.isConst() {
			n.val = make([]float32, len(x.val))
			op.run(x.val, n.val)
			return nil
		}
		n.exec = func(in []int, out int) step { return &transposeStep{op, in[0], out} }
		return nil
	case "Softmax":
		if err := want(1); err != nil {
			return err
		}
		n.shape = n.in[0].shape
		if len(n.shape) == 0 {
			return fmt.Errorf("scalar input")
		}
		c := n.shape[len(n.shape)-1]
		n.exec = func(in []int, out int) step { return &softmaxStep{c, in[0], out} }
		return nil
	}
	return fmt.Errorf("unsupported op %s", n.op)
}

func aliasShape(n *node) ([]int, error) {
	x := n.in[0].shape
	switch n.op {
	case "Reshape":
		if len(n.in) < 2 {
			return nil, fmt.Errorf("no shape input")
		}
		s, err := constInts(n.in[1])
		if err != nil {
			return nil, err
		}
		total, known, free := numel(x), 1, -1
		for i, d := range s {
			switch {
			case d == -1 && free < 0:
				free = i
			case d < 0:
				return nil, fmt.Errorf("shape %v", s)
			default:
				known *= d
			}
		}
		if free >= 0 && known > 0 {
			s[free] = total / known
			known *= s[free]
		}
		if known != total {
			return nil, fmt.Errorf("cannot reshape %v to %v", x, s)
		}
		return s, nil
	case "Squeeze":
		dims := n.attrInts("squeeze_dims")
		var s []int
		for i, d := range x {
			drop := d == 1 && (len(dims) == 0 || slices.Contains(dims, i) || slices.Contains(dims, i-len(x)))
			if !drop {
				s = append(s, d)
			}
		}
		return s, nil
	case "ExpandDims":
		if len(n.in) < 2 {
			return nil, fmt.Errorf("no axis input")
		}
		ax, err := constInts(n.in[1])
		if err != nil || len(ax) != 1 {
			return nil, fmt.Errorf("axis must be one constant")
		}
		a := ax[0]
		if a < 0 {
			a += len(x) + 1
		}
		if a < 0 || a > len(x) {
			return nil, fmt.Errorf("axis %d for rank %d", ax[0], len(x))
		}
		return slices.Insert(slices.Clone(x), a, 1), nil
	}
	return x, nil
}

func checkNHWC(n *node) error {
	if f := n.attrString("data_format"); f != "" && f != "NHWC" {
		return fmt.Errorf("data format %s: only NHWC is supported", f)
	}
	return nil
}

// windowAttrs reads strides, dilations and padding of a window op.
func windowAttrs(n *node, kh, kw int) (Window, error) {
	w := Window{KH: kh, KW: kw, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1}
	if s := n.attrInts("strides"); len(s) == 4 {
		if s[0] != 1 || s[3] != 1 {
			return w, fmt.Errorf("strides %v: batch and channel strides must be 1", s)
		}
		w.StrideH, w.StrideW = s[1], s[2]
	}
	if d := n.attrInts("dilations"); len(d) == 4 {
		w.DilH, w.DilW = d[1], d[2]
	}
	switch p := n.attrString("padding"); p {
	case "SAME":
		w.Padding = PadSame
	case "VALID":
		w.Padding = PadValid
	case "EXPLICIT":
		e := n.attrInts("explicit_paddings")
		if len(e) != 8 {
			return w, fmt.Errorf("explicit_paddings %v", e)
		}
		w.Padding = PadExplicit
		w.Top, w.Bottom, w.Left, w.Right = e[2], e[3], e[4], e[5]
	default:
		return w, fmt.Errorf("padding %q", p)
	}
	return w, nil
}

// resolve4 resolves a window against an NHWC shape with batch 1.
func resolve4(w Window, s []int) (geometry, error) {
	if len(s) != 4 || s[0] != 1 {
		return geometry{}, fmt.Errorf("input shape %v: want NHWC with batch 1", s)
	}
	return w.resolve(s[1], s[2], s[3])
}

func inferConv(n *node) error {
	if len(n.in) < 2 {
		return fmt.Errorf("%d inputs", len(n.in))
	}
	if err := checkNHWC(n); err != nil {
		return err
	}
	f := n.in[1]
	if !f.isConst() || len(f.shape) != 4 {
		return fmt.Errorf("filter must be a constant of rank 4")
	}
	win, err := windowAttrs(n, f.shape[0], f.shape[1])
	if err != nil {
		return err
	}
	g, err := resolve4(win, n.in[0].shape)
	if err != nil {
		return err
	}
	if f.shape[2] != g.C {
		return fmt.Errorf("filter %v for %d input channels", f.shape, g.C)
	}
	spec := &convSpec{win: win, filter: f.val, mult: 1, cout: f.shape[3]}
	if n.op == "DepthwiseConv2dNative" || n.op == "FusedDepthwiseConv2dNative" {
		spec.depthwise = true
		spec.mult = f.shape[3]
		spec.cout = g.C * spec.mult
	}
	if err := fusedAttrs(n, spec); err != nil {
		return err
	}
	n.conv = spec
	n.shape = []int{1, g.OH, g.OW, spec.cout}
	return nil
}

func inferMatMul(n *node) error {
	if len(n.in) < 2 {
		return fmt.Errorf("%d inputs", len(n.in))
	}
	a, b := n.in[0], n.in[1]
	if n.attr["transpose_a"].B {
		return fmt.Errorf("transpose_a is not supported")
	}
	if len(a.shape) != 2 || !b.isConst() || len(b.shape) != 2 {
		return fmt.Errorf("want A[M,K]·B[K,N] with a constant B, have %v·%v", a.shape, b.shape)
	}
	k, nn, w := b.shape[0], b.shape[1], b.val
	if n.attr["transpose_b"].B {
		k, nn = nn, k
		w = make([]float32, len(b.val))
		for i := range k {
			for j := range nn {
				w[i*nn+j] = b.val[j*k+i]
			}
		}
	}
	if a.shape[1] != k {
		return fmt.Errorf("A %v does not match B with K=%d", a.shape, k)
	}
	spec := &convSpec{win: Window{KH: 1, KW: 1}, matmul: true, mult: 1, cout: nn, filter: w}
	if err := fusedAttrs(n, spec); err != nil {
		return err
	}
	n.conv = spec
	n.shape = []int{a.shape[0], nn}
	return nil
}

// fusedAttrs reads the fused_ops of _Fused* nodes into the epilogue.
func fusedAttrs(n *node, spec *convSpec) error {
	ops := n.attrStrings("fused_ops")
	args := n.in[2:]
	if len(ops) == 0 {
		if len(args) != 0 {
			return fmt.Errorf("%d extra inputs without fused_ops", len(args))
		}
		return nil
	}
	switch ops[0] {
	case "BiasAdd":
		if len(args) < 1 {
			return fmt.Errorf("BiasAdd without a bias input")
		}
		b, ok := channelConst(args[0], spec.cout)
		if !ok {
			return fmt.Errorf("bias must be a constant of %d values", spec.cout)
		}
		spec.bias = b
	default:
		return fmt.Errorf("unsupported fused op %s", ops[0])
	}
	if len(ops) > 2 {
		return fmt.Errorf("fused ops %v", ops)
	}
	if len(ops) == 2 {
		switch ops[1] {
		case "Relu":
			spec.act = kernel.ActRelu
		case "Relu6":
			spec.act = kernel.ActRelu6
		case "Elu":
			spec.act = kernel.ActElu
		case "Sigmoid":
			spec.act = kernel.ActSigmoid
		case "LeakyRelu":
			spec.act = kernel.ActLeakyRelu
			spec.leak = float32(n.attr["leakyrelu_alpha"].F)
		case "Prelu":
			if len(args) < 2 {
				return fmt.Errorf("Prelu without an alpha input")
			}
			a, ok := channelConst(args[1], spec.cout)
			if !ok {
				return fmt.Errorf("prelu alpha must be a constant of %d values", spec.cout)
			}
			spec.act, spec.alpha = kernel.ActPrelu, a
		default:
			return fmt.Errorf("unsupported fused activation %s", ops[1])
		}
	}
	return nil
}

// inferConcat joins its inputs along an axis given by the last input
// (ConcatV2) or the first (Concat).
func inferConcat(n *node) error {
	if len(n.in) < 2 {
		return fmt.Errorf("%d inputs", len(n.in))
	}
	axisNode, parts := n.in[len(n.in)-1], n.in[:len(n.in)-1]
	if n.op == "Concat" {
		axisNode, parts = n.in[0], n.in[1:]
	}
	ax, err := constInts(axisNode)
	if err != nil || len(ax) != 1 {
		return fmt.Errorf("axis must be one constant")
	}
	r := len(parts[0].shape)
	a := ax[0]
	if a < 0 {
		a += r
	}
	if a < 0 || a >= r {
		return fmt.Errorf("axis %d for rank %d", ax[0], r)
	}
	shape := slices.Clone(parts[0].shape)
	shape[a] = 0
	op := &concatOp{outer: numel(shape[:a])}
	for _, p := range parts {
		if len(p.shape) != r {
			return fmt.Errorf("concat of ranks %d and %d", r, len(p.shape))
		}
		for i, d := range p.shape {
			if i != a && d != shape[i] {
				return fmt.Errorf("concat of shapes %v and %v on axis %d", parts[0].shape, p.shape, a)
			}
		}
		shape[a] += p.shape[a]
		op.chunks = append(op.chunks, numel(p.shape[a:]))
	}
	n.shape = shape
	if len(n.in) > len(parts)+1 {
		return fmt.Errorf("%d inputs for %d parts", len(n.in), len(parts))
	}
	n.exec = func(in []int, out int) step {
		ids := slices.Clone(in[:len(parts)])
		if n.op == "Concat" {
			ids = slices.Clone(in[1:])
		}
		return &concatStep{op, ids, out}
	}
	return nil
}
