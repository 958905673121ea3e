package nn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The part of onnx.proto the runtime reads, decoded with protowire: only the
// fields below, so unknown or future fields are skipped, and every length
// and element count is checked against the bytes actually present before
// anything is allocated — a hostile file cannot make the parser allocate
// more than a small multiple of its own size.

type onnxModel struct {
	irVersion int64
	opset     int64 // of the default ("" or "ai.onnx") domain
	graph     onnxGraph
}

type onnxGraph struct {
	nodes   []onnxNode
	inits   []onnxTensor
	inputs  []onnxValueInfo
	outputs []onnxValueInfo
}

type onnxNode struct {
	name, op, domain string
	inputs, outputs  []string
	attrs            []onnxAttr
}

type onnxAttr struct {
	name   string
	typ    int64 // AttributeProto.AttributeType
	f      float32
	i      int64
	s      []byte
	t      *onnxTensor
	floats []float32
	ints   []int64
}

type onnxTensor struct {
	name  string
	dims  []int
	dtype int64
	data  []float32 // converted from any supported element type
}

type onnxValueInfo struct {
	name  string
	dtype int64
	dims  []int // -1 for a symbolic or unknown dimension
}

// ONNX TensorProto.DataType values the runtime converts to float32.
const (
	onnxFloat   = 1
	onnxUint8   = 2
	onnxInt8    = 3
	onnxInt32   = 6
	onnxInt64   = 7
	onnxBool    = 9
	onnxFloat16 = 10
	onnxDouble  = 11
)

// AttributeProto.AttributeType values.
const (
	attrFloat   = 1
	attrInt     = 2
	attrString  = 3
	attrTensor  = 4
	attrFloats  = 6
	attrInts    = 7
	attrStrings = 8
)

// onnxMaxRank bounds tensor rank in the file, far above any real model's.
const onnxMaxRank = 8

var errTruncated = errors.New("truncated protobuf")

// fields walks the fields of one message, calling f with each field's number,
// wire type and the bytes of its value (the varint or fixed value for scalar
// types, the payload for length-delimited ones).
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errTruncated
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return errTruncated
		}
		v := b[:m]
		if typ == protowire.BytesType {
			p, k := protowire.ConsumeBytes(b)
			if k < 0 {
				return errTruncated
			}
			v = p
		}
		if err := f(num, typ, v); err != nil {
			return err
		}
		b = b[m:]
	}
	return nil
}

func varint(typ protowire.Type, v []byte) (int64, error) {
	if typ != protowire.VarintType {
		return 0, fmt.Errorf("wire type %d for an integer", typ)
	}
	x, n := protowire.ConsumeVarint(v)
	if n < 0 {
		return 0, errTruncated
	}
	return int64(x), nil
}

// ints appends a repeated int64 field, packed or not.
func ints(dst []int64, typ protowire.Type, v []byte) ([]int64, error) {
	if typ == protowire.VarintType {
		x, err := varint(typ, v)
		return append(dst, x), err
	}
	if typ != protowire.BytesType {
		return nil, fmt.Errorf("wire type %d for integers", typ)
	}
	for len(v) > 0 {
		x, n := protowire.ConsumeVarint(v)
		if n < 0 {
			return nil, errTruncated
		}
		dst = append(dst, int64(x))
		v = v[n:]
	}
	return dst, nil
}

// floats appends a repeated float field, packed or not.
func floats(dst []float32, typ protowire.Type, v []byte) ([]float32, error) {
	switch typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(binary.LittleEndian.Uint32(v))), nil
	case protowire.BytesType:
		if len(v)%4 != 0 {
			return nil, fmt.Errorf("packed floats of %d bytes", len(v))
		}
		for i := 0; i < len(v); i += 4 {
			dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(v[i:])))
		}
		return dst, nil
	}
	return nil, fmt.Errorf("wire type %d for floats", typ)
}

