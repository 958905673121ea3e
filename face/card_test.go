package face

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// foamliuModel is the Apache-2.0 MobileFaceNet beside the repository that
// stands in for an operator's model (see ../shared/models/README.md).
const foamliuModel = "../../shared/models/foamliu-mobilefacenet.onnx"

// foamliuCard is that model's card as its README describes it.
var foamliuCard = ModelCard{
	Name: "foamliu-mobilefacenet", InputSize: 112, Channels: "RGB",
	Mean: [3]float64{0.485 * 255, 0.456 * 255, 0.406 * 255}, Std: [3]float64{0.229 * 255, 0.224 * 255, 0.225 * 255},
	Template: TemplateArcFace,
}

func TestModelCardValidate(t *testing.T) {
	good := foamliuCard
	good.File, good.SHA256, good.Output = "model.onnx", strings.Repeat("ab", 32), 128
	if err := good.Validate(); err != nil {
		t.Fatalf("good card refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(c *ModelCard)
	}{
		{"fused name", func(c *ModelCard) { c.Name = "a+b" }},
		{"path in name", func(c *ModelCard) { c.Name = "../x" }},
		{"built-in name", func(c *ModelCard) { c.Name = EmbedFRFeature }},
		{"file outside", func(c *ModelCard) { c.File = "../model.onnx" }},
		{"no sum", func(c *ModelCard) { c.SHA256 = "" }},
		{"tiny input", func(c *ModelCard) { c.InputSize = 8 }},
		{"channels", func(c *ModelCard) { c.Channels = "GRB" }},
		{"template", func(c *ModelCard) { c.Template = "dlib" }},
		{"output", func(c *ModelCard) { c.Output = 0 }},
		{"zero std", func(c *ModelCard) { c.Std[1] = 0 }},
	} {
		c := good
		tc.edit(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: card accepted", tc.name)
		}
	}
}

// TestCardSpec: the card's normalisation is the embedder's input transform,
// channel order included.
func TestCardSpec(t *testing.T) {
	s := frFeatureCard.spec()
	if s.size != 112 || s.perm != [3]int{2, 1, 0} || s.mean != splat(127) || s.mul != splat(1.0/128) {
		t.Errorf("fr_feature spec %+v", s)
	}
	if s.template != arcFaceTemplate {
		t.Errorf("fr_feature template %v, want the ArcFace template", s.template)
	}
	f := foamliuCard.spec()
	crop := []float32{255, 0, 128}
	in := make([]float32, 3)
	part := &embedPart{spec: embedSpec{size: 1, perm: f.perm, mean: f.mean, mul: f.mul}}
	part.prepare(crop, in, false)
	want := []float32{(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (128.0/255 - 0.406) / 0.225}
	for i := range in {
		if d := in[i] - want[i]; d > 1e-5 || d < -1e-5 {
			t.Errorf("channel %d: %v, want %v", i, in[i], want[i])
		}
	}
}

func TestLoadCardRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadCard(dir, "nobody"); !errors.Is(err, ErrNoCard) {
		t.Errorf("missing card: %v, want ErrNoCard", err)
	}
	if _, err := LoadCard(dir, "../../etc"); !errors.Is(err, ErrNoCard) {
		t.Errorf("path as name: %v, want ErrNoCard", err)
	}
	c := foamliuCard
	c.File, c.SHA256, c.Output = "model.onnx", strings.Repeat("0", 64), 128
	raw, _ := json.Marshal(c)
	folder := filepath.Join(OperatorDir(dir), "renamed")
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(folder, "card.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCard(dir, "renamed"); err == nil {
		t.Error("card naming another model accepted")
	}
	// A card whose weights changed since it was written is refused.
	folder = filepath.Join(OperatorDir(dir), c.Name)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{"card.json": raw, "model.onnx": []byte("other weights")} {
		if err := os.WriteFile(filepath.Join(folder, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := OpenEmbedder(dir, EmbedderConfig{Model: c.Name}); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("changed weights: %v, want a SHA-256 mismatch", err)
	}
}
