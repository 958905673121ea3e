package face

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ModelCard says how to feed an ONNX face descriptor and what comes out:
// the few facts that the weights file does not carry and that decide
// whether its templates mean anything. An operator writes one (with
// `portrait models add`) for a model the project does not ship; the shipped
// ONNX descriptors have theirs in the code.
type ModelCard struct {
	// Name is the descriptor's name in --embedding, templates and
	// calibration tables.
	Name string `json:"name"`
	// File is the ONNX file, relative to the card's folder.
	File string `json:"file"`
	// SHA256 of File: templates and the calibration table are only valid
	// for these weights, so other weights under the same name are refused.
	SHA256 string `json:"sha256"`
	// InputSize is the side of the square crop the model takes, in pixels.
	InputSize int `json:"input_size"`
	// Channels is the input's channel order: "RGB" or "BGR".
	Channels string `json:"channels"`
	// Mean and Std normalise each input channel (in Channels' order) as
	// (v − mean) / std, v being the 0..255 pixel value.
	Mean [3]float64 `json:"mean"`
	Std  [3]float64 `json:"std"`
	// Template is the five-point alignment the model was trained on:
	// "arcface" (insightface's 112×112 template, scaled to InputSize).
	Template string `json:"template"`
	// Output is the descriptor's length, to check the model against.
	Output int `json:"output"`
	// Source says where the weights came from and under what licence, for
	// whoever audits the deployment.
	Source string `json:"source,omitempty"`
}

// TemplateArcFace is the only alignment template cards may name today.
const TemplateArcFace = "arcface"

var cardName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Validate checks the card is complete and usable.
func (c ModelCard) Validate() error {
	switch {
	case !cardName.MatchString(c.Name):
		return fmt.Errorf("model card: name %q: want 1–64 of a-z 0-9 . _ - (no \"+\", which joins fused models)", c.Name)
	case isBuiltin(c.Name):
		return fmt.Errorf("model card: name %q is a built-in descriptor", c.Name)
	case c.File == "" || filepath.IsAbs(c.File) || strings.Contains(c.File, ".."):
		return fmt.Errorf("model card %s: file %q must be a name inside the card's folder", c.Name, c.File)
	case len(c.SHA256) != 64:
		return fmt.Errorf("model card %s: sha256 %q is not 64 hex digits", c.Name, c.SHA256)
	case c.InputSize < 32 || c.InputSize > 512:
		return fmt.Errorf("model card %s: input size %d out of 32..512", c.Name, c.InputSize)
	case c.Channels != "RGB" && c.Channels != "BGR":
		return fmt.Errorf("model card %s: channels %q, want RGB or BGR", c.Name, c.Channels)
	case c.Template != TemplateArcFace:
		return fmt.Errorf("model card %s: template %q, want %q", c.Name, c.Template, TemplateArcFace)
	case c.Output < 2 || c.Output > 8192:
		return fmt.Errorf("model card %s: output length %d out of 2..8192", c.Name, c.Output)
	}
	for i := range 3 {
		if !(c.Std[i] > 0) || math.IsInf(c.Std[i], 0) || math.IsNaN(c.Mean[i]) || math.Abs(c.Mean[i]) > 1e4 {
			return fmt.Errorf("model card %s: channel %d mean %v std %v", c.Name, i, c.Mean[i], c.Std[i])
		}
	}
	return nil
}

// spec is the card as the embedder applies it.
func (c ModelCard) spec() embedSpec {
	s := embedSpec{size: c.InputSize, template: scaleTemplate(arcFaceTemplate, 112, c.InputSize, 1), perm: [3]int{0, 1, 2}, weight: 1}
	if c.Channels == "BGR" {
		s.perm = [3]int{2, 1, 0}
	}
	for i := range 3 {
		s.mean[i], s.mul[i] = float32(c.Mean[i]), float32(1/c.Std[i])
	}
	return s
}

// OperatorDir is where operator-added models live in a models cache: one
// folder per model, holding card.json and the ONNX file.
func OperatorDir(modelsDir string) string { return filepath.Join(modelsDir, "operator") }

// ErrNoCard is a name that is neither a built-in descriptor nor an
// operator-added model.
var ErrNoCard = errors.New("no such descriptor")

// LoadCard reads an operator model's card from the models cache.
func LoadCard(modelsDir, name string) (ModelCard, error) {
	if !cardName.MatchString(name) {
		return ModelCard{}, fmt.Errorf("%w %q", ErrNoCard, name)
	}
	raw, err := os.ReadFile(filepath.Join(OperatorDir(modelsDir), name, "card.json"))
	if errors.Is(err, os.ErrNotExist) {
		return ModelCard{}, fmt.Errorf("%w %q (add it with `portrait models add`)", ErrNoCard, name)
	}
	if err != nil {
		return ModelCard{}, fmt.Errorf("load model card %s: %w", name, err)
	}
	var c ModelCard
	if err := json.Unmarshal(raw, &c); err != nil {
		return ModelCard{}, fmt.Errorf("load model card %s: %w", name, err)
	}
	if c.Name != name {
		return ModelCard{}, fmt.Errorf("load model card %s: the card names %q", name, c.Name)
	}
	return c, c.Validate()
}

// AddModel copies an ONNX descriptor into the models cache under its card
// (whose File and SHA256 it fills in, and Output when 0), after checking
// that it loads and gives a descriptor of the card's length.
func AddModel(modelsDir, onnxPath string, c ModelCard) (ModelCard, error) {
	src, err := os.ReadFile(onnxPath)
	if err != nil {
		return ModelCard{}, fmt.Errorf("add model: %w", err)
	}
	sum := sha256.Sum256(src)
	c.File, c.SHA256 = "model.onnx", hex.EncodeToString(sum[:])
	output := c.Output
	if output == 0 {
		c.Output = 2 // checked against the model below
	}
	if err := c.Validate(); err != nil {
		return ModelCard{}, fmt.Errorf("add model: %w", err)
	}
	dir := filepath.Join(OperatorDir(modelsDir), c.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ModelCard{}, fmt.Errorf("add model: %w", err)
	}
	// Written under a temporary name first: a card must never point at a
	// half-copied file.
	tmp := filepath.Join(dir, c.File+".tmp")
	if err := os.WriteFile(tmp, src, 0o644); err != nil {
		return ModelCard{}, fmt.Errorf("add model: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, c.File)); err != nil {
		return ModelCard{}, fmt.Errorf("add model: %w", err)
	}
	net, err := openONNXNet(filepath.Join(dir, c.File), c.InputSize, output)
	if err != nil {
		return ModelCard{}, fmt.Errorf("add model %s: %w", c.Name, err)
	}
	c.Output = net.dim()
	net.close()
	if err := c.Validate(); err != nil {
		return ModelCard{}, fmt.Errorf("add model: %w", err)
	}
	raw, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return ModelCard{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "card.json"), append(raw, '\n'), 0o644); err != nil {
		return ModelCard{}, fmt.Errorf("add model: %w", err)
	}
	return c, nil
}

// openCardNet opens the card's ONNX file in dir, refusing other weights
// than the card's.
func openCardNet(dir string, c ModelCard) (network, error) {
	path := filepath.Join(dir, c.File)
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	_, err = io.Copy(h, fh)
	fh.Close()
	if err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != c.SHA256 {
		return nil, fmt.Errorf("%s: SHA-256 %s, the card says %s (re-add the model)", path, got, c.SHA256)
	}
	return openONNXNet(path, c.InputSize, c.Output)
}
