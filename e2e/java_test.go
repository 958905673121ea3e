package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portrait-id/portrait/client"
)

const commonsCodec = "/usr/share/java/commons-codec.jar"

// The document's own Java client (unchanged in logic: raw UTF-8 name, URL-safe
// base64, no Content-Type set, reads the body with getInputStream) against
// the live service.
func TestJavaClient(t *testing.T) {
	src := filepath.Join(sharedDir(), "clients", "java", "PortraitVerifyDemo.java")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("the document's Java client is not here (%v): ../shared is absent", err)
	}
	javac, errC := exec.LookPath("javac")
	java, errJ := exec.LookPath("java")
	if errC != nil || errJ != nil {
		t.Skip("javac/java not installed (Debian: default-jdk-headless)")
	}
	if _, err := os.Stat(commonsCodec); err != nil {
		t.Skipf("%s missing (Debian: libcommons-codec-java)", commonsCodec)
	}
	w := getWorld(t)
	dir := t.TempDir()
	if out, err := exec.Command(javac, "-d", dir, "-cp", commonsCodec, src).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	selfieFile := func(b []byte) string {
		f, err := os.CreateTemp(dir, "selfie-*")
		if err != nil {
			t.Fatal(err)
		}
		f.Write(b)
		f.Close()
		return f.Name()
	}
	run := func(t *testing.T, c creds, id, name string, selfie []byte) *client.Response {
		cmd := exec.Command(java, "-cp", commonsCodec+string(os.PathListSeparator)+dir, "PortraitVerifyDemo")
		cmd.Env = append(os.Environ(),
			"PV_URL="+w.url+client.Path, "PV_APP_KEY="+c.appKey, "PV_APP_SECRET="+c.secret,
			"PV_NAME="+name, "PV_ID_NUMBER="+id, "PV_PORTRAIT_PATH="+selfieFile(selfie))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("java: %v\n%s", err, out)
		}
		r, err := client.ParseResponse([]byte(strings.TrimSpace(string(out))))
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(r.Raw) {
			t.Errorf("not JSON: %s", r.Raw)
		}
		return r
	}

	t.Run("selfie without a face", func(t *testing.T) {
		r := run(t, w.main, idWithPhoto, nameWithPhoto, w.noFacePNG)
		if r.Code != client.CodeOK || r.Data.Result != client.ResultBadQuality || r.Charged() {
			t.Errorf("answer %s", r.Raw)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		r := run(t, creds{w.main.appKey, "wrong"}, idWithPhoto, nameWithPhoto, w.noFacePNG)
		if r.Code != client.CodeSignature {
			t.Errorf("answer %s", r.Raw)
		}
	})
	t.Run("same person", func(t *testing.T) {
		w.needFaces(t)
		r := run(t, w.main, idWithPhoto, nameWithPhoto, w.faces.same)
		if r.Code != client.CodeOK || !r.Charged() || r.Data.Photo != client.PhotoCompared {
			t.Fatalf("answer %s", r.Raw)
		}
		checkScore(t, r, w.faces.sameScore, w.faces.sameScoreErr)
	})
	t.Run("minority name", func(t *testing.T) {
		w.needFaces(t)
		r := run(t, w.main, idNoPhoto, nameNoPhoto, w.faces.same)
		if r.Code != client.CodeOK || r.Data.IDName != client.IDNameMatch || r.Data.Photo != client.PhotoMissing {
			t.Errorf("answer %s", r.Raw)
		}
	})
}
