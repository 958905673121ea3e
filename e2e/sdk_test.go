package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portrait-id/portrait/api"
	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/internal/testkit"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/protocol"
)

// The merchants' Java and Python SDKs (sdk/java, sdk/python) against the
// live service: every data shape and the main error codes, in form and
// multipart bodies. Each SDK runs a small driver that makes the calls listed
// here and prints what the SDK decoded; this test checks those values
// against the raw answer, the raw answer against the OpenAPI document, and
// the answer against what the call must get.

// sdkCall is one call through an SDK and what its answer must be.
type sdkCall struct {
	name        string
	needsFaces  bool
	url         string // default: the live service
	creds       creds
	id, person  string
	selfie      string // file
	requestID   string
	clockOffset time.Duration
	timeout     time.Duration // 0: the SDK's default
	want        client.Code   // "" for a call that must time out
	// check looks further at the answer; prior has the answers of the calls
	// before it with the same body type, by name.
	check func(t *testing.T, r *client.Response, prior map[string]*client.Response)
}

// sdkCodeNames are the names both SDKs give the document's codes.
var sdkCodeNames = map[client.Code]string{
	client.CodeOK: "OK", client.CodeSignature: "SIGNATURE", client.CodeEncoding: "ENCODING",
	client.CodeParameter: "PARAMETER", client.CodeFrozen: "FROZEN", client.CodeDisabled: "DISABLED",
	client.CodeAccountExpired: "ACCOUNT_EXPIRED", client.CodeRateLimited: "RATE_LIMITED",
	client.CodeQuotaExhausted: "QUOTA_EXHAUSTED", client.CodeNotGranted: "NOT_GRANTED",
	client.CodeAppKey: "APP_KEY", client.CodeRequestExpired: "REQUEST_EXPIRED",
	client.CodeSupplier: "SUPPLIER", client.CodeOther: "OTHER",
}

var sdkBandNames = map[client.Band]string{
	client.BandNone: "NONE", client.BandDifferent: "DIFFERENT", client.BandUncertain: "UNCERTAIN", client.BandSame: "SAME",
}

func TestJavaSDK(t *testing.T) {
	javac, errC := exec.LookPath("javac")
	java, errJ := exec.LookPath("java")
	if errC != nil || errJ != nil {
		t.Skip("javac/java not installed (Debian: default-jdk-headless)")
	}
	var sources []string
	filepath.WalkDir(filepath.Join("..", "sdk", "java", "src"), func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".java") {
			sources = append(sources, path)
		}
		return err
	})
	classes := t.TempDir()
	// --release 11: the SDK promises JDK 11, whatever JDK compiles it here.
	args := append([]string{"--release", "11", "-Xlint:all", "-Werror", "-d", classes}, sources...)
	if out, err := exec.Command(javac, args...).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	if out, err := exec.Command(java, "-cp", classes, "io.github.portraitid.portrait.OfflineTest").CombinedOutput(); err != nil {
		t.Fatalf("java offline tests: %v\n%s", err, out)
	}
	w := getWorld(t)
	runSDK(t, w, "java", exec.Command(java, "-cp", classes, "io.github.portraitid.portrait.LiveDriver"))
}

func TestPythonSDK(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed (Debian: python3)")
	}
	if out, err := exec.Command(python, "-c", "import sys; sys.exit(sys.version_info < (3, 9))").CombinedOutput(); err != nil {
		t.Skipf("python3 older than the SDK's 3.9: %v %s", err, out)
	}
	root, err := filepath.Abs(filepath.Join("..", "sdk", "python"))
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PYTHONPATH="+root, "PYTHONDONTWRITEBYTECODE=1", "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1")
	unit := exec.Command(python, "-m", "unittest", "discover", "-s", filepath.Join(root, "tests"))
	unit.Env = env
	if out, err := unit.CombinedOutput(); err != nil {
		t.Fatalf("python unit tests: %v\n%s", err, out)
	}
	w := getWorld(t)
	driver := exec.Command(python, filepath.Join(root, "tests", "live_driver.py"))
	driver.Env = env
	runSDK(t, w, "python", driver)
}

