package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/portrait-id/portrait/api"
	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/internal/testkit"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/models"
	"github.com/portrait-id/portrait/store"
)

// ID numbers of the registry the tests set up (check digits computed
// outside Go).
const (
	idWithPhoto   = "110101199003077512" // 张三, the reference photo of the chosen face
	nameWithPhoto = "张三"
	idNoPhoto     = "650102198001010012" // 买买提·艾力, no photo
	nameNoPhoto   = "买买提·艾力"
	idNoFace      = "110105200002291235" // 李四, a photo without a face
	nameNoFace    = "李四"
	idUnknown     = "440304199912310007" // valid, not in the registry
	idBadCheck    = "110101199003077513" // checksum fails
)

// world is one running service with its merchants, registry and selfies,
// shared by every test of the package (loading the models once).
type world struct {
	url     string
	app     *app.App
	db      string
	logs    *testkit.SyncBuffer
	modelsD string

	main, frozen, disabled, expired, notGranted, slow, quota1, bench creds

	faces      faceSet
	noFacePNG  []byte // a valid image without a face
	notAnImage []byte

	close func()
}

type creds struct{ appKey, secret string }

func (c creds) client(w *world, opts ...client.Option) *client.Client {
	return client.New(w.url, c.appKey, c.secret, opts...)
}

// faceSet are photos that pass the live quality gate, chosen at start since
// the gate is tuned independently of these tests, with the pipeline's scores.
type faceSet struct {
	source     string  // the files chosen, for the log
	ref, same  []byte  // the same person: reference photo and selfie
	sameScore  float64 // the pipeline's score of same against ref
	other      []byte  // another person's selfie, nil when none was found
	otherScore float64 // its score against ref

	sameScoreErr, otherScoreErr error // the pipeline could not score them
	found                       bool
	whyNotFound                 string
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
	worldSkip string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if theWorld != nil {
		theWorld.close()
	}
	os.Exit(code)
}

// getWorld starts the service on first use; tests skip when the face models
// are not on this machine.
func getWorld(t testing.TB) *world {
	t.Helper()
	worldOnce.Do(func() {
		dir := models.DefaultDir()
		if err := models.Check(dir); err != nil {
			worldSkip = fmt.Sprintf("face models not available in %s (run `portrait models fetch`): %v", dir, err)
			return
		}
		theWorld, worldErr = startWorld(dir)
	})
	if worldSkip != "" {
		t.Skip(worldSkip)
	}
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return theWorld
}

// needFaces skips a test that needs a selfie passing the quality gate.
func (w *world) needFaces(t *testing.T) {
	t.Helper()
	if !w.faces.found {
		t.Skipf("needs a selfie passing the live quality gate: %s", w.faces.whyNotFound)
	}
}

func startWorld(modelsDir string) (*world, error) {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "portrait-e2e-")
	if err != nil {
		return nil, err
	}
	w := &world{db: filepath.Join(tmp, "portrait.db"), logs: &testkit.SyncBuffer{}, modelsD: modelsDir}
	w.noFacePNG = grayPNG(400, 400)
	w.notAnImage = []byte("this is a text file, not an image")

	a, err := app.Open(ctx, app.Config{
		DB: w.db, ModelsDir: modelsDir, Notices: io.Discard,
		// serve's per-ID limits, so that every call takes the production path
		IDDailyLimit: app.DefaultIDDailyLimit, IDDailyGlobal: app.DefaultIDDailyGlobal,
		Logger: slog.New(slog.NewJSONHandler(w.logs, nil)),
	})
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("open app: %w", err)
	}
	w.app = a
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		return nil, err
	}
	srv := api.NewServer(ln.Addr().String(), a.Handler())
	go srv.Serve(ln)
	w.url = "http://" + ln.Addr().String()
	w.close = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		a.Close()
		os.RemoveAll(tmp)
	}
	if err := w.setUp(ctx); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *world) setUp(ctx context.Context) error {
	var err error
	mk := func(name string, edit func(*merchant.Settings)) creds {
		if err != nil {
			return creds{}
		}
		set := merchant.NewSettings(name)
		set.QPS, set.Burst = 1e6, 1e6
		if edit != nil {
			edit(&set)
		}
		var c merchant.Created
		c, err = w.app.Merchants.Create(ctx, set)
		return creds{c.Merchant.AppKey, c.Secret}
	}
	w.main = mk("e2e main", nil)
	w.frozen = mk("e2e frozen", func(s *merchant.Settings) { s.Status = store.StatusFrozen })
	w.disabled = mk("e2e disabled", func(s *merchant.Settings) { s.Status = store.StatusDisabled })
	w.expired = mk("e2e expired", func(s *merchant.Settings) { s.ExpiresAt = time.Now().Add(-time.Hour) })
	w.notGranted = mk("e2e not granted", func(s *merchant.Settings) { s.Services = nil })
	w.slow = mk("e2e slow", func(s *merchant.Settings) { s.QPS, s.Burst = 0.01, 1 })
	w.quota1 = mk("e2e quota 1", func(s *merchant.Settings) { s.FreeQuota = 1 })
	w.bench = mk("e2e bench", nil)
	if err != nil {
		return fmt.Errorf("create merchants: %w", err)
	}

	pipeline, err := app.OpenFaces(w.modelsD, "")
	if err != nil {
		return err
	}
	defer pipeline.Close()
	w.faces = chooseFaces(ctx, pipeline, w.modelsD)

	add := func(id, name string, photo []byte) {
		if err == nil {
			_, err = w.app.Registry.Add(ctx, id, name, photo)
		}
	}
	add(idWithPhoto, nameWithPhoto, w.faces.ref)
	add(idNoPhoto, nameNoPhoto, nil)
	add(idNoFace, nameNoFace, w.noFacePNG)
	if err != nil {
		return fmt.Errorf("register identities: %w", err)
	}
	if rec, _ := w.app.Registry.Get(ctx, idNoFace); rec.TemplateStatus != store.TemplateNoFace {
		return fmt.Errorf("the faceless reference photo was enrolled as %q", rec.TemplateStatus)
	}
	return nil
}

