package nn

import (
	"fmt"
	"slices"

	"github.com/portrait-id/portrait/nn/kernel"
)

// The runtime's own graph: every front end (TF.js in graph.go, ONNX in
// onnx.go) translates its file into nodes of these ops with typed
// attributes, and the shape inference, fusion and execution below are
// shared.

// op is what a node computes.
type op uint8

const (
	opUnsupported op = iota // a source op the runtime lacks: inference fails naming it
	opInput
	opConst
	opIdentity
	opReshape // to the shape in in[1]
	opSqueeze
	opExpandDims // at the axis in in[1]
	opAdd
	opSub
	opMul
	opDiv
	opMax
	opMin
	opPrelu // in[1] holds the slopes
	opSquaredDiff
	opRelu
	opRelu6
	opAbs
	opSquare
	opRsqrt
	opSqrt
	opSigmoid
	opTanh
	opExp
	opNeg
	opElu
	opConv2D          // in[1] filter [KH,KW,Cin,Cout], then the fused operands
	opDepthwiseConv2D // in[1] filter [KH,KW,C,M], then the fused operands
	opMatMul          // in[1] constant B [K,N], then the fused operands
	opMaxPool
	opAvgPool
	opPad // in[1] paddings [rank,2], in[2] an optional zero constant value
	opSum // over the axes in in[1]
	opMean
	opConcat // along the axis in the last input
	opSoftmax
	opTranspose // by the permutation in in[1]
	opSlice
	opCount
)

// attrs are a node's typed attributes; each op reads the fields named for
// it.
type attrs struct {
	win        Window   // Conv2D, DepthwiseConv2D (KH, KW from the filter), MaxPool, AvgPool
	fused      fusedOps // Conv2D, DepthwiseConv2D, MatMul
	transposeB bool     // MatMul: in[1] is [N,K]
	keepDims   bool     // Sum, Mean
	axes       []int    // Squeeze: the dimensions to drop (nil: all of size 1)
	shape      []int    // Input, -1 for an unknown batch
	// Slice: elements begin, begin+step, … below end on each axis.
	begin, end, step []int
}

// fusedOps is an epilogue a front end already fused into a convolution or
// matrix product: its operands follow the node's two main inputs.
type fusedOps struct {
	bias bool              // the next input is a per-channel bias
	act  kernel.Activation // then this activation; ActPrelu's slopes are the input after the bias
	leak float32           // ActLeakyRelu
}

// opInfo is everything the runtime knows of one op, in one place: how it
// infers its shape (folding constants and preparing its step), whether it
// only relabels its input's buffer, and how a convolution before it
// absorbs it into its epilogue (absorb), or after a residual add
// (absorbPost).
type opInfo struct {
	name       string
	infer      func(n *node) error
	alias      bool
	absorb     func(conv, u, operand *node, outputs []*node) bool
	absorbPost func(conv, u, operand *node, outputs []*node) bool
}

