package cluster

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portrait-id/portrait/api"
	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/client"
	"github.com/portrait-id/portrait/cluster/faultproxy"
	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/internal/testkit"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/metrics"
	"github.com/portrait-id/portrait/models"
	"github.com/portrait-id/portrait/store/postgres/pgtest"
)

var ctx = context.Background()

// The registered person and their photo (faces-dev, frontal, passes the
// gate); the same photo serves as selfie, so every comparison is a match.
const (
	idNumber = "11010519491231002X"
	name     = "张三"
	photo    = "/work/shared/faces-dev/lfw_Aaron_Peirsol/0001.jpg"
)

// masterKey is shared by the instances, as an operator's configuration is.
var masterKey = strings.Repeat("5a", 32)

var (
	pipelineOnce sync.Once
	pipeline     *face.Pipeline
	pipelineErr  error
)

// sharedPipeline loads the models once for the package: the instances of one
// process can share the pipeline, which is safe for concurrent use, and two
// copies would only cost memory on a small machine.
func sharedPipeline(t *testing.T) *face.Pipeline {
	t.Helper()
	if models.Check(models.DefaultDir()) != nil {
		t.Skip("face models not fetched (portrait models fetch)")
	}
	// The embedder is pinned to the one model whose score calibration is
	// committed: these tests are about instances, not about which model
	// the product defaults to.
	pipelineOnce.Do(func() {
		pipeline, pipelineErr = face.Open(face.Config{ModelsDir: models.DefaultDir(), Embedding: face.EmbedderConfig{Model: face.EmbedFaceAPI}})
	})
	if pipelineErr != nil {
		t.Fatal(pipelineErr)
	}
	return pipeline
}

// scoredPipeline is the pipeline as metrics.TracingFaces (app does the same
// for `portrait serve`).
type scoredPipeline struct{ *face.Pipeline }

func (scoredPipeline) Score(probe, ref face.Template) (float64, error) { return face.Score(probe, ref) }

type options struct {
	source          identity.Source // nil: the registry
	identityTimeout time.Duration
	callTimeout     time.Duration // 0: verify's default
}

type instance struct {
	app     *app.App
	url     string
	metrics *metrics.Metrics
}

type cluster struct {
	db        *faultproxy.Proxy // PostgreSQL as the instances reach it
	redis     *faultproxy.Proxy // Redis as the instances reach it
	instances []*instance
}

// newCluster starts n instances on one fresh PostgreSQL schema and one Redis
// key space, each reached through a proxy that fault tests can cut.
func newCluster(t *testing.T, n int, opt options) *cluster {
	t.Helper()
	redisURL := os.Getenv("PORTRAIT_TEST_REDIS")
	if redisURL == "" {
		t.Skip("PORTRAIT_TEST_REDIS is not set (a redis:// URL of a throwaway server; .ci/run sets it)")
	}
	dsn := pgtest.FreshDSN(t)
	p := sharedPipeline(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := faultproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	u.Host = proxy.Addr()
	dsn = u.String()
	prefix := "cluster:" + strings.TrimPrefix(u.Query().Get("search_path"), "t_") + ":"
	ru, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	redisProxy, err := faultproxy.Start(ru.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(redisProxy.Close)
	ru.Host = redisProxy.Addr()
	redisURL = ru.String()

	// The instances' call logs are shown when the test fails: they name
	// the error behind a 9999.
	logs := &testkit.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("instance logs:\n%s", logs.String())
		}
	})
	c := &cluster{db: proxy, redis: redisProxy}
	for range n {
		m := metrics.New()
		a, err := app.OpenWith(ctx, app.Config{
			DB: dsn, MasterKey: masterKey,
			IdentityTimeout: opt.identityTimeout, CallTimeout: opt.callTimeout,
			Redis: redisURL, RedisPrefix: prefix, Metrics: m,
			Logger: slog.New(slog.NewJSONHandler(logs, nil)), Notices: io.Discard,
		}, app.Seams{Faces: scoredPipeline{p}, Enroller: p, Source: opt.source})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle(api.Path, a.Handler())
		mux.Handle("GET /metrics", a.OpsHandler())
		srv := api.NewServer("", mux)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
			a.Close()
		})
		c.instances = append(c.instances, &instance{app: a, url: "http://" + ln.Addr().String(), metrics: m})
	}
	return c
}

// merchant creates a merchant through the first instance and registers the
// person, returning its app_key and one SDK client per instance.
func (c *cluster) merchant(t *testing.T, set func(*merchant.Settings)) (string, []*client.Client) {
	t.Helper()
	s := merchant.NewSettings("cluster shop")
	if set != nil {
		set(&s)
	}
	a := c.instances[0].app
	created, err := a.Merchants.Create(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Registry.Get(ctx, idNumber); err != nil {
		img, err := os.ReadFile(photo)
		if err != nil {
			t.Skipf("faces-dev photo: %v", err)
		}
		if _, err := a.Registry.Add(ctx, idNumber, name, img); err != nil {
			t.Fatal(err)
		}
	}
	var out []*client.Client
	for _, in := range c.instances {
		out = append(out, client.New(in.url, created.Merchant.AppKey, created.Secret))
	}
	return created.Merchant.AppKey, out
}

func selfie(t *testing.T) []byte {
	t.Helper()
	img, err := os.ReadFile(photo)
	if err != nil {
		t.Skipf("faces-dev photo: %v", err)
	}
	return img
}

// scrapeValue reads one series from an instance's /metrics as Prometheus
// would; an absent series is 0.
func scrapeValue(t *testing.T, in *instance, series string) float64 {
	t.Helper()
	res, err := http.Get(in.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	return 0
}
