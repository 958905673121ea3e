package nn

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/portrait-id/portrait/nn/kernel"
)

// graphJSON is the part of a TensorFlow.js graph model.json the runtime reads.
type graphJSON struct {
	Format        string `json:"format"`
	ModelTopology struct {
		Node []nodeJSON `json:"node"`
	} `json:"modelTopology"`
	WeightsManifest []manifestGroup `json:"weightsManifest"`
	Signature       *struct {
		Inputs  map[string]sigTensor `json:"inputs"`
		Outputs map[string]sigTensor `json:"outputs"`
	} `json:"signature"`
}

type sigTensor struct {
	Name        string `json:"name"`
	TensorShape *struct {
		Dim []struct {
			Size string `json:"size"`
		} `json:"dim"`
	} `json:"tensorShape"`
}

type nodeJSON struct {
	Name  string              `json:"name"`
	Op    string              `json:"op"`
	Input []string            `json:"input"`
	Attr  map[string]attrJSON `json:"attr"`
}

// attrJSON is a TensorFlow AttrValue in its proto3 JSON form: strings are
// base64 (decoded by encoding/json into []byte), int64s are strings.
type attrJSON struct {
	S    []byte  `json:"s"`
	I    string  `json:"i"`
	F    float64 `json:"f"`
	B    bool    `json:"b"`
	List *struct {
		I []string  `json:"i"`
		S [][]byte  `json:"s"`
		F []float64 `json:"f"`
	} `json:"list"`
	Shape *shapeJSON `json:"shape"`
}

type shapeJSON struct {
	Dim []struct {
		Size string `json:"size"`
	} `json:"dim"`
}

// tfOps maps TensorFlow op names to the runtime's ops.
var tfOps = map[string]op{
	"Placeholder": opInput, "Const": opConst,
	"Identity": opIdentity, "Snapshot": opIdentity, "StopGradient": opIdentity,
	"Reshape": opReshape, "Squeeze": opSqueeze, "ExpandDims": opExpandDims,
	"Add": opAdd, "AddV2": opAdd, "BiasAdd": opAdd, "Sub": opSub, "Mul": opMul,
	"RealDiv": opDiv, "Div": opDiv, "Maximum": opMax, "Minimum": opMin,
	"Prelu": opPrelu, "SquaredDifference": opSquaredDiff,
	"Relu": opRelu, "Relu6": opRelu6, "Abs": opAbs, "Square": opSquare, "Rsqrt": opRsqrt,
	"Sqrt": opSqrt, "Sigmoid": opSigmoid, "Tanh": opTanh, "Exp": opExp, "Neg": opNeg, "Elu": opElu,
	"Conv2D": opConv2D, "_FusedConv2D": opConv2D,
	"DepthwiseConv2dNative": opDepthwiseConv2D, "FusedDepthwiseConv2dNative": opDepthwiseConv2D,
	"MatMul": opMatMul, "_FusedMatMul": opMatMul,
	"MaxPool": opMaxPool, "AvgPool": opAvgPool, "Pad": opPad, "PadV2": opPad,
	"Sum": opSum, "Mean": opMean, "ConcatV2": opConcat, "Concat": opConcat,
	"Softmax": opSoftmax, "Transpose": opTranspose,
}

