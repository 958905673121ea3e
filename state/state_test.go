package state

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimiterBucket(t *testing.T) {
	l := NewLimiter()
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at   time.Duration
		want bool
	}{
		{0, true}, {0, true}, {0, true}, // burst 3
		{0, false},
		{100 * time.Millisecond, false}, // 0.5 token at 5/s
		{200 * time.Millisecond, true},  // 1 token
		{200 * time.Millisecond, false},
		{10 * time.Second, true}, {10 * time.Second, true}, {10 * time.Second, true}, // refilled to burst only
		{10 * time.Second, false},
	}
	for i, s := range steps {
		if got := l.Allow("k", 5, 3, t0.Add(s.at)); got != s.want {
			t.Errorf("step %d at %v: Allow = %v, want %v", i, s.at, got, s.want)
		}
	}
	if !l.Allow("other", 5, 1, t0) {
		t.Error("buckets are not per key")
	}
}

func TestLimiterClockGoingBack(t *testing.T) {
	l := NewLimiter()
	t0 := time.Unix(1000, 0)
	l.Allow("k", 1, 1, t0)
	if l.Allow("k", 1, 1, t0.Add(-time.Hour)) {
		t.Error("a clock step backwards refilled the bucket")
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter()
	now := time.Unix(1000, 0)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if l.Allow("k", 1, 100, now) {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 100 {
		t.Errorf("%d calls allowed from a bucket of 100", ok.Load())
	}
}

func TestClaims(t *testing.T) {
	ctx := context.Background()
	c := NewClaims()
	a, b := [32]byte{1}, [32]byte{2}
	release, holder, err := c.Claim(ctx, "k", a)
	if err != nil || holder != nil || release == nil {
		t.Fatalf("first claim: release %v, holder %v, %v", release != nil, holder, err)
	}
	for _, d := range [][32]byte{a, b} {
		if r, h, _ := c.Claim(ctx, "k", d); r != nil || h == nil || *h != a {
			t.Errorf("claim of a held key: release %v, holder %v; want the first digest", r != nil, h)
		}
	}
	if r, h, _ := c.Claim(ctx, "other", b); r == nil || h != nil {
		t.Error("claims are not per key")
	}
	release()
	release() // twice is harmless
	if r, h, _ := c.Claim(ctx, "k", b); r == nil || h != nil {
		t.Error("a released key cannot be claimed again")
	}
}

// Buckets of keys that stopped calling are dropped once they have refilled,
// so callers' addresses as keys do not grow memory without bound.
func TestLimiterForgetsRefilledBuckets(t *testing.T) {
	l := NewLimiter()
	t0 := time.Unix(1000, 0)
	for i := range 100_000 {
		l.Allow(fmt.Sprint("ip:", i), 1, 2, t0.Add(time.Duration(i)*time.Millisecond))
	}
	l.mu.Lock()
	n := len(l.buckets)
	l.mu.Unlock()
	// A bucket of burst 2 after one call refills in 1 s: about 1,000 keys
	// are still refilling at any time, and the map is swept at twice its size.
	if n > 4096 {
		t.Errorf("%d buckets kept", n)
	}
	// A drained bucket is not forgotten while it refills.
	l.Allow("hot", 1, 1, t0)
	for i := range 5000 {
		l.Allow(fmt.Sprint("other:", i), 1, 1, t0)
	}
	if l.Allow("hot", 1, 1, t0.Add(100*time.Millisecond)) {
		t.Error("a drained bucket was refilled by a sweep")
	}
}

func TestSigns(t *testing.T) {
	ctx := context.Background()
	s := NewSigns()
	a, b := [32]byte{1}, [32]byte{2}
	steps := []struct {
		key    string
		digest [32]byte
		ttl    time.Duration
		want   bool
	}{
		{"k", a, time.Minute, true},
		{"k", a, time.Minute, true}, // the same request again: its retry
		{"k", b, time.Minute, false},
		{"other", b, time.Minute, true},
		{"short", a, time.Nanosecond, true},
	}
	for i, st := range steps {
		if ok, err := s.Use(ctx, st.key, st.digest, st.ttl); ok != st.want || err != nil {
			t.Errorf("step %d: Use(%s) = %v, %v; want %v", i, st.key, ok, err, st.want)
		}
	}
	time.Sleep(time.Millisecond)
	if ok, _ := s.Use(ctx, "short", b, time.Minute); !ok {
		t.Error("an expired signature is still held")
	}
	for i := range 10_000 {
		s.Use(ctx, fmt.Sprint("gone:", i), a, time.Nanosecond)
	}
	s.mu.Lock()
	n := len(s.seen)
	s.mu.Unlock()
	if n > 2048 {
		t.Errorf("%d expired signatures kept", n)
	}
}
