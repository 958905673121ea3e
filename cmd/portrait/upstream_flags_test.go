package main

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/upstream"
)

func TestUpstreamFlags(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		want    upstream.Settings
		wantErr bool
	}{
		{name: "nothing: registry only", want: upstream.Settings{}},
		{
			name: "upstream from flags, secret from env",
			env:  map[string]string{"PORTRAIT_UPSTREAM_APP_SECRET": "from-env"},
			args: []string{"--upstream-url", "http://b:8080", "--upstream-app-key", "pk_a", "--upstream-read-timeout", "1500ms", "--route", "upstream"},
			want: upstream.Settings{Mode: upstream.ModeUpstream, Upstream: &upstream.Config{
				URL: "http://b:8080", AppKey: "pk_a", AppSecret: "from-env", ReadTimeout: 1500 * time.Millisecond,
				ConnectTimeout: upstream.DefaultConnectTimeout, Retries: upstream.DefaultRetries, MaxConcurrent: upstream.DefaultMaxConcurrent,
				QueueWait: upstream.DefaultQueueWait, BreakerFailures: upstream.DefaultBreakerFailures, BreakerCooldown: upstream.DefaultBreakerCooldown,
			}},
		},
		{
			name: "upstream from env, secret from a file",
			env:  map[string]string{"PORTRAIT_UPSTREAM_URL": "https://sup", "PORTRAIT_UPSTREAM_APP_KEY": "pk_a", "PORTRAIT_UPSTREAM_APP_SECRET_FILE": secretFile},
			args: []string{"--upstream-retries", "-1"},
			want: upstream.Settings{Upstream: &upstream.Config{
				URL: "https://sup", AppKey: "pk_a", AppSecret: "from-file", Retries: -1,
				ConnectTimeout: upstream.DefaultConnectTimeout, ReadTimeout: upstream.DefaultReadTimeout, MaxConcurrent: upstream.DefaultMaxConcurrent,
				QueueWait: upstream.DefaultQueueWait, BreakerFailures: upstream.DefaultBreakerFailures, BreakerCooldown: upstream.DefaultBreakerCooldown,
			}},
		},
		{name: "upstream without a secret", args: []string{"--upstream-url", "http://b", "--upstream-app-key", "k"}, wantErr: true},
		{name: "key without an upstream", args: []string{"--upstream-app-key", "k"}, wantErr: true},
		{name: "unknown route", args: []string{"--route", "both"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"PORTRAIT_UPSTREAM_URL", "PORTRAIT_UPSTREAM_APP_KEY", "PORTRAIT_UPSTREAM_APP_SECRET", "PORTRAIT_UPSTREAM_APP_SECRET_FILE", "PORTRAIT_ROUTE"} {
				t.Setenv(k, tc.env[k])
			}
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			f := addUpstreamFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			got, err := f.settings()
			if (err != nil) != tc.wantErr {
				t.Fatalf("settings: %+v, %v", got, err)
			}
			if err != nil {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("settings %+v (upstream %+v), want %+v (upstream %+v)", got, got.Upstream, tc.want, tc.want.Upstream)
			}
		})
	}
}

func TestWarnUnroutable(t *testing.T) {
	var buf bytes.Buffer
	warnUnroutable([]store.Merchant{
		{AppKey: "pk_default"},
		{AppKey: "pk_registry", Route: "registry"},
		{AppKey: "pk_first", Route: "registry-first"},
		{AppKey: "pk_up", Route: "upstream"},
	}, slog.New(slog.NewTextHandler(&buf, nil)))
	for key, warned := range map[string]bool{"pk_default": false, "pk_registry": false, "pk_first": true, "pk_up": true} {
		if got := strings.Contains(buf.String(), "app_key="+key+" "); got != warned {
			t.Errorf("%s warned: %v, want %v (log %q)", key, got, warned, buf.String())
		}
	}
}