// tfNode translates one TensorFlow node (inputs linked later). What is
// wrong with its attributes is kept in err and reported only if the
// outputs depend on the node, as for an op the runtime lacks.
func tfNode(n *node, nj nodeJSON) {
	n.src, n.op = nj.Op, tfOps[nj.Op]
	a := tfAttrs(nj.Attr)
	var err error
	switch n.op {
	case opInput:
		n.attrs.shape, err = a.shape("shape")
	case opConv2D, opDepthwiseConv2D:
		if err = a.nhwc(); err == nil {
			n.attrs.win, err = a.window(0, 0)
		}
		if err == nil {
			n.attrs.fused, err = a.fused()
		}
	case opMatMul:
		if a["transpose_a"].B {
			err = fmt.Errorf("transpose_a is not supported")
		}
		n.attrs.transposeB = a["transpose_b"].B
		if err == nil {
			n.attrs.fused, err = a.fused()
		}
	case opMaxPool, opAvgPool:
		if err = a.nhwc(); err == nil {
			ks := a.ints("ksize")
			if len(ks) != 4 || ks[0] != 1 || ks[3] != 1 {
				err = fmt.Errorf("ksize %v: only spatial pooling is supported", ks)
			} else {
				n.attrs.win, err = a.window(ks[1], ks[2])
			}
		}
	case opSum, opMean:
		n.attrs.keepDims = a["keep_dims"].B
	case opSqueeze:
		n.attrs.axes = a.ints("squeeze_dims")
	}
	n.err = err
}

type tfAttrs map[string]attrJSON

func (a tfAttrs) ints(key string) []int {
	v, ok := a[key]
	if !ok || v.List == nil {
		return nil
	}
	out := make([]int, len(v.List.I))
	for i, s := range v.List.I {
		out[i], _ = strconv.Atoi(s)
	}
	return out
}

func (a tfAttrs) str(key string) string { return string(a[key].S) }

func (a tfAttrs) strs(key string) []string {
	v, ok := a[key]
	if !ok || v.List == nil {
		return nil
	}
	var out []string
	for _, s := range v.List.S {
		out = append(out, string(s))
	}
	return out
}

func (a tfAttrs) shape(key string) ([]int, error) {
	v, ok := a[key]
	if !ok || v.Shape == nil {
		return nil, fmt.Errorf("no shape attribute")
	}
	out := []int{}
	for _, d := range v.Shape.Dim {
		x, err := strconv.Atoi(d.Size)
		if err != nil {
			return nil, fmt.Errorf("shape dimension %q", d.Size)
		}
		out = append(out, x)
	}
	return out, nil
}

func (a tfAttrs) nhwc() error {
	if f := a.str("data_format"); f != "" && f != "NHWC" {
		return fmt.Errorf("data format %s: only NHWC is supported", f)
	}
	return nil
}