// runSDK feeds the calls of both body types to the driver, in order, and
// checks each answer.
func runSDK(t *testing.T, w *world, sdk string, driver *exec.Cmd) {
	files := sdkFiles(t, w)
	hang := hangingServer(t)
	bodies := []string{"form", "multipart"}
	calls := map[string][]sdkCall{}
	var in bytes.Buffer
	in.WriteString("codes\n")
	for _, body := range bodies {
		calls[body] = sdkCalls(t, w, files, hang)
		for _, c := range calls[body] {
			if c.needsFaces && !w.faces.found {
				continue
			}
			url := w.url
			if c.url != "" {
				url = c.url
			}
			timeout := ""
			if c.timeout > 0 {
				timeout = strconv.FormatInt(c.timeout.Milliseconds(), 10)
			}
			fmt.Fprintf(&in, "%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", body, c.name, url, c.creds.appKey, c.creds.secret,
				c.id, c.person, c.selfie, body, c.requestID, c.clockOffset.Milliseconds(), timeout)
		}
	}
	driver.Stdin = &in
	var stderr bytes.Buffer
	driver.Stderr = &stderr
	out, err := driver.Output()
	if err != nil {
		t.Fatalf("%s driver: %v\n%s", sdk, err, stderr.Bytes())
	}
	results := map[string][]string{}
	codes := map[client.Code]bool{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 4 && f[0] == "code" {
			c := client.Code(f[1])
			codes[c] = true
			if f[2] != sdkCodeNames[c] || f[3] != c.Message() || !c.Known() {
				t.Errorf("the %s SDK has code %s %s %q; the server's is %q %q", sdk, f[1], f[2], f[3], sdkCodeNames[c], c.Message())
			}
			continue
		}
		results[f[0]] = f[1:]
	}
	if len(codes) != len(protocol.Codes) {
		t.Errorf("the %s SDK has %d codes, the server %d", sdk, len(codes), len(protocol.Codes))
	}
	for _, c := range protocol.Codes {
		if !codes[c] {
			t.Errorf("the %s SDK lacks code %s", sdk, c)
		}
	}

	envelope := testkit.OpenAPISchema(t, api.OpenAPI(), "/components/schemas/Envelope")
	for _, body := range bodies {
		prior := map[string]*client.Response{}
		for _, c := range calls[body] {
			t.Run(body+"/"+c.name, func(t *testing.T) {
				if c.needsFaces {
					w.needFaces(t)
				}
				res, ok := results[body+"/"+c.name]
				if !ok {
					t.Fatalf("the %s driver printed no result", sdk)
				}
				r := checkSDKResult(t, res, c.want == "")
				if r == nil {
					return
				}
				prior[c.name] = r
				if err := testkit.ValidateJSON(envelope, r.Raw); err != nil {
					t.Errorf("answer %s is not in the OpenAPI document: %v", r.Raw, err)
				}
				if r.Code != c.want {
					t.Fatalf("code %s, want %s: %s", r.Code, c.want, r.Raw)
				}
				checkCharge(t, r)
				if c.check != nil {
					c.check(t, r, prior)
				}
			})
		}
	}
}

// checkSDKResult checks that the SDK decoded the raw answer as the Go SDK
// does and returns it; nil for a call that had to fail (and did).
func checkSDKResult(t *testing.T, f []string, wantTimeout bool) *client.Response {
	t.Helper()
	if wantTimeout {
		if len(f) < 3 || f[0] != "error" || f[1] != "true" {
			t.Fatalf("want a timeout error, got %q", f)
		}
		return nil
	}
	if len(f) != 12 || f[0] != "answer" {
		t.Fatalf("want an answer, got %q", f)
	}
	r, err := client.ParseResponse([]byte(f[11]))
	if err != nil {
		t.Fatal(err)
	}
	opt := func(v int) string {
		if v == 0 {
			return "-"
		}
		return strconv.Itoa(v)
	}
	want := []string{string(r.Code), sdkCodeNames[r.Code], strconv.Itoa(r.Charge), "-", "-", "-", "-", "-", sdkBandNames[r.Band()], r.TraceID}
	if d := r.Data; d != nil {
		want[3], want[4], want[5] = strconv.Itoa(d.Result), opt(d.IDName), opt(d.Photo)
		if d.Reason != "" {
			want[7] = d.Reason
		}
	}
	got := f[1:11]
	if r.Data != nil && r.Data.Photo == client.PhotoCompared {
		score, err := strconv.ParseFloat(got[6], 64)
		if err != nil || score != r.Data.Score {
			t.Errorf("SDK's score %q, answer's %v", got[6], r.Data.Score)
		}
		got[6] = "-"
	}
	if strings.Join(got, "\t") != strings.Join(want, "\t") {
		t.Errorf("the SDK decoded %q, the answer is %s (want %q)", got, r.Raw, want)
	}
	return r
}

