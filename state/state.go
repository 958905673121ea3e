// Package state keeps the service's short-lived shared state in process: the
// merchants' token buckets and the idempotency claims of calls in flight. It
// implements interfaces owned by the domain (merchant.Limiter, verify.Claims),
// so that a shared backend (Redis) can replace it for several instances.
package state

import (
	"context"
	"sync"
	"time"
)

// Limiter is an in-process token-bucket limiter, one bucket per key.
type Limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewLimiter returns an empty Limiter.
func NewLimiter() *Limiter { return &Limiter{buckets: map[string]*bucket{}} }

// Allow implements merchant.Limiter. A new bucket starts full; the rate and
// burst are given per call so that a changed setting applies at once.
func (l *Limiter) Allow(key string, rate float64, burst int, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(burst), last: now}
		l.buckets[key] = b
	}
	if now.After(b.last) {
		b.tokens += now.Sub(b.last).Seconds() * rate
		b.last = now
	}
	b.tokens = min(b.tokens, float64(burst))
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Claims is an in-process implementation of verify.Claims.
type Claims struct {
	mu   sync.Mutex
	held map[string][32]byte
}

// NewClaims returns an empty Claims.
func NewClaims() *Claims { return &Claims{held: map[string][32]byte{}} }

// Claim implements verify.Claims: it marks key as in flight for digest and
// returns the release function, or, when another call holds key, that call's
// digest.
func (c *Claims) Claim(_ context.Context, key string, digest [32]byte) (func(), *[32]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.held[key]; ok {
		return nil, &d, nil
	}
	c.held[key] = digest
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			delete(c.held, key)
			c.mu.Unlock()
		})
	}, nil, nil
}
