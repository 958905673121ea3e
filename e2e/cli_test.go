package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/portrait-id/portrait/client"
)

// `portrait verify`, built from this tree, against the live service: it
// exits 0 whenever the service answered, whatever the code, and 1 when no
// answer came.
func TestVerifyCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the portrait binary")
	}
	w := getWorld(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "portrait")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "github.com/portrait-id/portrait/cmd/portrait")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	selfie := filepath.Join(dir, "selfie.png")
	if err := os.WriteFile(selfie, w.noFacePNG, 0o600); err != nil {
		t.Fatal(err)
	}
	args := func(url, secret string, extra ...string) []string {
		return append([]string{"verify", "--url", url, "--app-key", w.main.appKey, "--app-secret", secret,
			"--id-number", idNoPhoto, "--name", nameNoPhoto, "--selfie", selfie}, extra...)
	}

	out, err := exec.Command(bin, args(w.url, w.main.secret, "--json")...).Output()
	if err != nil {
		t.Fatalf("portrait verify --json: %v", err)
	}
	r, err := client.ParseResponse(out)
	if err != nil || r.Code != client.CodeOK || r.Data.Result != client.ResultBadQuality {
		t.Errorf("--json printed %s (%v)", out, err)
	}

	out, err = exec.Command(bin, args(w.url, "wrong", "--multipart")...).Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("portrait verify with a wrong secret: %v, want exit status 3 (answered, not 0000)", err)
	}
	if !strings.Contains(string(out), "code      1000  验签失败\n") || !strings.Contains(string(out), "charge    2  not charged\n") {
		t.Errorf("printed\n%s", out)
	}

	err = exec.Command(bin, args("http://127.0.0.1:1", w.main.secret)...).Run()
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("no service: %v, want exit status 1", err)
	}
}
