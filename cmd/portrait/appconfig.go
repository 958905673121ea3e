package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/models"
)

// opsOut and opsErr are where the operator commands (serve, merchant,
// identity, ledger) print, swapped by their in-process tests.
var (
	opsOut io.Writer = os.Stdout
	opsErr io.Writer = os.Stderr
)

// storeFlags are the flags every command touching the database shares, with
// their PORTRAIT_* environment defaults. The master key itself is taken from
// the environment only (PORTRAIT_MASTER_KEY), never from a flag, so that it
// stays out of shell history and process listings.
type storeFlags struct {
	db        *string
	keyFile   *string
	modelsDir *string
	embedding *string
	json      *bool
	create    *bool
}

func addStoreFlags(fs *flag.FlagSet) *storeFlags {
	return &storeFlags{
		db:        fs.String("db", envOr("PORTRAIT_DB", app.DefaultDB), "SQLite file or postgres:// URL (env PORTRAIT_DB)"),
		keyFile:   fs.String("master-key-file", os.Getenv("PORTRAIT_MASTER_KEY_FILE"), "file holding the master key (env PORTRAIT_MASTER_KEY_FILE; or the key itself in PORTRAIT_MASTER_KEY; default for SQLite: <db>.key, generated on first use)"),
		modelsDir: fs.String("models-dir", models.DefaultDir(), "face model cache (env PORTRAIT_MODELS_DIR)"),
		embedding: fs.String("embedding", envOr("PORTRAIT_EMBEDDING", face.DefaultEmbedding), "face descriptor; serve and identity add/import must agree (env PORTRAIT_EMBEDDING)"),
		json:      fs.Bool("json", false, "print JSON"),
		create:    fs.Bool("create", false, "create the SQLite database when it does not exist (serve does so unasked on the default path only)"),
	}
}

func (f *storeFlags) config(faces app.FacesMode) app.Config {
	return app.Config{
		DB: *f.db, MasterKey: os.Getenv("PORTRAIT_MASTER_KEY"), MasterKeyFile: *f.keyFile,
		Faces: faces, ModelsDir: *f.modelsDir, Embedding: *f.embedding, Notices: opsErr,
		MustExist: !*f.create,
	}
}

func (f *storeFlags) open(ctx context.Context, faces app.FacesMode) (*app.App, error) {
	return app.Open(ctx, f.config(faces))
}

// storeCmd starts a command that works on the store: its flag set, holding
// the store flags, for the command to add its own flags to.
func storeCmd(name string) (*flag.FlagSet, *storeFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return fs, addStoreFlags(fs)
}

// parseOpen parses args (see parseArgs; positional names the arguments the
// command expects) and opens the app with faces. The caller closes it.
func (f *storeFlags) parseOpen(ctx context.Context, fs *flag.FlagSet, args []string, faces app.FacesMode, positional ...string) (*app.App, []string, error) {
	pos, err := parseArgs(fs, args, positional...)
	if err != nil {
		return nil, nil, err
	}
	a, err := f.open(ctx, faces)
	if err != nil {
		return nil, nil, err
	}
	return a, pos, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// parseFlags parses args into fs, answering flag.ErrHelp for -h and
// errUsage for any other mistake (which fs has already reported).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// parseArgs parses flags placed before, between or after positional
// arguments (`merchant set APP_KEY --status frozen` and `merchant set
// --status frozen APP_KEY` alike) and checks the positional count.
func parseArgs(fs *flag.FlagSet, args []string, positional ...string) ([]string, error) {
	fs.SetOutput(opsErr)
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != len(positional) {
		fmt.Fprintf(opsErr, "%s: want %d argument(s) (%s), got %d\n", fs.Name(), len(positional), strings.Join(positional, " "), len(pos))
		fs.Usage()
		return nil, errUsage
	}
	return pos, nil
}

func printJSON(v any) error {
	enc := json.NewEncoder(opsOut)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// parseTime reads an RFC 3339 instant or a UTC day (2006-01-02).
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-12-31T23:59:59Z) or a day (2026-12-31)", s)
}