func parseONNX(b []byte) (*onnxModel, error) {
	m := &onnxModel{opset: -1}
	var graph []byte
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		var err error
		switch num {
		case 1:
			m.irVersion, err = varint(typ, v)
		case 7:
			graph = v
		case 8: // opset_import
			var domain string
			var version int64
			err = fields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				var err error
				switch num {
				case 1:
					domain = string(v)
				case 2:
					version, err = varint(typ, v)
				}
				return err
			})
			if domain == "" || domain == "ai.onnx" {
				m.opset = version
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if graph == nil {
		return nil, fmt.Errorf("no graph: not an ONNX model")
	}
	if err := m.graph.parse(graph); err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	return m, nil
}

func (g *onnxGraph) parse(b []byte) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch num {
		case 1:
			var n onnxNode
			if err := n.parse(v); err != nil {
				return fmt.Errorf("node %d: %w", len(g.nodes), err)
			}
			g.nodes = append(g.nodes, n)
		case 5:
			var t onnxTensor
			if err := t.parse(v); err != nil {
				return fmt.Errorf("initializer %q: %w", t.name, err)
			}
			g.inits = append(g.inits, t)
		case 11, 12:
			var vi onnxValueInfo
			if err := vi.parse(v); err != nil {
				return fmt.Errorf("value info %q: %w", vi.name, err)
			}
			if num == 11 {
				g.inputs = append(g.inputs, vi)
			} else {
				g.outputs = append(g.outputs, vi)
			}
		}
		return nil
	})
}

func (n *onnxNode) parse(b []byte) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch num {
		case 1:
			n.inputs = append(n.inputs, string(v))
		case 2:
			n.outputs = append(n.outputs, string(v))
		case 3:
			n.name = string(v)
		case 4:
			n.op = string(v)
		case 7:
			n.domain = string(v)
		case 5:
			var a onnxAttr
			if err := a.parse(v); err != nil {
				return fmt.Errorf("attribute %q: %w", a.name, err)
			}
			n.attrs = append(n.attrs, a)
		}
		return nil
	})
}

func (a *onnxAttr) parse(b []byte) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		var err error
		switch num {
		case 1:
			a.name = string(v)
		case 2:
			if typ != protowire.Fixed32Type {
				return fmt.Errorf("wire type %d for a float", typ)
			}
			a.f = math.Float32frombits(binary.LittleEndian.Uint32(v))
		case 3:
			a.i, err = varint(typ, v)
		case 4:
			a.s = v
		case 5:
			a.t = &onnxTensor{}
			err = a.t.parse(v)
		case 7:
			a.floats, err = floats(a.floats, typ, v)
		case 8:
			a.ints, err = ints(a.ints, typ, v)
		case 20:
			a.typ, err = varint(typ, v)
		}
		return err
	})
}