// window reads strides, dilations and padding of a window op.
func (a tfAttrs) window(kh, kw int) (Window, error) {
	w := Window{KH: kh, KW: kw, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1}
	if s := a.ints("strides"); len(s) == 4 {
		if s[0] != 1 || s[3] != 1 {
			return w, fmt.Errorf("strides %v: batch and channel strides must be 1", s)
		}
		w.StrideH, w.StrideW = s[1], s[2]
	}
	if d := a.ints("dilations"); len(d) == 4 {
		w.DilH, w.DilW = d[1], d[2]
	}
	switch p := a.str("padding"); p {
	case "SAME":
		w.Padding = PadSame
	case "VALID":
		w.Padding = PadValid
	case "EXPLICIT":
		e := a.ints("explicit_paddings")
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

// fused reads the fused_ops of _Fused* nodes.
func (a tfAttrs) fused() (fusedOps, error) {
	var f fusedOps
	ops := a.strs("fused_ops")
	if len(ops) == 0 {
		return f, nil
	}
	if ops[0] != "BiasAdd" {
		return f, fmt.Errorf("unsupported fused op %s", ops[0])
	}
	f.bias = true
	if len(ops) > 2 {
		return f, fmt.Errorf("fused ops %v", ops)
	}
	if len(ops) == 2 {
		switch ops[1] {
		case "Relu":
			f.act = kernel.ActRelu
		case "Relu6":
			f.act = kernel.ActRelu6
		case "Elu":
			f.act = kernel.ActElu
		case "Sigmoid":
			f.act = kernel.ActSigmoid
		case "LeakyRelu":
			f.act = kernel.ActLeakyRelu
			f.leak = float32(a["leakyrelu_alpha"].F)
		case "Prelu":
			f.act = kernel.ActPrelu
		default:
			return f, fmt.Errorf("unsupported fused activation %s", ops[1])
		}
	}
	return f, nil
}

// parseGraph reads model.json and its weights into nodes, and finds the
// inputs and outputs.
func parseGraph(path string) (nodes []*node, inputs, outputs []*node, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	var g graphJSON
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, nil, nil, err
	}
	if len(g.ModelTopology.Node) == 0 {
		return nil, nil, nil, fmt.Errorf("no modelTopology.node: not a TensorFlow.js graph model")
	}
	weights, err := loadWeights(filepath.Dir(path), g.WeightsManifest)
	if err != nil {
		return nil, nil, nil, err
	}
	byName := map[string]*node{}
	for _, nj := range g.ModelTopology.Node {
		n := &node{name: nj.Name}
		if _, dup := byName[n.name]; dup {
			return nil, nil, nil, fmt.Errorf("node %s defined twice", n.name)
		}
		byName[n.name] = n
		nodes = append(nodes, n)
		if nj.Op == "Const" {
			w, ok := weights[n.name]
			if !ok {
				return nil, nil, nil, fmt.Errorf("constant %s has no weight", n.name)
			}
			n.shape, n.val = w.Shape, w.Data
		}
	}
	for i, nj := range g.ModelTopology.Node {
		n := nodes[i]
		for _, in := range nj.Input {
			if strings.HasPrefix(in, "^") {
				continue // control dependency: no data flows
			}
			name, idx, _ := strings.Cut(in, ":")
			if idx != "" && idx != "0" {
				return nil, nil, nil, fmt.Errorf("node %s reads output %s of %s: multi-output ops are not supported", n.name, idx, name)
			}
			src, ok := byName[name]
			if !ok {
				return nil, nil, nil, fmt.Errorf("node %s reads unknown node %s", n.name, name)
			}
			n.in = append(n.in, src)
			src.users = append(src.users, n)
		}
	}
	if g.Signature != nil {
		// Some converters leave the shape only in the signature.
		for key, t := range g.Signature.Inputs {
			name := t.Name
			if name == "" {
				name = key
			}
			name, _, _ = strings.Cut(name, ":")
			n := byName[name]
			if n == nil || t.TensorShape == nil {
				continue
			}
			nj := &g.ModelTopology.Node[slices.Index(nodes, n)]
			if nj.Op != "Placeholder" {
				continue
			}
			if a, ok := nj.Attr["shape"]; !ok || a.Shape == nil {
				if nj.Attr == nil {
					nj.Attr = map[string]attrJSON{}
				}
				a.Shape = &shapeJSON{Dim: t.TensorShape.Dim}
				nj.Attr["shape"] = a
			}
		}
	}
	for i, nj := range g.ModelTopology.Node {
		n := nodes[i]
		tfNode(n, nj)
		switch {
		case n.op == opInput:
			inputs = append(inputs, n)
		case nj.Op == "Concat" && len(n.in) > 0:
			// The axis comes first; the runtime's Concat takes it last.
			n.in = append(n.in[1:], n.in[0])
		}
	}
	if g.Signature != nil && len(g.Signature.Outputs) > 0 {
		want := map[string]bool{}
		for key, t := range g.Signature.Outputs {
			name := t.Name
			if name == "" {
				name = key
			}
			name, _, _ = strings.Cut(name, ":")
			if byName[name] == nil {
				return nil, nil, nil, fmt.Errorf("signature output %s is not a node", name)
			}
			want[name] = true
		}
		for _, n := range nodes {
			if want[n.name] {
				outputs = append(outputs, n)
			}
		}
	} else {
		for _, n := range nodes {
			if len(n.users) == 0 && n.op != opConst && n.op != opInput {
				outputs = append(outputs, n)
			}
		}
	}
	if len(inputs) == 0 || len(outputs) == 0 {
		return nil, nil, nil, fmt.Errorf("graph has %d inputs and %d outputs", len(inputs), len(outputs))
	}
	return nodes, inputs, outputs, nil
}
