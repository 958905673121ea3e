package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/portrait-id/portrait/upstream"
)

// upstreamFlags are `portrait serve`'s flags for an upstream supplier and
// routing. The upstream's app_secret comes
// from the environment or a file, never a flag, to stay out of shell history
// and process listings.
type upstreamFlags struct {
	url, appKey, secretFile *string
	route                   *string
	cfg                     upstream.Config // timeouts and limits, set by their flags
}

func addUpstreamFlags(fs *flag.FlagSet) *upstreamFlags {
	f := &upstreamFlags{
		url:        fs.String("upstream-url", os.Getenv("PORTRAIT_UPSTREAM_URL"), "base URL of an upstream supplier speaking this API (env PORTRAIT_UPSTREAM_URL); empty: registry only"),
		appKey:     fs.String("upstream-app-key", os.Getenv("PORTRAIT_UPSTREAM_APP_KEY"), "our app_key at the upstream (env PORTRAIT_UPSTREAM_APP_KEY)"),
		secretFile: fs.String("upstream-app-secret-file", os.Getenv("PORTRAIT_UPSTREAM_APP_SECRET_FILE"), "file holding our app_secret at the upstream (env PORTRAIT_UPSTREAM_APP_SECRET_FILE; or the secret itself in PORTRAIT_UPSTREAM_APP_SECRET)"),
		route: fs.String("route", os.Getenv("PORTRAIT_ROUTE"), fmt.Sprintf("where verifications are answered: %s, %s or %s (env PORTRAIT_ROUTE; default %s with an upstream, %s without)",
			upstream.ModeRegistry, upstream.ModeRegistryFirst, upstream.ModeUpstream, upstream.ModeRegistryFirst, upstream.ModeRegistry)),
	}
	fs.DurationVar(&f.cfg.ConnectTimeout, "upstream-connect-timeout", upstream.DefaultConnectTimeout, "bound on connecting to the upstream")
	fs.DurationVar(&f.cfg.ReadTimeout, "upstream-read-timeout", upstream.DefaultReadTimeout, "bound on the upstream's answer once connected")
	fs.IntVar(&f.cfg.Retries, "upstream-retries", upstream.DefaultRetries, "retries of a failed connect (never of a request that was sent); negative: none")
	fs.IntVar(&f.cfg.MaxConcurrent, "upstream-max-concurrent", upstream.DefaultMaxConcurrent, "cap on calls in flight to the upstream")
	fs.DurationVar(&f.cfg.QueueWait, "upstream-queue-wait", upstream.DefaultQueueWait, "how long a call waits for a free slot under the cap before answering 2000")
	fs.IntVar(&f.cfg.BreakerFailures, "upstream-breaker-failures", upstream.DefaultBreakerFailures, "consecutive upstream failures that open the circuit breaker")
	fs.DurationVar(&f.cfg.BreakerCooldown, "upstream-breaker-cooldown", upstream.DefaultBreakerCooldown, "how long an open breaker answers 2000 before probing the upstream")
	return f
}

// envInt reads an integer default from the environment; a malformed value is
// ignored here and the flag's parse reports nothing, so it is checked again
// in settings.
func envInt(name string, def int64) int64 {
	if n, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil {
		return n
	}
	return def
}

// settings checks the flags (after parsing) and returns what upstream.Open
// takes.
func (f *upstreamFlags) settings() (upstream.Settings, error) {
	var s upstream.Settings
	var err error
	if s.Mode, err = upstream.ParseMode(*f.route, ""); err != nil {
		return s, err
	}
	if *f.url == "" {
		if *f.appKey != "" || *f.secretFile != "" {
			return s, errors.New("--upstream-app-key or --upstream-app-secret-file given without --upstream-url")
		}
		return s, nil
	}
	cfg := f.cfg
	cfg.URL, cfg.AppKey = *f.url, *f.appKey
	if cfg.AppSecret, err = upstreamSecret(*f.secretFile); err != nil {
		return s, err
	}
	s.Upstream = &cfg
	return s, nil
}

func upstreamSecret(file string) (string, error) {
	if file == "" {
		if s := os.Getenv("PORTRAIT_UPSTREAM_APP_SECRET"); s != "" {
			return s, nil
		}
		return "", errors.New("an upstream needs our app_secret there: set PORTRAIT_UPSTREAM_APP_SECRET or --upstream-app-secret-file")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("upstream app_secret: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
