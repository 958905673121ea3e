// Package app assembles the service from its parts (storage, master key,
// merchants, identity registry, ledger, face pipeline, verification, HTTP
// handler) for `portrait serve`, the operator's CLI commands and end-to-end
// tests, so that each of them runs the same wiring.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/portrait-id/portrait/api"
	"github.com/portrait-id/portrait/console"
	"github.com/portrait-id/portrait/face"
	"github.com/portrait-id/portrait/face/calibration"
	"github.com/portrait-id/portrait/gate"
	"github.com/portrait-id/portrait/identity"
	"github.com/portrait-id/portrait/ledger"
	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/metrics"
	"github.com/portrait-id/portrait/models"
	"github.com/portrait-id/portrait/state"
	"github.com/portrait-id/portrait/state/redisstate"
	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/store/postgres"
	"github.com/portrait-id/portrait/store/sqlite"
	"github.com/portrait-id/portrait/upstream"
	"github.com/portrait-id/portrait/verify"
)

// DefaultDB is where the embedded store lives unless configured: relative to
// the working directory, so that `portrait serve` alone is ready for a call.
const DefaultDB = "./data/portrait.db"

// Capacity defaults. A call's pipeline run takes ~15 ms of a core, so a
// second's queue absorbs a burst of ~60 calls per core without a call
// missing its deadline; 64 MiB of bodies is ~20 calls at the 3 MiB limit
// and hundreds of ordinary selfies, and reading, parsing and decoding one
// costs a few times its length, which keeps a flood of large bodies from
// strangers within a few hundred MB.
const (
	DefaultPipelineWait = time.Second
	DefaultBodyBudget   = 64 << 20
	DefaultBodyWait     = 2 * time.Second
)

// The per-ID-number daily limits `portrait serve` applies unless told
// otherwise. A person verifying themselves needs a handful of calls a day
// with one app; twenty leave room for retries, and a hundred across all
// merchants for several apps, while stopping anyone from trying names or
// selfies against one ID number at scale. One merchant can spend at most a
// fifth of the ceiling, so locking a person out for the others takes five
// accounts, not one.
const (
	DefaultIDDailyLimit  = 20
	DefaultIDDailyGlobal = 100
)

// ErrNoMasterKey is a shared database (PostgreSQL) opened without a master
// key: generating one there would leave every other instance unable to read
// the secrets.
var ErrNoMasterKey = errors.New("no master key configured (set PORTRAIT_MASTER_KEY or --master-key-file)")

// ErrNoDatabase is a SQLite database that does not exist, opened with
// Config.MustExist.
var ErrNoDatabase = errors.New("no database at this path")

// Config configures Open. Zero fields take the defaults given.
type Config struct {
	// DB is a SQLite file path (default DefaultDB) or a postgres:// URL.
	DB string
	// MustExist refuses to create a SQLite database that is not there yet
	// (the operator's commands, unless told to create one).
	MustExist bool
	// MasterKey is the key as ParseKey reads it (hex or base64); else
	// MasterKeyFile names a file holding it; else, with SQLite only, the key
	// is kept in "<DB>.key", generated on first use.
	MasterKey     string
	MasterKeyFile string

	// Faces selects what the service compares faces with:
	// FacesPipeline (default) loads the models from ModelsDir;
	// FacesNone builds no verifier (administrative commands), and photos
	// cannot be enrolled.
	Faces     FacesMode
	ModelsDir string // default models.DefaultDir()
	// Embedding names the descriptor (default face.DefaultEmbedding). Serving
	// and enrolment must use the same one: templates of another model do not
	// compare.
	Embedding string

	// Routing is the upstream supplier and the registry/upstream route the
	// upstream.Router in front of the source takes, as `portrait serve`'s
	// flags describe them; nil: the source alone.
	Routing *upstream.Settings
	// Redis (redis://…), when set and the service verifies calls, shares
	// rate limits, request_id claims, accepted signs and the per-ID-number
	// daily counts between instances, falling back to the in-process state
	// while Redis is down.
	Redis string
	// RedisPrefix namespaces this service's Redis keys (default
	// redisstate's), for services or tests sharing one Redis.
	RedisPrefix string
	// Metrics, when set, observes storage, face stages, identity lookups and
	// every answer; OpsHandler serves it with the health checks.
	Metrics *metrics.Metrics

	// IDDailyLimit is how many verifications of one ID number each merchant
	// may make per UTC day, IDDailyGlobal how many all merchants together
	// may; 0: no limit. Counted on Redis when configured.
	IDDailyLimit, IDDailyGlobal int64

	IdentityTimeout time.Duration // default verify's
	// CallTimeout is one call's deadline from its arrival (default
	// verify.DefaultCallTimeout).
	CallTimeout time.Duration
	// PipelineSlots bounds the selfies in the face pipeline at once
	// (default: the number of cores, which the pipeline saturates);
	// PipelineWait is how long a call queues for a slot before it is
	// answered busy (default DefaultPipelineWait).
	PipelineSlots int
	PipelineWait  time.Duration
	// BodyBudget bounds the bytes of request bodies being read and held by
	// calls in flight (default DefaultBodyBudget); a body that does not fit
	// within BodyWait (default DefaultBodyWait) is answered busy unread.
	BodyBudget  int64
	BodyWait    time.Duration
	MerchantTTL time.Duration // default merchant.DefaultCacheTTL
	Logger      *slog.Logger  // per-call log; default JSON on stderr
	Notices     io.Writer     // operator notices (generated key); default stderr
}