// sdkFiles writes the selfies the calls send.
func sdkFiles(t *testing.T, w *world) map[string]string {
	dir := t.TempDir()
	files := map[string]string{}
	for name, b := range map[string][]byte{"noface.png": w.noFacePNG, "text.txt": w.notAnImage, "same.jpg": w.faces.same} {
		files[name] = filepath.Join(dir, name)
		if err := os.WriteFile(files[name], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// hangingServer accepts connections and never answers, for the timeout.
func hangingServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, conn)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// sdkCalls lists the calls in the order the driver makes them, with fresh
// merchants and a fresh request_id for the calls whose answers depend on
// the calls before them.
func sdkCalls(t *testing.T, w *world, files map[string]string, hang string) []sdkCall {
	mk := func(name string, edit func(*merchant.Settings)) creds {
		set := merchant.NewSettings(name)
		edit(&set)
		c, err := w.app.Merchants.Create(context.Background(), set)
		if err != nil {
			t.Fatal(err)
		}
		return creds{c.Merchant.AppKey, c.Secret}
	}
	slow := mk("sdk slow", func(s *merchant.Settings) { s.QPS, s.Burst = 0.001, 1 })
	quota1 := mk("sdk quota 1", func(s *merchant.Settings) { s.QPS, s.Burst, s.FreeQuota = 1e6, 1e6, 1 })
	noFace := func(name string, c creds, want client.Code) sdkCall {
		return sdkCall{name: name, creds: c, id: idWithPhoto, person: nameWithPhoto, selfie: files["noface.png"], want: want}
	}
	data := func(want client.Data) func(t *testing.T, r *client.Response, _ map[string]*client.Response) {
		return func(t *testing.T, r *client.Response, _ map[string]*client.Response) {
			if r.Data == nil || r.Data.Result != want.Result || r.Data.IDName != want.IDName ||
				r.Data.Photo != want.Photo || r.Data.Reason != want.Reason {
				t.Errorf("data of %s, want %+v", r.Raw, want)
			}
		}
	}
	face := func(name, id, person string, want client.Data) sdkCall {
		return sdkCall{name: name, needsFaces: true, creds: w.main, id: id, person: person, selfie: files["same.jpg"],
			want: client.CodeOK, check: data(want)}
	}

	score := face("score", idWithPhoto, nameWithPhoto, client.Data{Result: 1, IDName: 1, Photo: 1})
	check := score.check
	score.check = func(t *testing.T, r *client.Response, prior map[string]*client.Response) {
		check(t, r, prior)
		checkScore(t, r, w.faces.sameScore, w.faces.sameScoreErr)
	}
	badQuality := noFace("bad quality", w.main, client.CodeOK)
	badQuality.check = data(client.Data{Result: 2, Reason: "no_face"})
	expired := noFace("1010 request expired", w.main, client.CodeRequestExpired)
	expired.clockOffset = -10 * time.Minute
	badID := noFace("1002 id checksum", w.main, client.CodeParameter)
	badID.id = idBadCheck
	notImage := noFace("1002 not an image", w.main, client.CodeParameter)
	notImage.selfie = files["text.txt"]
	elsewhere := noFace("9999 unknown path", w.main, client.CodeOther) // HTTP 404, the envelope all the same
	elsewhere.url = w.url + "/elsewhere"
	timeout := noFace("timeout", w.main, "")
	timeout.url, timeout.timeout = hang, 300*time.Millisecond

	replayFirst := noFace("replay first", w.main, client.CodeOK)
	replayFirst.requestID = client.NewRequestID()
	replayAgain := replayFirst
	replayAgain.name = "replay again"
	replayAgain.check = func(t *testing.T, r *client.Response, prior map[string]*client.Response) {
		if first := prior["replay first"]; first == nil || r.TraceID != first.TraceID {
			t.Errorf("a replay answered %s, not the first call's answer", r.Raw)
		}
	}
	replayChanged := replayFirst
	replayChanged.name, replayChanged.person, replayChanged.want = "replay changed", "王五", client.CodeParameter

	quotaFirst := face("quota first", idWithPhoto, "王五", client.Data{Result: 1, IDName: 2})
	quotaFirst.creds = quota1
	quotaUsed := quotaFirst
	quotaUsed.name, quotaUsed.want, quotaUsed.check = "1007 quota exhausted", client.CodeQuotaExhausted, nil

	return []sdkCall{
		score,
		face("id_name 2", idWithPhoto, "王五", client.Data{Result: 1, IDName: 2}),
		face("photo 2", idNoPhoto, nameNoPhoto, client.Data{Result: 1, IDName: 1, Photo: 2}),
		face("photo 3", idNoFace, nameNoFace, client.Data{Result: 1, IDName: 1, Photo: 3}),
		badQuality,
		noFace("1000 wrong secret", creds{w.main.appKey, "wrong secret"}, client.CodeSignature),
		badID,
		notImage,
		noFace("1003 frozen", w.frozen, client.CodeFrozen),
		noFace("1004 disabled", w.disabled, client.CodeDisabled),
		noFace("1005 account expired", w.expired, client.CodeAccountExpired),
		noFace("rate first", slow, client.CodeOK),
		noFace("1006 rate limited", slow, client.CodeRateLimited),
		quotaFirst,
		quotaUsed,
		noFace("1008 not granted", w.notGranted, client.CodeNotGranted),
		noFace("1009 unknown app_key", creds{"pk_000000000000000000000000", "x"}, client.CodeAppKey),
		expired,
		replayFirst,
		replayAgain,
		replayChanged,
		elsewhere,
		timeout,
	}
}

// The assembled service serves its OpenAPI document beside the API.
func TestOpenAPIServedLive(t *testing.T) {
	w := getWorld(t)
	res, err := http.Get(w.url + api.OpenAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !bytes.Equal(got, api.OpenAPI()) {
		t.Errorf("GET %s: HTTP %d, %d bytes, not the embedded document", api.OpenAPIPath, res.StatusCode, len(got))
	}
}
