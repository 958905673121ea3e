package redisstate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portrait-id/portrait/cluster/faultproxy"
)

// redisAddr is the throwaway Redis of PORTRAIT_TEST_REDIS, or a skip.
func redisAddr(t *testing.T) string {
	t.Helper()
	u := os.Getenv("PORTRAIT_TEST_REDIS")
	if u == "" {
		t.Skip("PORTRAIT_TEST_REDIS is not set (a redis:// URL of a throwaway server; .ci/run sets it)")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("PORTRAIT_TEST_REDIS: %v", err)
	}
	return opt.Addr
}

// fallback is a stand-in for the in-process state: it counts what reaches it
// and allows or claims everything; its daily count is that of every key.
type fallback struct {
	allows, claims, incrs, signs atomic.Int64
}

func (f *fallback) Use(context.Context, string, [32]byte, time.Duration) (bool, error) {
	f.signs.Add(1)
	return true, nil
}

func (f *fallback) Incr(context.Context, string, string) (int64, error) { return f.incrs.Add(1), nil }

func (f *fallback) Allow(string, float64, int, time.Time) bool { f.allows.Add(1); return true }

func (f *fallback) Claim(context.Context, string, [32]byte) (func(), *[32]byte, error) {
	f.claims.Add(1)
	return func() {}, nil, nil
}

type instance struct {
	*State
	fb        *fallback
	fallbacks atomic.Int64
}

// newInstances returns n States, each with its own client to addr, sharing a
// key prefix of their own so that tests do not see each other's keys.
func newInstances(t *testing.T, addr string, n int, tune func(*Options)) []*instance {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "test:" + hex.EncodeToString(b) + ":"
	var out []*instance
	for range n {
		rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { rdb.Close() })
		in := &instance{fb: &fallback{}}
		opt := Options{Prefix: prefix, OnFallback: func(string, error) { in.fallbacks.Add(1) }}
		opt.Fallback.Limiter, opt.Fallback.Claims, opt.Fallback.Counter, opt.Fallback.Signs = in.fb, in.fb, in.fb, in.fb
		if tune != nil {
			tune(&opt)
		}
		s, err := New(rdb, opt)
		if err != nil {
			t.Fatal(err)
		}
		in.State = s
		out = append(out, in)
	}
	return out
}