// FacesMode is how Open obtains the face pipeline.
type FacesMode int

const (
	FacesPipeline FacesMode = iota
	FacesNone
)

// Seams are the parts of the production wiring a test may replace, and
// nothing else: what stands for them is wired exactly as the production
// part would be (metrics, routing, gates, Redis), so that a test with seams
// runs serve's wiring around them.
type Seams struct {
	// Faces and Enroller replace the face pipeline (Config.Faces is then
	// not read).
	Faces    verify.Faces
	Enroller identity.Enroller
	// Source replaces the embedded registry as the identity source behind
	// the router.
	Source identity.Source
}

// App is the assembled service.
type App struct {
	Store     store.Store
	Merchants *merchant.Service
	Registry  *identity.Registry
	Ledger    *ledger.Book
	Verifier  *verify.Service // nil with FacesNone

	handler    http.Handler
	ops        http.Handler
	pipeline   *face.Pipeline
	redis      *redisstate.State
	router     *upstream.Router // registry only without Config.Routing
	descriptor string
}

// Open assembles the service; Close releases it.
func Open(ctx context.Context, cfg Config) (*App, error) { return OpenWith(ctx, cfg, Seams{}) }

// OpenWith assembles the service as Open does, with the parts s gives in
// place of production's.
func OpenWith(ctx context.Context, cfg Config, s Seams) (*App, error) {
	if cfg.DB == "" {
		cfg.DB = DefaultDB
	}
	if cfg.Notices == nil {
		cfg.Notices = os.Stderr
	}
	a := &App{descriptor: cmp.Or(cfg.Embedding, face.DefaultEmbedding)}
	if err := a.open(ctx, cfg, s); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// open assembles a in the order Open's guarantees need; on an error the
// caller closes what was opened.
func (a *App) open(ctx context.Context, cfg Config, s Seams) error {
	faces, enroller, err := a.openFaces(cfg, s)
	if err != nil {
		return err
	}
	sealer, err := a.openStorage(ctx, cfg)
	if err != nil {
		return err
	}
	limiter, claims, signs, err := a.openState(ctx, cfg, faces != nil)
	if err != nil {
		return err
	}
	a.Merchants = merchant.New(merchant.Config{Store: a.Store, Sealer: sealer, Limiter: limiter, Signs: signs, CacheTTL: cfg.MerchantTTL})
	a.Registry = identity.NewRegistry(a.Store, enroller, sealer)
	if err := a.sealRegistry(ctx, sealer, cfg.Notices); err != nil {
		return err
	}
	a.Ledger = ledger.Open(a.Store)
	if faces == nil {
		return nil
	}
	return a.openService(cfg, s.Source, faces, claims)
}

// openFaces loads the face pipeline Config.Faces names, or takes the
// seams'.
func (a *App) openFaces(cfg Config, s Seams) (verify.Faces, identity.Enroller, error) {
	faces, enroller := s.Faces, s.Enroller
	switch {
	case faces != nil:
	case cfg.Faces == FacesPipeline:
		p, err := OpenFaces(cfg.ModelsDir, cfg.Embedding)
		if err != nil {
			return nil, nil, err
		}
		a.pipeline = p
		faces, enroller = PipelineFaces{p}, p
	default:
		return nil, nil, nil
	}
	// Stage timings need a pipeline that reports them; a stand-in that
	// does not is left unobserved.
	if t, ok := faces.(metrics.TracingFaces); ok && cfg.Metrics != nil {
		faces = cfg.Metrics.Faces(t)
	}
	return faces, enroller, nil
}

// openStorage checks the database, resolves the master key, opens the
// store and checks the key against it. The database is checked before the
// key, and the key after the models: a refused start creates no key file.
func (a *App) openStorage(ctx context.Context, cfg Config) (*merchant.Sealer, error) {
	if err := checkDB(cfg); err != nil {
		return nil, err
	}
	key, err := masterKey(cfg)
	if err != nil {
		return nil, err
	}
	sealer, err := merchant.NewSealer(key)
	if err != nil {
		return nil, err
	}
	if a.Store, err = OpenStore(ctx, cfg.DB); err != nil {
		return nil, err
	}
	if err := merchant.CheckKey(ctx, a.Store, sealer); err != nil {
		return nil, err
	}
	if cfg.Metrics != nil {
		a.Store = cfg.Metrics.Store(a.Store)
	}
	return sealer, nil
}

// openState returns the rate limiter, request_id claims and accepted signs:
// in process, or on Redis (falling back to the in-process ones) when
// configured and the service verifies calls.
func (a *App) openState(ctx context.Context, cfg Config, verifies bool) (merchant.Limiter, verify.Claims, merchant.Signs, error) {
	var limiter merchant.Limiter = state.NewLimiter()
	var claims verify.Claims = state.NewClaims()
	var signs merchant.Signs = state.NewSigns()
	if cfg.Redis == "" || !verifies {
		return limiter, claims, signs, nil
	}
	opt := redisstate.Options{Prefix: cfg.RedisPrefix}
	opt.Fallback.Limiter, opt.Fallback.Claims, opt.Fallback.Counter, opt.Fallback.Signs = limiter, claims, merchant.NewMemoryCounter(), signs
	if cfg.Metrics != nil {
		opt.OnFallback = cfg.Metrics.RedisFallback
	}
	var err error
	if a.redis, err = redisstate.Open(ctx, cfg.Redis, opt); err != nil {
		return nil, nil, nil, err
	}
	return a.redis, a.redis, a.redis, nil
}

// openService wires the verifier and the HTTP handlers: identity source and
// routing, capacity gates, per-ID limits.
func (a *App) openService(cfg Config, source identity.Source, faces verify.Faces, claims verify.Claims) error {
	if source == nil {
		source = a.Registry
	}
	if cfg.Metrics != nil {
		source = cfg.Metrics.Source(source)
	}
	// The router runs with or without an upstream, so that every instance
	// (and every test) answers a merchant's route the way serve does.
	var routing upstream.Settings
	if cfg.Routing != nil {
		routing = *cfg.Routing
	}
	router, err := upstream.Open(source, routing)
	if err != nil {
		return err
	}
	a.router = router
	pipeline, bodies := capacity(cfg)
	var idLimits *merchant.IDLimits
	if cfg.IDDailyLimit > 0 || cfg.IDDailyGlobal > 0 {
		// The limits guard a person's record: with several instances only
		// a shared count means what it says.
		idLimits = &merchant.IDLimits{PerMerchant: cfg.IDDailyLimit, Global: cfg.IDDailyGlobal, Counter: merchant.NewMemoryCounter()}
		if a.redis != nil {
			idLimits.Counter = a.redis
		}
	}
	a.Verifier, err = verify.NewService(verify.Config{
		Merchants: a.Merchants, Claims: claims, Faces: faces, Identities: router, Ledger: a.Ledger,
		IdentityTimeout: cfg.IdentityTimeout, CallTimeout: cfg.CallTimeout, Pipeline: pipeline, IDLimits: idLimits, Logger: cfg.Logger,
	})
	if err != nil {
		return err
	}
	opts := api.Options{Logger: cfg.Logger, Bodies: bodies, FailureBudget: func(source string) bool {
		return a.Merchants.OverFailureBudget(source, time.Now())
	}}
	if cfg.Metrics != nil {
		opts.Observer = cfg.Metrics
	}
	a.handler = api.NewHandler(a.Verifier, opts)
	a.ops = a.opsHandler(cfg)
	return nil
}

// capacity returns the gates Config describes, observed by its metrics.
func capacity(cfg Config) (*gate.Gate, *gate.Budget) {
	slots, wait := cfg.PipelineSlots, cfg.PipelineWait
	if slots <= 0 {
		slots = runtime.GOMAXPROCS(0)
	}
	if wait <= 0 {
		wait = DefaultPipelineWait
	}
	size, bwait := cfg.BodyBudget, cfg.BodyWait
	if size <= 0 {
		size = DefaultBodyBudget
	}
	if bwait <= 0 {
		bwait = DefaultBodyWait
	}
	var obs gate.Observer
	if cfg.Metrics != nil {
		obs = cfg.Metrics
	}
	pipeline := gate.New("pipeline", slots, wait, obs)
	bodies := gate.NewBudget("bodies", size, bwait, obs)
	if cfg.Metrics != nil {
		cfg.Metrics.WatchGate("pipeline", pipeline.InFlight, pipeline.Waiting)
		cfg.Metrics.WatchGate("bodies", bodies.Held, bodies.Waiting)
	}
	return pipeline, bodies
}

// Handler serves the document's API; nil when opened with FacesNone.
func (a *App) Handler() http.Handler { return a.handler }

// OpsHandler serves GET /healthz (the process answers), /readyz (storage
// and Redis answer) and, with Config.Metrics, /metrics: meant for a port of
// its own, apart from the merchants' API. Nil when opened with FacesNone.
func (a *App) OpsHandler() http.Handler { return a.ops }

func (a *App) opsHandler(cfg Config) http.Handler {
	checks := a.readyChecks()
	var degraded func(bool)
	if cfg.Metrics != nil {
		degraded = cfg.Metrics.Degraded
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", metrics.Health())
	mux.Handle("GET /readyz", metrics.Ready(func(check string, err error) {
		logger.Warn("readiness check failing", slog.String("check", check), slog.String("error", err.Error()))
	}, degraded, checks...))
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics.Handler())
	}
	return mux
}

