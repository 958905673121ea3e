package nn

import (
	"fmt"
	"slices"

	"github.com/portrait-id/portrait/nn/kernel"
)

// infer checks every node, computes its static shape, folds constant
// subgraphs and prepares how it will run. An op the runtime lacks fails here,
// at load, with its name.
func infer(order []*node) error {
	for _, n := range order {
		if err := inferNode(n); err != nil {
			return fmt.Errorf("node %s (%s): %w", n.name, n.opName(), err)
		}
	}
	return nil
}

func inferNode(n *node) error {
	if n.err != nil {
		return n.err
	}
	f := opTable[n.op].infer
	if f == nil || n.op == opUnsupported {
		return fmt.Errorf("unsupported op %s", n.opName())
	}
	if err := f(n); err != nil {
		return err
	}
	return checkElems(n.shape)
}

func want(n *node, k int) error {
	if len(n.in) < k {
		return fmt.Errorf("%d inputs, want %d", len(n.in), k)
	}
	return nil
}

func inferBinary(n *node, kind binaryKind) error {
	if err := want(n, 2); err != nil {
		return err
	}
	a, b := n.in[0], n.in[1]
	op, err := newBinaryOp(kind, a.shape, b.shape)
	if err != nil {
		return err
	}
	n.shape = op.outShape
	if err := checkElems(n.shape); err != nil {
		return err
	}
	if a.isConst() && b.isConst() {
		n.val = make([]float32, numel(n.shape))
		op.run(a.val, b.val, n.val)
		return nil
	}
	n.inplace = true
	n.exec = func(in []int, out int) step { return &binaryStep{op, in[0], in[1], out} }
	return nil
}

