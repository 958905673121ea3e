package nn

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// manifestGroup is one entry of a TensorFlow.js weights manifest: the shards
// in paths are concatenated and hold the weights in order.
type manifestGroup struct {
	Paths   []string         `json:"paths"`
	Weights []manifestWeight `json:"weights"`
}

type manifestWeight struct {
	Name         string        `json:"name"`
	Shape        []int         `json:"shape"`
	DType        string        `json:"dtype"`
	Quantization *quantization `json:"quantization"`
}

type quantization struct {
	DType string   `json:"dtype"`
	Scale *float64 `json:"scale"`
	Min   *float64 `json:"min"`
}

// LoadWeightsManifest reads a TensorFlow.js weights manifest (the
// "*-weights_manifest.json" file of packages that ship weights without a
// graph) and its shards from the same folder, and returns every weight by
// name, dequantized to float32. int32 weights are converted to float32, which
// is exact for the small integers (shapes, axes) they hold.
func LoadWeightsManifest(path string) (map[string]*Tensor, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load weights manifest: %w", err)
	}
	var groups []manifestGroup
	if err := json.Unmarshal(raw, &groups); err != nil {
		return nil, fmt.Errorf("load weights manifest %s: %w", path, err)
	}
	w, err := loadWeights(filepath.Dir(path), groups)
	if err != nil {
		return nil, fmt.Errorf("load weights manifest %s: %w", path, err)
	}
	return w, nil
}

func loadWeights(dir string, groups []manifestGroup) (map[string]*Tensor, error) {
	out := map[string]*Tensor{}
	for _, g := range groups {
		var buf []byte
		for _, p := range g.Paths {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
			if err != nil {
				return nil, fmt.Errorf("weights shard: %w", err)
			}
			buf = append(buf, b...)
		}
		for _, w := range g.Weights {
			t, n, err := decodeWeight(w, buf)
			if err != nil {
				return nil, fmt.Errorf("weight %s: %w", w.Name, err)
			}
			out[w.Name] = t
			buf = buf[n:]
		}
		if len(buf) != 0 {
			return nil, fmt.Errorf("shards of %v have %d bytes past the last weight", g.Paths, len(buf))
		}
	}
	return out, nil
}

// decodeWeight decodes one weight from the front of buf and reports how many
// bytes it used.
func decodeWeight(w manifestWeight, buf []byte) (*Tensor, int, error) {
	n := 1
	for _, d := range w.Shape {
		if d < 0 {
			return nil, 0, fmt.Errorf("negative dimension in shape %v", w.Shape)
		}
		n *= d
	}
	data := make([]float32, n)
	size := 4
	if q := w.Quantization; q != nil {
		switch q.DType {
		case "uint8":
			size = 1
		case "uint16", "float16":
			size = 2
		default:
			return nil, 0, fmt.Errorf("unsupported quantization dtype %q", q.DType)
		}
	}
	if len(buf) < n*size {
		return nil, 0, fmt.Errorf("shards end after %d of %d bytes", len(buf), n*size)
	}
	switch q := w.Quantization; {
	case q == nil && w.DType == "float32":
		for i := range data {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
	case q == nil && w.DType == "int32":
		for i := range data {
			data[i] = float32(int32(binary.LittleEndian.Uint32(buf[4*i:])))
		}
	case q != nil && q.DType == "float16":
		for i := range data {
			data[i] = halfToFloat(binary.LittleEndian.Uint16(buf[2*i:]))
		}
	case q != nil && (w.DType == "float32" || w.DType == "int32"):
		if q.Scale == nil || q.Min == nil {
			return nil, 0, fmt.Errorf("%s quantization without scale and min", q.DType)
		}
		// tfjs dequantizes in float32: v*scale + min.
		scale, lo := float32(*q.Scale), float32(*q.Min)
		for i := range data {
			var v uint16
			if size == 1 {
				v = uint16(buf[i])
			} else {
				v = binary.LittleEndian.Uint16(buf[2*i:])
			}
			data[i] = float32(v)*scale + lo
		}
		if w.DType == "int32" {
			for i, v := range data {
				data[i] = float32(math.Round(float64(v)))
			}
		}
	default:
		return nil, 0, fmt.Errorf("unsupported dtype %q", w.DType)
	}
	return &Tensor{Shape: append([]int{}, w.Shape...), Data: data}, n * size, nil
}

// halfToFloat converts an IEEE 754 binary16 value.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: normalize into a float32 exponent.
	e := uint32(113)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}