// readyChecks are what an instance needs to answer calls: storage and,
// when configured, Redis.
func (a *App) readyChecks() []metrics.Check {
	checks := []metrics.Check{{Name: "storage", Fn: a.pingStore}}
	if a.redis != nil {
		// The limiter, claims and daily counts fall back to this process
		// while Redis is down: degraded, not out of service.
		checks = append(checks, metrics.Check{Name: "redis", Fn: a.redis.Ping, Degrades: true})
	}
	return checks
}

// Console returns the operators' web console over this app; secure marks
// its cookies for TLS. Its dashboard shows the readiness checks and, with
// an upstream, whether the upstream's circuit breaker lets calls through.
func (a *App) Console(secure bool) (*console.Console, error) {
	checks := a.readyChecks()
	if a.router != nil && a.router.UpstreamState() != "" {
		checks = append(checks, metrics.Check{Name: "upstream", Fn: func(context.Context) error {
			if st := a.router.UpstreamState(); st == upstream.StateOpen {
				return fmt.Errorf("upstream circuit %s", st)
			}
			return nil
		}})
	}
	return console.New(console.Config{Store: a.Store, Merchants: a.Merchants, Registry: a.Registry, Checks: checks,
		Descriptor: a.descriptor, Secure: secure})
}

// pingStore asks the backend whether it answers, when it can tell.
func (a *App) pingStore(ctx context.Context) error {
	if p, ok := a.Store.(interface{ Ping(context.Context) error }); ok {
		return p.Ping(ctx)
	}
	return nil
}