func (t *onnxTensor) parse(b []byte) error {
	var dims []int64
	var raw []byte
	var fl []float32
	var in []int64 // int32_data and int64_data, both varints
	var dbl []byte
	external := false
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		var err error
		switch num {
		case 1:
			dims, err = ints(dims, typ, v)
		case 2:
			t.dtype, err = varint(typ, v)
		case 4:
			fl, err = floats(fl, typ, v)
		case 5, 7:
			in, err = ints(in, typ, v)
		case 8:
			t.name = string(v)
		case 9:
			raw = v
		case 10:
			if typ == protowire.BytesType {
				dbl = append(dbl, v...)
			} else if typ == protowire.Fixed64Type {
				dbl = append(dbl, v...)
			} else {
				err = fmt.Errorf("wire type %d for doubles", typ)
			}
		case 13:
			external = true
		case 14:
			if x, e := varint(typ, v); e == nil && x == 1 {
				external = true
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if external {
		return fmt.Errorf("external data is not supported: save the model with its weights inside")
	}
	if len(dims) > onnxMaxRank {
		return fmt.Errorf("rank %d", len(dims))
	}
	n := 1
	for _, d := range dims {
		if d < 0 || d > math.MaxInt32 {
			return fmt.Errorf("dimension %d", d)
		}
		t.dims = append(t.dims, int(d))
		// Every element takes at least one byte of the file, so a count
		// above the message size is a lie: stop before it overflows.
		if n *= int(d); n > len(b)*8+8 {
			return fmt.Errorf("dims %v hold more values than the file", dims)
		}
	}
	size := map[int64]int{onnxFloat: 4, onnxUint8: 1, onnxInt8: 1, onnxInt32: 4, onnxInt64: 8, onnxBool: 1, onnxFloat16: 2, onnxDouble: 8}[t.dtype]
	if size == 0 {
		return fmt.Errorf("data type %d is not supported", t.dtype)
	}
	switch {
	case raw != nil:
		if len(raw) != n*size {
			return fmt.Errorf("raw data of %d bytes for %d values of %d bytes", len(raw), n, size)
		}
		t.data = make([]float32, n)
		for i := range t.data {
			p := raw[i*size:]
			switch t.dtype {
			case onnxFloat:
				t.data[i] = math.Float32frombits(binary.LittleEndian.Uint32(p))
			case onnxUint8, onnxBool:
				t.data[i] = float32(p[0])
			case onnxInt8:
				t.data[i] = float32(int8(p[0]))
			case onnxInt32:
				t.data[i] = float32(int32(binary.LittleEndian.Uint32(p)))
			case onnxInt64:
				t.data[i] = int64ToFloat(int64(binary.LittleEndian.Uint64(p)))
			case onnxFloat16:
				t.data[i] = halfToFloat(binary.LittleEndian.Uint16(p))
			case onnxDouble:
				t.data[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(p)))
			}
		}
	case t.dtype == onnxFloat:
		if len(fl) != n {
			return fmt.Errorf("%d float values for %d", len(fl), n)
		}
		t.data = fl
	case t.dtype == onnxDouble:
		if len(dbl) != 8*n {
			return fmt.Errorf("%d double bytes for %d values", len(dbl), n)
		}
		t.data = make([]float32, n)
		for i := range t.data {
			t.data[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(dbl[8*i:])))
		}
	default: // integer types and float16 bits travel as varints
		if len(in) != n {
			return fmt.Errorf("%d integer values for %d", len(in), n)
		}
		t.data = make([]float32, n)
		for i, v := range in {
			if t.dtype == onnxFloat16 {
				t.data[i] = halfToFloat(uint16(v))
			} else {
				t.data[i] = int64ToFloat(v)
			}
		}
	}
	return nil
}

// int64ToFloat keeps the INT64_MAX/MIN sentinels ONNX uses for "to the end"
// (Slice) recognisable after the conversion to float32.
func int64ToFloat(v int64) float32 {
	switch {
	case v >= 1<<31:
		return math.MaxInt32
	case v <= -(1 << 31):
		return math.MinInt32
	}
	return float32(v)
}

func (vi *onnxValueInfo) parse(b []byte) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch num {
		case 1:
			vi.name = string(v)
		case 2: // TypeProto
			return fields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				if num != 1 { // tensor_type
					return nil
				}
				return fields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
					var err error
					switch num {
					case 1:
						vi.dtype, err = varint(typ, v)
					case 2: // TensorShapeProto
						err = fields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
							if num != 1 {
								return nil
							}
							if len(vi.dims) >= onnxMaxRank {
								return fmt.Errorf("rank above %d", onnxMaxRank)
							}
							d := int64(-1)
							err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
								if num == 1 {
									x, err := varint(typ, v)
									d = x
									return err
								}
								return nil
							})
							if d < 0 || d > math.MaxInt32 {
								d = -1
							}
							vi.dims = append(vi.dims, int(d))
							return err
						})
					}
					return err
				})
			})
		}
		return nil
	})
}
