// Package face turns photos into comparable face templates: decode, detect,
// landmarks, pose, quality gate, alignment, embedding and the calibrated score.
// It knows nothing of merchants or storage.
package face

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Template is a face feature as stored with a registry record: the embedding
// model's identifier and its L2-normalised vector. Templates of different
// models cannot be compared.
type Template struct {
	Model  string
	Vector []float32
}

// MarshalBinary encodes the template as: model length (1 byte), model, then
// the vector as little-endian float32s.
func (t Template) MarshalBinary() ([]byte, error) {
	if len(t.Model) > 255 {
		return nil, fmt.Errorf("template model name too long (%d bytes)", len(t.Model))
	}
	out := make([]byte, 0, 1+len(t.Model)+4*len(t.Vector))
	out = append(out, byte(len(t.Model)))
	out = append(out, t.Model...)
	for _, v := range t.Vector {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
	}
	return out, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (t *Template) UnmarshalBinary(b []byte) error {
	if len(b) < 1 || len(b) < 1+int(b[0]) || (len(b)-1-int(b[0]))%4 != 0 {
		return errors.New("decode template: malformed")
	}
	n := int(b[0])
	t.Model = string(b[1 : 1+n])
	rest := b[1+n:]
	t.Vector = make([]float32, len(rest)/4)
	for i := range t.Vector {
		t.Vector[i] = math.Float32frombits(binary.LittleEndian.Uint32(rest[4*i:]))
	}
	return nil
}

// Reason is the stable token a merchant receives in data.reason when a selfie
// fails the quality gate.
type Reason string

const (
	ReasonNoFace        Reason = "no_face"
	ReasonMultipleFaces Reason = "multiple_faces"
	ReasonFaceTooSmall  Reason = "face_too_small"
	ReasonPose          Reason = "pose"
	ReasonBlur          Reason = "blur"
	ReasonDark          Reason = "dark"
	ReasonBacklit       Reason = "backlit"
	ReasonOccluded      Reason = "occluded"
)

// QualityError is a selfie that decoded fine but fails the quality gate: the
// call succeeds with result 2 and is not charged.
type QualityError struct {
	Reason Reason
	Detail string // measured value against its threshold, for logs
}

func (e *QualityError) Error() string {
	return fmt.Sprintf("selfie quality: %s (%s)", e.Reason, e.Detail)
}

// ErrImage marks an image that is not acceptable input at all: too large, not
// JPG/PNG/BMP/GIF/TIFF, dimensions out of range, truncated or undecodable.
// Errors wrapping it carry the detail a merchant's developer can act on.
var ErrImage = errors.New("invalid image")

// ImageError is an image refused as input, with the detail a merchant's
// developer can act on ("truncated JPEG"); it wraps ErrImage.
type ImageError struct{ Detail string }

func (e *ImageError) Error() string { return ErrImage.Error() + ": " + e.Detail }
func (e *ImageError) Unwrap() error { return ErrImage }

func imageErrorf(format string, args ...any) error {
	return &ImageError{Detail: fmt.Sprintf(format, args...)}
}

// ErrNoUsableFace marks a reference photo in which no face could be found
// or embedded: the document's photo 3.
var ErrNoUsableFace = errors.New("no usable face in reference photo")
