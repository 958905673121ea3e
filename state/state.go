// Package state keeps the service's short-lived shared state in process: the
// merchants' token buckets, the idempotency claims of calls in flight and the
// signatures accepted within the timestamp window. It implements interfaces
// owned by the domain (merchant.Limiter, merchant.Signs, verify.Claims),
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
	sweepAt int // size at which full buckets are next swept out
}

type bucket struct {
	tokens float64
	last   time.Time
	full   time.Time // when the bucket is full again if left alone
}

// NewLimiter returns an empty Limiter.
func NewLimiter() *Limiter { return &Limiter{buckets: map[string]*bucket{}, sweepAt: 1024} }

// Allow implements merchant.Limiter. A new bucket starts full; the rate and
// burst are given per call so that a changed setting applies at once.
//
// Keys may be the callers' (source addresses of failed authentications), so
// the map must not grow with every key ever seen: a bucket that has refilled
// is the same as a new one, and such buckets are swept out whenever the map
// has doubled since the last sweep.
func (l *Limiter) Allow(key string, rate float64, burst int, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(burst), last: now}
		l.buckets[key] = b
		if len(l.buckets) >= l.sweepAt {
			l.sweep(now)
		}
	}
	if now.After(b.last) {
		b.tokens += now.Sub(b.last).Seconds() * rate
		b.last = now
	}
	b.tokens = min(b.tokens, float64(burst))
	allowed := b.tokens >= 1
	if allowed {
		b.tokens--
	}
	b.full = b.last.Add(time.Duration((float64(burst) - b.tokens) / rate * float64(time.Second)))
	return allowed
}

func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if !now.Before(b.full) {
			delete(l.buckets, k)
		}
	}
	l.sweepAt = max(1024, 2*len(l.buckets))
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

// Signs is an in-process implementation of merchant.Signs: each accepted
// signature with the digest of the request it signed, until it expires.
type Signs struct {
	mu      sync.Mutex
	seen    map[string]signed
	sweepAt int // size at which expired entries are next swept out
}

type signed struct {
	digest  [32]byte
	expires time.Time
}

// NewSigns returns an empty Signs.
func NewSigns() *Signs { return &Signs{seen: map[string]signed{}, sweepAt: 1024} }

// Use implements merchant.Signs: it records key for digest until now+ttl and
// reports whether key was free or already held the same digest. The map is
// swept of expired entries whenever it has doubled since the last sweep, so
// it holds about one window's worth of accepted calls.
func (s *Signs) Use(_ context.Context, key string, digest [32]byte, ttl time.Duration) (bool, error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.seen[key]; ok && now.Before(e.expires) {
		return e.digest == digest, nil
	}
	s.seen[key] = signed{digest: digest, expires: now.Add(ttl)}
	if len(s.seen) >= s.sweepAt {
		for k, e := range s.seen {
			if !now.Before(e.expires) {
				delete(s.seen, k)
			}
		}
		s.sweepAt = max(1024, 2*len(s.seen))
	}
	return true, nil
}