// chooseFaces finds two photos of one person that pass the live quality
// gate (reference and selfie) and a passing photo of someone else, among the
// LFW photos of ../shared/faces-dev when present, then among the model
// packages' sample photos (where the selfie can only be the reference photo
// itself). The scores the pipeline gives them are what the service must
// answer; whether they land in the right band is the face pipeline's
// calibration, tested there.
func chooseFaces(ctx context.Context, p *face.Pipeline, modelsDir string) faceSet {
	const maxPeople, maxPhotos = 16, 3 // bound the search under -race
	var set faceSet
	var ref face.Template
	var seen []probed // passing photos of people other than the reference's
	tried := 0
	for _, files := range candidatePeople(modelsDir) {
		if tried == maxPeople || set.other != nil {
			break
		}
		tried++
		ok := probeAll(ctx, p, files[:min(len(files), maxPhotos)])
		if set.found {
			seen = ok
		} else if set, ref = samePair(ctx, p, ok, len(files) == 1); !set.found {
			seen = append(seen, ok...)
			continue
		}
		if len(seen) > 0 {
			o := seen[0]
			set.other = o.bytes
			set.otherScore, set.otherScoreErr = face.Score(o.probe, ref)
			set.source += " vs " + o.path
		}
	}
	if !set.found {
		set.whyNotFound = fmt.Sprintf("no two photos of one person among %d people pass the quality gate", tried)
	}
	return set
}

type probed struct {
	path  string
	bytes []byte
	probe face.Template
}

// candidatePeople lists photo files per person: LFW people with at least
// two photos, then each model sample alone.
func candidatePeople(modelsDir string) [][]string {
	var people [][]string
	dirs, _ := filepath.Glob(filepath.Join(sharedDir(), "faces-dev", "lfw_*"))
	sort.Strings(dirs)
	for _, d := range dirs {
		if files, _ := filepath.Glob(filepath.Join(d, "*.jpg")); len(files) >= 2 {
			people = append(people, files)
		}
	}
	for i := 1; i <= 6; i++ {
		people = append(people, []string{models.Path(modelsDir, "face-api", fmt.Sprintf("demo/sample%d.jpg", i))})
	}
	return people
}

// probeAll returns the photos that pass the quality gate, with their probe
// templates.
func probeAll(ctx context.Context, p *face.Pipeline, files []string) []probed {
	var ok []probed
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if t, err := p.Probe(ctx, b); err == nil {
			ok = append(ok, probed{f, b, t})
		}
	}
	return ok
}

// samePair makes a reference and a selfie of the first two of one
// person's passing photos; the same file serves as both only when the person
// has a single photo.
func samePair(ctx context.Context, p *face.Pipeline, ok []probed, single bool) (faceSet, face.Template) {
	if len(ok) == 0 || len(ok) == 1 && !single {
		return faceSet{}, face.Template{}
	}
	r, sf := ok[0], ok[len(ok)-1]
	enrolled, err := p.Enroll(ctx, r.bytes)
	if err != nil {
		return faceSet{}, face.Template{}
	}
	set := faceSet{source: r.path + " / " + sf.path, ref: r.bytes, same: sf.bytes, found: true}
	set.sameScore, set.sameScoreErr = face.Score(sf.probe, enrolled)
	return set, enrolled
}

// sharedDir is ../shared beside the repository (how CI lays them out).
func sharedDir() string {
	abs, err := filepath.Abs(filepath.Join("..", "..", "shared"))
	if err != nil {
		return ""
	}
	return abs
}

// grayPNG is a valid image in which no face can be found.
func grayPNG(w, h int) []byte {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetGray(x, y, color.Gray{Y: uint8(96 + (x+y)%64)})
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

// post sends a raw body to the live API.
func (w *world) post(t testing.TB, contentType string, body []byte) *client.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, w.url+api.Path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("HTTP %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	r, err := client.ParseResponse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ledgerRows returns the merchant's ledger.
func (w *world) ledgerRows(t testing.TB, appKey string) []store.LedgerRow {
	t.Helper()
	rows, err := w.app.Store.ListLedger(context.Background(), store.LedgerFilter{AppKey: appKey})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