func TestLimitIsGlobalAcrossInstances(t *testing.T) {
	ins := newInstances(t, redisAddr(t), 2, nil)
	const burst, calls = 15, 60
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ins[i%2].Allow("pk_a", 0.01, burst, time.Now()) {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != burst {
		t.Errorf("%d of %d calls allowed over two instances, want the burst %d", allowed.Load(), calls, burst)
	}
	if !ins[0].Allow("pk_b", 0.01, 1, time.Now()) {
		t.Error("buckets are not per key")
	}
	for _, in := range ins {
		if in.fallbacks.Load() != 0 || in.fb.allows.Load() != 0 {
			t.Errorf("the fallback answered with Redis up (%d failures)", in.fallbacks.Load())
		}
	}
}

func TestLimitRefills(t *testing.T) {
	ins := newInstances(t, redisAddr(t), 2, nil)
	const rate = 20 // one token per 50ms
	if !ins[0].Allow("pk_a", rate, 1, time.Now()) {
		t.Fatal("a new bucket is not full")
	}
	if ins[1].Allow("pk_a", rate, 1, time.Now()) {
		t.Fatal("an empty bucket allowed a call")
	}
	time.Sleep(80 * time.Millisecond)
	if !ins[1].Allow("pk_a", rate, 1, time.Now()) {
		t.Error("the bucket did not refill at its rate")
	}
	time.Sleep(300 * time.Millisecond)
	n := 0
	for ins[0].Allow("pk_a", rate, 1, time.Now()) {
		n++
	}
	if n != 1 {
		t.Errorf("the bucket refilled to %d tokens, beyond its burst of 1", n)
	}
}

func TestClaimsAreShared(t *testing.T) {
	ctx := context.Background()
	ins := newInstances(t, redisAddr(t), 2, nil)
	a, b := [32]byte{1, 2, 3}, [32]byte{4, 5, 6}
	release, holder, err := ins[0].Claim(ctx, "pk_a/r1", a)
	if err != nil || holder != nil || release == nil {
		t.Fatalf("first claim: release %v, holder %v, %v", release != nil, holder, err)
	}
	for _, d := range [][32]byte{a, b} {
		r, h, err := ins[1].Claim(ctx, "pk_a/r1", d)
		if err != nil || r != nil || h == nil || *h != a {
			t.Errorf("claim on the other instance: release %v, holder %v, %v; want the first digest", r != nil, h, err)
		}
	}
	if r, h, _ := ins[1].Claim(ctx, "pk_a/r2", b); r == nil || h != nil {
		t.Error("claims are not per key")
	}
	release()
	release() // twice is harmless
	if r, h, _ := ins[1].Claim(ctx, "pk_a/r1", b); r == nil || h != nil {
		t.Error("a released key cannot be claimed on the other instance")
	}
}

func TestReleaseAfterExpiryKeepsTheNewClaim(t *testing.T) {
	ctx := context.Background()
	ins := newInstances(t, redisAddr(t), 2, func(o *Options) { o.ClaimTTL = 50 * time.Millisecond })
	a, b := [32]byte{1}, [32]byte{2}
	stale, _, err := ins[0].Claim(ctx, "k", a)
	if err != nil || stale == nil {
		t.Fatalf("claim: %v", err)
	}
	time.Sleep(120 * time.Millisecond) // the first holder's claim expires
	fresh, _, err := ins[1].Claim(ctx, "k", b)
	if err != nil || fresh == nil {
		t.Fatalf("claim after expiry: %v", err)
	}
	defer fresh()
	stale()
	if _, h, _ := ins[0].Claim(ctx, "k", a); h == nil || *h != b {
		t.Errorf("a stale release freed the new holder's claim (holder %v)", h)
	}
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestFallsBackWhenRedisIsDown(t *testing.T) {
	ctx := context.Background()
	in := newInstances(t, closedPort(t), 1, func(o *Options) { o.RetryAfter = time.Hour })[0]
	start := time.Now()
	for range 20 {
		if !in.Allow("pk_a", 1, 1, time.Now()) {
			t.Fatal("the fallback limiter was not asked")
		}
		release, holder, err := in.Claim(ctx, "k", [32]byte{})
		if err != nil || holder != nil || release == nil {
			t.Fatalf("fallback claim: %v", err)
		}
		release()
		if _, err := in.Incr(ctx, "2026-11-27", "k"); err != nil {
			t.Fatalf("fallback count: %v", err)
		}
		if ok, err := in.Use(ctx, "k", [32]byte{}, time.Minute); !ok || err != nil {
			t.Fatalf("fallback signs: %v, %v", ok, err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("80 calls with Redis down took %v", d)
	}
	if in.fb.allows.Load() != 20 || in.fb.claims.Load() != 20 || in.fb.incrs.Load() != 20 || in.fb.signs.Load() != 20 {
		t.Errorf("fallback answered %d limits, %d claims, %d counts and %d signs, want 20 each",
			in.fb.allows.Load(), in.fb.claims.Load(), in.fb.incrs.Load(), in.fb.signs.Load())
	}
	if in.fallbacks.Load() != 1 {
		t.Errorf("Redis was tried %d times within RetryAfter, want once", in.fallbacks.Load())
	}
	if in.Ping(ctx) == nil {
		t.Error("Ping succeeded with Redis down")
	}
}

// TestRecoversWhenRedisIsBack takes Redis away mid-traffic through a proxy
// and brings it back: the shared bucket is used again without a restart.
func TestRecoversWhenRedisIsBack(t *testing.T) {
	p, err := faultproxy.Start(redisAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const retry = 100 * time.Millisecond
	ins := newInstances(t, p.Addr(), 2, func(o *Options) { o.RetryAfter = retry })
	if !ins[0].Allow("pk_a", 0.01, 1, time.Now()) || ins[1].Allow("pk_a", 0.01, 1, time.Now()) {
		t.Fatal("the shared bucket of one token did not allow exactly one call")
	}
	p.Down()
	if !ins[1].Allow("pk_a", 0.01, 1, time.Now()) || ins[1].fb.allows.Load() != 1 {
		t.Fatal("with Redis down the fallback did not answer")
	}
	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * retry)
	if ins[1].Allow("pk_a", 0.01, 1, time.Now()) {
		t.Error("after recovery the shared, empty bucket allowed a call")
	}
	if ins[1].fb.allows.Load() != 1 {
		t.Errorf("the fallback still answers after Redis came back (%d calls)", ins[1].fb.allows.Load())
	}
	if err := ins[1].Ping(context.Background()); err != nil {
		t.Errorf("Ping after recovery: %v", err)
	}
}

func TestDayCountsAreSharedAcrossInstances(t *testing.T) {
	ctx := context.Background()
	ins := newInstances(t, redisAddr(t), 2, nil)
	for _, step := range []struct {
		in       int
		day, key string
		want     int64
	}{
		{0, "2026-11-27", "a", 1},
		{1, "2026-11-27", "a", 2}, // the other instance sees the first's count
		{0, "2026-11-27", "a", 3},
		{1, "2026-11-27", "b", 1}, // counts are per key
		{1, "2026-11-28", "a", 1}, // and per day
	} {
		if n, err := ins[step.in].Incr(ctx, step.day, step.key); err != nil || n != step.want {
			t.Errorf("instance %d Incr(%s, %s) = %d, %v; want %d", step.in, step.day, step.key, n, err, step.want)
		}
	}
	rkey := ins[0].opt.Prefix + "idday:2026-11-27:a"
	if ttl, err := ins[0].rdb.TTL(ctx, rkey).Result(); err != nil || ttl <= 47*time.Hour || ttl > dayCountTTL {
		t.Errorf("TTL of %s = %v, %v; want just under %v", rkey, ttl, err, dayCountTTL)
	}
	for _, in := range ins {
		if in.fallbacks.Load() != 0 || in.fb.incrs.Load() != 0 {
			t.Errorf("the fallback counted with Redis up (%d failures)", in.fallbacks.Load())
		}
	}
}

// A signature accepted on one instance is known to every other one for its
// window: a shifted copy of a captured call is refused wherever it lands.
func TestSignsAreShared(t *testing.T) {
	ctx := context.Background()
	ins := newInstances(t, redisAddr(t), 2, nil)
	a, b := [32]byte{1}, [32]byte{2}
	for i, step := range []struct {
		in     int
		key    string
		digest [32]byte
		want   bool
	}{
		{0, "pk_a\x00s1", a, true},
		{1, "pk_a\x00s1", a, true}, // the same request: a retry, on another instance
		{1, "pk_a\x00s1", b, false},
		{0, "pk_a\x00s1", b, false},
		{0, "pk_a\x00s2", b, true},
	} {
		if ok, err := ins[step.in].Use(ctx, step.key, step.digest, 10*time.Minute); ok != step.want || err != nil {
			t.Errorf("step %d: instance %d Use(%q) = %v, %v; want %v", i, step.in, step.key, ok, err, step.want)
		}
	}
	if ok, _ := ins[0].Use(ctx, "pk_a\x00short", a, 50*time.Millisecond); !ok {
		t.Fatal("a new signature was refused")
	}
	time.Sleep(150 * time.Millisecond)
	if ok, _ := ins[1].Use(ctx, "pk_a\x00short", b, time.Minute); !ok {
		t.Error("a signature is still held past its window")
	}
	for _, in := range ins {
		if in.fallbacks.Load() != 0 || in.fb.signs.Load() != 0 {
			t.Errorf("the fallback answered with Redis up (%d failures)", in.fallbacks.Load())
		}
	}
}

func TestIncrWithoutFallbackCounter(t *testing.T) {
	in := newInstances(t, closedPort(t), 1, func(o *Options) { o.Fallback.Counter = nil })[0]
	if _, err := in.Incr(context.Background(), "2026-11-27", "a"); err == nil {
		t.Error("Incr without a fallback counter succeeded")
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	var opt Options
	opt.Fallback.Limiter, opt.Fallback.Claims = &fallback{}, &fallback{}
	const password = "s3cr3t-pw"
	for _, bad := range []string{"redis://:" + password + "@127.0.0.1:notaport/0", "redis://:" + password + "@" + closedPort(t) + "/0"} {
		s, err := Open(ctx, bad, opt)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%s) succeeded", bad)
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("error shows the password: %v", err)
		}
	}
	s, err := Open(ctx, "redis://"+redisAddr(t)+"/0", opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}