// Close stops the ledger writer (after committing what is queued), then
// closes the store and the face pipeline.
func (a *App) Close() error {
	var errs []error
	if a.Ledger != nil {
		errs = append(errs, a.Ledger.Close())
	}
	if a.Store != nil {
		errs = append(errs, a.Store.Close())
	}
	if a.pipeline != nil {
		errs = append(errs, a.pipeline.Close())
	}
	if a.redis != nil {
		errs = append(errs, a.redis.Close())
	}
	return errors.Join(errs...)
}

// OpenStore opens the backend a DSN names: a postgres:// URL, or a SQLite
// file path (optionally as a file: or sqlite: URL).
func OpenStore(ctx context.Context, dsn string) (store.Store, error) {
	if isPostgres(dsn) {
		st, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", redact(dsn), err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, sqlitePath(dsn))
	if err != nil {
		return nil, err // not st: a nil *sqlite.DB in the interface is not nil
	}
	return st, nil
}

func sqlitePath(dsn string) string {
	return strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "file:")
}

// checkDB refuses a SQLite path that holds something else than a database,
// and, with MustExist, one that holds nothing: a mistyped --db would
// otherwise create an empty database with a new master key beside it.
func checkDB(cfg Config) error {
	if isPostgres(cfg.DB) {
		return nil
	}
	path := sqlitePath(cfg.DB)
	exists, err := sqlite.Check(path)
	if err != nil {
		return err
	}
	if !exists && cfg.MustExist {
		return fmt.Errorf("%w: %s (only serve on the default %s creates one unasked; give --create to make a new one)", ErrNoDatabase, path, DefaultDB)
	}
	return nil
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// redact drops a URL's password so that errors can name the database.
func redact(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return dsn
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "…@" + rest[at+1:]
	}
	return scheme + "://" + rest
}

