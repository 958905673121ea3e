package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/face/calibration"
	"github.com/portrait-id/portrait/models"
)

// sharedModels holds the ONNX descriptor that stands in for one an operator
// brings (see its README).
const (
	sharedModels = "../../../shared/models"
	facesEA      = "../../../shared/faces-east-asian"
)

// modelsCopy is a models cache holding the pinned packages (linked from
// the real cache) and nothing else, for a test to add models to.
func modelsCopy(t *testing.T) string {
	t.Helper()
	src := models.DefaultDir()
	if err := models.Check(src); err != nil {
		t.Skipf("models not fetched: %v", err)
	}
	dir := t.TempDir()
	for _, p := range models.Pinned {
		if err := os.Symlink(filepath.Join(src, p.Dir()), filepath.Join(dir, p.Dir())); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBringYourOwnModel is an operator's path with a model the project
// does not ship: models add with its card, bench calibrate writing its
// table into the cache, then the service's pipeline (serve --embedding)
// taking it and telling a person from another.
func TestBringYourOwnModel(t *testing.T) {
	onnx := filepath.Join(sharedModels, "foamliu-mobilefacenet.onnx")
	if _, err := os.Stat(onnx); err != nil {
		t.Skipf("%s not present: %v", sharedModels, err)
	}
	if _, err := os.Stat(filepath.Join(facesEA, "pairs.tsv")); err != nil {
		t.Skipf("faces-east-asian not present: %v", err)
	}
	if _, err := os.Stat(filepath.Join(facesDev, "pairs.tsv")); err != nil {
		t.Skipf("faces-dev not present: %v", err)
	}
	dir := modelsCopy(t)
	const name = "mfn"
	code, out := runOut(t, "models", "add", "--dir", dir, "--name", name, "--channels", "rgb",
		"--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225", "--scale", "1", "--source", "foamliu/MobileFaceNet (Apache-2.0)", onnx)
	if code != 0 {
		t.Fatalf("models add exited %d: %s", code, out)
	}
	card, err := face.LoadCard(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	if card.Output != 128 || card.Channels != "RGB" || card.Mean[0] < 123.6 || card.Mean[0] > 123.7 || card.Std[2] < 57.3 || card.Std[2] > 57.4 {
		t.Errorf("card %+v", card)
	}
	// Not calibrated yet: the service refuses it, naming the command.
	if _, err := app.OpenFaces(dir, name); !errors.Is(err, calibration.ErrNoTable) || !strings.Contains(err.Error(), "bench calibrate") {
		t.Errorf("uncalibrated model opened: %v", err)
	}

	code, _ = runOut(t, "bench", "calibrate", "--models", dir, "--model", name, "--set", facesEA, "--sample", "6")
	if code != 0 {
		t.Fatalf("bench calibrate exited %d", code)
	}
	table, err := face.LookupCalibration(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	if table.Model != name || table.Group != "east_asian" || table.GroupPairs < 1000 {
		t.Errorf("fitted table %+v", table)
	}

	p, err := app.OpenFaces(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Model() != name {
		t.Errorf("pipeline model %q, want %q", p.Model(), name)
	}
	enroll := func(rel string) face.Template {
		b, err := os.ReadFile(filepath.Join(facesDev, rel))
		if err != nil {
			t.Fatal(err)
		}
		tm, err := p.Enroll(context.Background(), b)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		return tm
	}
	ref := enroll("lfw_Zhang_Ziyi/0002.jpg")
	same, err := face.Score(enroll("lfw_Zhang_Ziyi/0004.jpg"), ref)
	if err != nil {
		t.Fatal(err)
	}
	other, err := face.Score(enroll("lfw_Michelle_Yeoh/0001.jpg"), ref)
	if err != nil {
		t.Fatal(err)
	}
	if !(same >= 40 && other < 40) {
		t.Errorf("scores: same person %.2f, another person %.2f; want ≥ 40 and < 40", same, other)
	}
}

func TestChannelValues(t *testing.T) {
	for _, tc := range []struct {
		in    string
		scale float64
		want  [3]float64
		ok    bool
	}{
		{"127.5", 255, [3]float64{127.5, 127.5, 127.5}, true},
		{"0.485,0.456,0.406", 1, [3]float64{123.675, 116.28, 103.53}, true},
		{"0.229, 0.224, 0.225", 1, [3]float64{58.395, 57.12, 57.375}, true},
		{"1,2", 255, [3]float64{}, false},
		{"x", 255, [3]float64{}, false},
		{"1", 0, [3]float64{}, false},
	} {
		got, err := channelValues("--mean", tc.in, tc.scale)
		if (err == nil) != tc.ok || tc.ok && got != tc.want {
			t.Errorf("channelValues(%q, %v) = %v, %v; want %v (ok %v)", tc.in, tc.scale, got, err, tc.want, tc.ok)
		}
	}
}
