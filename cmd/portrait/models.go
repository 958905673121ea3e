package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/portrait-id/portrait/models"
)

func init() {
	register("models fetch", "fetch and verify the face model packages (npm pack)", modelsFetch)
	register("models check", "verify the model cache against the committed sums", modelsCheck)
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