func inferUnary(n *node, kind unaryKind) error {
	if err := want(n, 1); err != nil {
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

// inferAlias gives an op that only relabels its input's buffer the shape
// f computes.
func inferAlias(n *node, f func(n *node) ([]int, error)) error {
	if err := want(n, 1); err != nil {
		return err
	}
	shape, err := f(n)
	if err != nil {
		return err
	}
	n.shape = shape
	if x := n.in[0]; x.isConst() {
		n.val = x.val
	}
	return nil
}

func inferInput(n *node) error {
	n.shape = nil
	for i, v := range n.attrs.shape {
		if v < 0 {
			if i != 0 {
				return fmt.Errorf("unknown dimension %d of shape: only the batch may be unknown", i)
			}
			v = 1 // batch fixed to 1
		}
		n.shape = append(n.shape, v)
	}
	return nil
}

func inferPool(n *node) error {
	if err := want(n, 1); err != nil {
		return err
	}
	g, err := resolve4(n.attrs.win, n.in[0].shape)
	if err != nil {
		return err
	}
	op := &poolOp{g: g, avg: n.op == opAvgPool}
	n.pool = op
	n.shape = []int{1, g.OH, g.OW, g.C}
	n.exec = func(in []int, out int) step { return &poolStep{op, in[0], out} }
	return nil
}

func inferPad(n *node) error {
	if err := want(n, 2); err != nil {
		return err
	}
	if len(n.in) > 2 {
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
}

func inferReduce(n *node) error {
	if err := want(n, 2); err != nil {
		return err
	}
	axes, err := constInts(n.in[1])
	if err != nil {
		return err
	}
	op, keptDims, err := newReduceOp(n.in[0].shape, axes, n.op == opMean)
	if err != nil {
		return err
	}
	kept := keptDims.d[:keptDims.r]
	if n.attrs.keepDims {
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
}

func inferSoftmax(n *node) error {
	if err := want(n, 1); err != nil {
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

func inferTranspose(n *node) error {
	if err := want(n, 2); err != nil {
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
	return inferView(n, op)
}

func inferSlice(n *node) error {
	if err := want(n, 1); err != nil {
		return err
	}
	a := &n.attrs
	op, err := newSliceOp(n.in[0].shape, a.begin, a.end, a.step)
	if err != nil {
		return err
	}
	return inferView(n, op)
}

func inferView(n *node, op *viewOp) error {
	n.shape = op.outShape
	if x := n.in[0]; x.isConst() {
		n.val = make([]float32, numel(n.shape))
		op.run(x.val, n.val)
		return nil
	}
	n.exec = func(in []int, out int) step { return &viewStep{op, in[0], out} }
	return nil
}

func reshapeShape(n *node) ([]int, error) {
	x := n.in[0].shape
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
}

func squeezeShape(n *node) ([]int, error) {
	x, dims := n.in[0].shape, n.attrs.axes
	var s []int
	for i, d := range x {
		drop := d == 1 && (len(dims) == 0 || slices.Contains(dims, i) || slices.Contains(dims, i-len(x)))
		if !drop {
			s = append(s, d)
		}
	}
	return s, nil
}

func expandDimsShape(n *node) ([]int, error) {
	x := n.in[0].shape
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
	f := n.in[1]
	if !f.isConst() || len(f.shape) != 4 {
		return fmt.Errorf("filter must be a constant of rank 4")
	}
	win := n.attrs.win
	win.KH, win.KW = f.shape[0], f.shape[1]
	g, err := resolve4(win, n.in[0].shape)
	if err != nil {
		return err
	}
	if f.shape[2] != g.C {
		return fmt.Errorf("filter %v for %d input channels", f.shape, g.C)
	}
	spec := &convSpec{win: win, filter: f.val, mult: 1, cout: f.shape[3]}
	if n.op == opDepthwiseConv2D {
		spec.depthwise = true
		spec.mult = f.shape[3]
		spec.cout = g.C * spec.mult
	}
	if err := fusedInputs(n, spec); err != nil {
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
	if len(a.shape) != 2 || !b.isConst() || len(b.shape) != 2 {
		return fmt.Errorf("want A[M,K]·B[K,N] with a constant B, have %v·%v", a.shape, b.shape)
	}
	k, nn, w := b.shape[0], b.shape[1], b.val
	if n.attrs.transposeB {
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
	if err := fusedInputs(n, spec); err != nil {
		return err
	}
	n.conv = spec
	n.shape = []int{a.shape[0], nn}
	return nil
}

// fusedInputs reads the operands of the node's fused ops into the epilogue.
func fusedInputs(n *node, spec *convSpec) error {
	f := n.attrs.fused
	args := n.in[2:]
	if !f.bias {
		if len(args) != 0 {
			return fmt.Errorf("%d extra inputs without fused_ops", len(args))
		}
		return nil
	}
	if len(args) < 1 {
		return fmt.Errorf("BiasAdd without a bias input")
	}
	b, ok := channelConst(args[0], spec.cout)
	if !ok {
		return fmt.Errorf("bias must be a constant of %d values", spec.cout)
	}
	spec.bias = b
	spec.act, spec.leak = f.act, f.leak
	if f.act == kernel.ActPrelu {
		if len(args) < 2 {
			return fmt.Errorf("Prelu without an alpha input")
		}
		a, ok := channelConst(args[1], spec.cout)
		if !ok {
			return fmt.Errorf("prelu alpha must be a constant of %d values", spec.cout)
		}
		spec.alpha = a
	}
	return nil
}

// inferConcat joins its inputs along the axis given by the last input.
func inferConcat(n *node) error {
	if len(n.in) < 2 {
		return fmt.Errorf("%d inputs", len(n.in))
	}
	axisNode, parts := n.in[len(n.in)-1], n.in[:len(n.in)-1]
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
	if !slices.ContainsFunc(parts, func(p *node) bool { return !p.isConst() }) {
		bufs := make([][]float32, len(parts))
		ids := make([]int, len(parts))
		for i, p := range parts {
			bufs[i], ids[i] = p.val, i
		}
		n.val = make([]float32, numel(shape))
		op.run(bufs, ids, n.val)
		return nil
	}
	n.exec = func(in []int, out int) step {
		return &concatStep{op, slices.Clone(in[:len(parts)]), out}
	}
	return nil
}