func (o op) String() string {
	if o < opCount {
		return opTable[o].name
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// opTable is filled in init: its infer and absorb functions reach back
// into it through String.
var opTable [opCount]opInfo

func init() {
	bin := func(name string, k binaryKind) opInfo {
		return opInfo{name: name, infer: func(n *node) error { return inferBinary(n, k) }}
	}
	un := func(name string, k unaryKind) opInfo {
		return opInfo{name: name, infer: func(n *node) error { return inferUnary(n, k) }}
	}
	act := func(info opInfo, a kernel.Activation) opInfo {
		info.absorb = absorbAct(a)
		info.absorbPost = absorbPostAct(a)
		return info
	}
	alias := func(name string, f func(n *node) ([]int, error)) opInfo {
		return opInfo{name: name, alias: true, infer: func(n *node) error { return inferAlias(n, f) }}
	}
	t := &opTable
	t[opUnsupported] = opInfo{name: "unsupported"}
	t[opInput] = opInfo{name: "Input", infer: inferInput}
	t[opConst] = opInfo{name: "Const", infer: func(*node) error { return nil }}
	t[opIdentity] = alias("Identity", func(n *node) ([]int, error) { return n.in[0].shape, nil })
	t[opReshape] = alias("Reshape", reshapeShape)
	t[opSqueeze] = alias("Squeeze", squeezeShape)
	t[opExpandDims] = alias("ExpandDims", expandDimsShape)
	t[opAdd] = bin("Add", binAdd)
	t[opAdd].absorb = absorbAdd
	t[opSub] = bin("Sub", binSub)
	t[opSub].absorb = absorbSub
	t[opMul] = bin("Mul", binMul)
	t[opMul].absorb = absorbMul
	t[opDiv] = bin("Div", binDiv)
	t[opMax] = bin("Maximum", binMax)
	t[opMax].absorb = absorbMax
	t[opMin] = bin("Minimum", binMin)
	t[opMin].absorb = absorbMin
	t[opPrelu] = bin("Prelu", binPrelu)
	t[opPrelu].absorb, t[opPrelu].absorbPost = absorbPrelu, absorbPostPrelu
	t[opSquaredDiff] = bin("SquaredDifference", binSquaredDiff)
	t[opRelu] = act(un("Relu", unRelu), kernel.ActRelu)
	t[opRelu6] = act(un("Relu6", unRelu6), kernel.ActRelu6)
	t[opAbs] = un("Abs", unAbs)
	t[opSquare] = un("Square", unSquare)
	t[opRsqrt] = un("Rsqrt", unRsqrt)
	t[opSqrt] = un("Sqrt", unSqrt)
	t[opSigmoid] = un("Sigmoid", unSigmoid)
	t[opSigmoid].absorb = absorbAct(kernel.ActSigmoid)
	t[opTanh] = un("Tanh", unTanh)
	t[opExp] = un("Exp", unExp)
	t[opNeg] = un("Neg", unNeg)
	t[opElu] = un("Elu", unElu)
	t[opElu].absorb = absorbAct(kernel.ActElu)
	t[opConv2D] = opInfo{name: "Conv2D", infer: inferConv}
	t[opDepthwiseConv2D] = opInfo{name: "DepthwiseConv2D", infer: inferConv}
	t[opMatMul] = opInfo{name: "MatMul", infer: inferMatMul}
	t[opMaxPool] = opInfo{name: "MaxPool", infer: inferPool}
	t[opAvgPool] = opInfo{name: "AvgPool", infer: inferPool}
	t[opPad] = opInfo{name: "Pad", infer: inferPad}
	t[opSum] = opInfo{name: "Sum", infer: inferReduce}
	t[opMean] = opInfo{name: "Mean", infer: inferReduce}
	t[opConcat] = opInfo{name: "Concat", infer: inferConcat}
	t[opSoftmax] = opInfo{name: "Softmax", infer: inferSoftmax}
	t[opTranspose] = opInfo{name: "Transpose", infer: inferTranspose}
	t[opSlice] = opInfo{name: "Slice", infer: inferSlice}
}

// node is one operation of the graph while it is checked, fused and planned.
type node struct {
	name  string
	op    op
	src   string // the front end's name of the op, for messages
	attrs attrs
	err   error // what the front end found wrong with the node, reported if it is used
	in    []*node
	users []*node

	shape   []int
	val     []float32 // the value of a constant (Const or folded)
	conv    *convSpec // Conv2D, depthwise and MatMul, whose epilogue absorbs later ops
	pool    *poolOp   // MaxPool and AvgPool, which a residual add may absorb
	exec    func(in []int, out int) step
	inplace bool // output element i depends only on input element i of equal-size inputs
}

func (n *node) isConst() bool { return n.val != nil }

// maxElems bounds every tensor a model may declare or compute (512 MiB of
// float32), far above any face model, so that a hostile file fails to load
// instead of exhausting memory; maxNodes bounds the graph for the same
// reason (the planner is quadratic in buffers).
const (
	maxElems = 1 << 27
	maxNodes = 1 << 16
)

// checkElems reports a shape of more than maxElems elements (or a negative
// dimension) without overflowing.
func checkElems(shape []int) error {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("shape %v", shape)
		}
		if d > 0 && n > maxElems/d {
			return fmt.Errorf("shape %v: more than %d elements", shape, maxElems)
		}
		n *= d
	}
	return nil
}

// opName is the op as the model file names it.
func (n *node) opName() string {
	if n.src != "" {
		return n.src
	}
	return n.op.String()
}

// convSpec is a convolution or matrix product and the elementwise ops fused
// after it.
type convSpec struct {
	win       Window
	depthwise bool
	matmul    bool // A[M,K]·B: run as a 1×1 convolution over M pixels
	mult      int
	cout      int
	filter    []float32 // [KH·KW·Cin, Cout]; depthwise [KH·KW·C·M]
	owned     bool      // filter is a private copy that fusion may scale
	bias      []float32
	act       kernel.Activation
	alpha     []float32
	leak      float32
	// res is added after the epilogue, then post applied (with postAlpha).
	// pre is a depthwise convolution run band by band before this 1×1 one.
	pre       *convSpec
	res       *node
	resC      int     // channels of res: fewer than cout when it was zero-padded
	resPool   *poolOp // res is the input of this 2×2 max pool, pooled on the fly
	post      kernel.Activation
	postAlpha []float32
}

// topoOrder lists the nodes the outputs depend on, each after its inputs.
func topoOrder(outputs []*node) ([]*node, error) {
	state := map[*node]uint8{} // 1 visiting, 2 done
	var order []*node
	var visit func(n *node) error
	visit = func(n *node) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("cycle through node %s", n.name)
		case 2:
			return nil
		}
		state[n] = 1
		for _, in := range n.in {
			if err := visit(in); err != nil {
				return err
			}
		}
		state[n] = 2
		order = append(order, n)
		return nil
	}
	for _, o := range outputs {
		if err := visit(o); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// relink recomputes users over the live nodes only, so fusion sees the real
// consumers after a rewrite left nodes dead.
func relink(order []*node) {
	for _, n := range order {
		n.users = n.users[:0]
	}
	for _, n := range order {
		for _, in := range n.in {
			in.users = append(in.users, n)
		}
	}
}

func constInts(n *node) ([]int, error) {
	if !n.isConst() {
		return nil, fmt.Errorf("%s must be a constant", n.name)
	}
	out := make([]int, len(n.val))
	for i, v := range n.val {
		out[i] = int(v)
	}
	return out, nil
}

// scalarConst reports the value of a constant with one element.
func scalarConst(n *node) (float32, bool) {
	if n.isConst() && len(n.val) == 1 {
		return n.val[0], true
	}
	return 0, false
}

// channelConst returns the per-channel values of a constant that broadcasts
// along the last axis of a tensor with c channels (a scalar is repeated).
func channelConst(n *node, c int) ([]float32, bool) {
	if !n.isConst() {
		return nil, false
	}
	if len(n.val) == 1 {
		return slices.Repeat(n.val, c), true
	}
	if len(n.val) != c || (len(n.shape) > 0 && n.shape[len(n.shape)-1] != c) {
		return nil, false
	}
	return n.val, true
}