// masterKey resolves the key by Config's order of precedence.
func masterKey(cfg Config) ([]byte, error) {
	switch {
	case cfg.MasterKey != "":
		return merchant.ParseKey(cfg.MasterKey)
	case cfg.MasterKeyFile != "":
		return merchant.ReadKeyFile(cfg.MasterKeyFile)
	case isPostgres(cfg.DB):
		return nil, ErrNoMasterKey
	}
	path := sqlitePath(cfg.DB) + ".key"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create directory of %s: %w", path, err)
	}
	key, created, err := merchant.EnsureKeyFile(path)
	if err != nil {
		return nil, err
	}
	if created {
		fmt.Fprintf(cfg.Notices, "portrait: generated a master key in %s (mode 0600); keep it with the database: without it no app_secret can be read\n", path)
	}
	return key, nil
}

// OpenFaces loads the face pipeline from modelsDir (default
// models.DefaultDir()) with the named descriptor (default
// face.DefaultEmbedding), refusing with the command that fetches the models
// when they are missing or corrupt, and refusing a descriptor without a
// calibration table, which could enrol photos but never score a call.
func OpenFaces(modelsDir, embedding string) (*face.Pipeline, error) {
	if modelsDir == "" {
		modelsDir = models.DefaultDir()
	}
	if embedding == "" {
		embedding = face.DefaultEmbedding
	}
	if err := models.Check(modelsDir); err != nil {
		return nil, fmt.Errorf("face models in %s: %w", modelsDir, err)
	}
	if _, err := face.LookupCalibration(modelsDir, embedding); err != nil {
		return nil, fmt.Errorf("embedding %s: %w (calibrated: %s; fit one with `portrait bench calibrate`)", embedding, err, strings.Join(calibration.Models(), ", "))
	}
	return face.Open(face.Config{ModelsDir: modelsDir, Embedding: face.EmbedderConfig{Model: embedding}})
}

// PipelineFaces adapts face.Pipeline to verify.Faces: scoring is a function
// of two templates, not of the loaded models. It is what Open uses with
// FacesPipeline, for callers that load the pipeline themselves and give it
// as Seams.Faces.
type PipelineFaces struct{ *face.Pipeline }

func (PipelineFaces) Score(probe, ref face.Template) (float64, error) { return face.Score(probe, ref) }
