// Package redisstate keeps the state several instances must share at call
// rate in Redis: the per-merchant token buckets (one global limit, not one per
// instance), the idempotency claims of calls in flight and the per-ID-number
// daily counts and the signatures accepted within the timestamp window. It
// implements the same interfaces as the in-process package state and
// upstream (merchant.Limiter, merchant.Signs, verify.Claims, merchant.Counter).
//
// When Redis cannot be reached the service keeps answering: each instance
// falls back to its in-process limiter, claims and counter (given in
// Fallback) and tries Redis again after RetryAfter. A merchant's rate limit
// is then enforced per instance (up to N times the limit with N instances),
// concurrent duplicates of one request_id on different instances are no
// longer held back, and an ID number's daily count starts afresh in each
// instance; the quota and the ledger live in the database and stay exact. The
// alternative, failing closed, would turn a Redis outage into a full outage
// of a service whose billing does not depend on Redis.
package redisstate

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limiter is what the fallback rate limiter provides (state.Limiter).
type Limiter interface {
	Allow(key string, rate float64, burst int, now time.Time) bool
}

// Claims is what the fallback claims provide (state.Claims).
type Claims interface {
	Claim(ctx context.Context, key string, digest [32]byte) (release func(), holder *[32]byte, err error)
}

// Counter is what the fallback daily counter provides (merchant.Counter).
type Counter interface {
	Incr(ctx context.Context, day, key string) (int64, error)
}

// Signs is what the fallback signature memory provides (state.Signs).
type Signs interface {
	Use(ctx context.Context, key string, digest [32]byte, ttl time.Duration) (bool, error)
}

// Defaults of Options.
const (
	DefaultPrefix     = "portrait:"
	DefaultOpTimeout  = 250 * time.Millisecond
	DefaultRetryAfter = time.Second
	DefaultClaimTTL   = 2 * time.Minute
)

// Options configure a State. Fallback.Limiter and Fallback.Claims are
// required; Fallback.Counter is required for Incr, Fallback.Signs for Use.
type Options struct {
	Fallback struct {
		Limiter Limiter
		Claims  Claims
		Counter Counter
		Signs   Signs
	}
	// Prefix of every key, so that several deployments can share a server.
	Prefix string
	// OpTimeout bounds one Redis round trip; beyond it the fallback answers.
	OpTimeout time.Duration
	// RetryAfter is how long Redis is left alone after a failure, so that an
	// outage costs one timeout per RetryAfter rather than one per call.
	RetryAfter time.Duration
	// ClaimTTL is how long a claim outlives an instance that died holding
	// it. It must exceed the longest call.
	ClaimTTL time.Duration
	// OnFallback, when set, is told of every Redis failure that made the
	// fallback answer (op is "limit", "claim" or "idday"), for logs and
	// metrics.
	OnFallback func(op string, err error)
}

// State is the Redis-backed limiter and claims.
type State struct {
	rdb       redis.UniversalClient
	owned     bool // rdb was made by Open and is closed by Close
	opt       Options
	downUntil atomic.Int64 // unix nanoseconds; Redis is skipped before then
}

// New returns a State using rdb, which the caller owns and closes.
func New(rdb redis.UniversalClient, opt Options) (*State, error) {
	if opt.Fallback.Limiter == nil || opt.Fallback.Claims == nil {
		return nil, errors.New("redisstate: a fallback limiter and claims are required")
	}
	if opt.Prefix == "" {
		opt.Prefix = DefaultPrefix
	}
	if opt.OpTimeout <= 0 {
		opt.OpTimeout = DefaultOpTimeout
	}
	if opt.RetryAfter <= 0 {
		opt.RetryAfter = DefaultRetryAfter
	}
	if opt.ClaimTTL <= 0 {
		opt.ClaimTTL = DefaultClaimTTL
	}
	return &State{rdb: rdb, opt: opt}, nil
}

// Open connects to the Redis server of url (redis://[user:password@]host:port/db
// or rediss:// for TLS) and checks that it answers: a Redis configured but
// unreachable at start is a configuration error worth refusing to start for.
// Later outages are met by the fallback.
func Open(ctx context.Context, url string, opt Options) (*State, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		// The URL may hold a password, and url.Parse errors quote it.
		return nil, errors.New("redisstate: the Redis URL does not parse (expected redis://[:password@]host:port/db)")
	}
	// One attempt per call: the fallback, not a retry, answers a failure.
	ro.MaxRetries = -1
	if ro.DialTimeout == 0 || ro.DialTimeout > time.Second {
		ro.DialTimeout = time.Second
	}
	// Each operation's context (OpTimeout) bounds its reads and writes, and
	// the wait for a pooled connection: by default go-redis ignores context
	// deadlines for the 3 s socket timeouts, so a stalled Redis held every
	// call for 3 s per operation, past its deadline.
	ro.ContextTimeoutEnabled = true
	if ro.PoolTimeout == 0 || ro.PoolTimeout > time.Second {
		ro.PoolTimeout = time.Second
	}
	rdb := redis.NewClient(ro)
	s, err := New(rdb, opt)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	s.owned = true
	if err := s.Ping(ctx); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redisstate: %s: %w", ro.Addr, err)
	}
	return s, nil
}

// Close closes the client when Open made it.
func (s *State) Close() error {
	if !s.owned {
		return nil
	}
	return s.rdb.Close()
}

// Ping reports whether Redis answers, for readiness checks.
func (s *State) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// usable reports whether Redis is worth asking now.
func (s *State) usable() bool { return time.Now().UnixNano() >= s.downUntil.Load() }

func (s *State) failed(op string, err error) {
	s.downUntil.Store(time.Now().Add(s.opt.RetryAfter).UnixNano())
	if s.opt.OnFallback != nil {
		s.opt.OnFallback(op, err)
	}
}

// bucketScript is one token bucket, refilled and taken in one atomic step on
// the Redis server's clock: the instances' clocks differ, the server's is the
// one they share. A bucket left alone expires once it would be full again,
// which is the same as a new, full bucket.
var bucketScript = redis.NewScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(b[1])
local last = tonumber(b[2])
if tokens == nil or last == nil then
	tokens = burst
	last = now
end
if now > last then
	tokens = tokens + (now - last) * rate
	last = now
end
if tokens > burst then
	tokens = burst
end
local allowed = 0
if tokens >= 1 then
	tokens = tokens - 1
	allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'last', tostring(last))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return allowed
`)

// Allow implements merchant.Limiter with one bucket per key shared by every
// instance. now is used only by the fallback: the shared bucket runs on the
// Redis server's clock.
func (s *State) Allow(key string, rate float64, burst int, now time.Time) bool {
	if !s.usable() || !(rate > 0) || math.IsInf(rate, 0) {
		return s.opt.Fallback.Limiter.Allow(key, rate, burst, now)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opt.OpTimeout)
	defer cancel()
	n, err := bucketScript.Run(ctx, s.rdb, []string{s.opt.Prefix + "bucket:" + key}, rate, burst).Int()
	if err != nil {
		s.failed("limit", err)
		return s.opt.Fallback.Limiter.Allow(key, rate, burst, now)
	}
	return n == 1
}

// claimScript takes a free claim or returns the holder's value, atomically,
// so that a claim released between a failed SET and a GET cannot be missed.
var claimScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
	return false
end
return redis.call('GET', KEYS[1])
`)

// releaseScript deletes a claim only if it is still this call's: after a
// TTL expiry another call may hold the key.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// Claim implements verify.Claims across instances: it marks key as in flight
// for digest and returns the release function, or, when another call on any
// instance holds key, that call's digest.
func (s *State) Claim(ctx context.Context, key string, digest [32]byte) (func(), *[32]byte, error) {
	if !s.usable() {
		return s.opt.Fallback.Claims.Claim(ctx, key, digest)
	}
	// The key is the caller's (it holds a merchant's request_id): hashed, it
	// is bounded in size and free of separators.
	h := sha256.Sum256([]byte(key))
	rkey := s.opt.Prefix + "claim:" + hex.EncodeToString(h[:])
	// The value is the digest and a token of this claim alone, so that
	// release never deletes a claim that expired and was taken again.
	var token [16]byte
	rand.Read(token[:])
	value := string(digest[:]) + string(token[:])

	octx, cancel := context.WithTimeout(ctx, s.opt.OpTimeout)
	defer cancel()
	held, err := claimScript.Run(octx, s.rdb, []string{rkey}, value, s.opt.ClaimTTL.Milliseconds()).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return s.releaser(rkey, value), nil, nil
	case err != nil:
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("claim %s: %w", key, ctx.Err())
		}
		s.failed("claim", err)
		return s.opt.Fallback.Claims.Claim(ctx, key, digest)
	case len(held) < len(digest):
		return nil, nil, fmt.Errorf("claim %s: foreign value of %d bytes under %s", key, len(held), rkey)
	}
	var holder [32]byte
	copy(holder[:], held)
	return nil, &holder, nil
}

// releaser deletes the claim once; when Redis cannot be reached the claim's
// TTL frees it instead.
func (s *State) releaser(rkey, value string) func() {
	var done atomic.Bool
	return func() {
		if done.Swap(true) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.opt.OpTimeout)
		defer cancel()
		if err := releaseScript.Run(ctx, s.rdb, []string{rkey}, value).Err(); err != nil {
			s.failed("release", err)
		}
	}
}

// dayCountTTL keeps a day's count past its end in every time zone and
// through a late call from the day before; older days are never read again.
const dayCountTTL = 48 * time.Hour

// incrScript counts and sets the expiry in one step, so that no count is left
// without one if the client dies between the two.
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then
	redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// Incr implements merchant.Counter with one count per day and key shared by
// every instance. key is the caller's (merchant hashes the ID number into
// it).
func (s *State) Incr(ctx context.Context, day, key string) (int64, error) {
	if s.opt.Fallback.Counter == nil {
		return 0, errors.New("redisstate: Incr needs Options.Fallback.Counter")
	}
	if !s.usable() {
		return s.opt.Fallback.Counter.Incr(ctx, day, key)
	}
	octx, cancel := context.WithTimeout(ctx, s.opt.OpTimeout)
	defer cancel()
	rkey := s.opt.Prefix + "idday:" + day + ":" + key
	n, err := incrScript.Run(octx, s.rdb, []string{rkey}, int64(dayCountTTL/time.Second)).Int64()
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("count %s: %w", rkey, ctx.Err())
		}
		s.failed("idday", err)
		return s.opt.Fallback.Counter.Incr(ctx, day, key)
	}
	return n, nil
}

// signScript records a signature's request digest unless the signature is
// already recorded, and returns what was there: one step, so that two
// instances receiving the same sign at once cannot both take it as new.
var signScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
	return ARGV[1]
end
return redis.call('GET', KEYS[1])
`)

// Use implements merchant.Signs across instances: key (a merchant's
// signature) is recorded for digest until ttl has passed, and it reports
// whether key was free or already held the same digest.
func (s *State) Use(ctx context.Context, key string, digest [32]byte, ttl time.Duration) (bool, error) {
	if s.opt.Fallback.Signs == nil {
		return false, errors.New("redisstate: Use needs Options.Fallback.Signs")
	}
	if !s.usable() {
		return s.opt.Fallback.Signs.Use(ctx, key, digest, ttl)
	}
	h := sha256.Sum256([]byte(key))
	rkey := s.opt.Prefix + "sign:" + hex.EncodeToString(h[:])
	octx, cancel := context.WithTimeout(ctx, s.opt.OpTimeout)
	defer cancel()
	held, err := signScript.Run(octx, s.rdb, []string{rkey}, string(digest[:]), max(ttl.Milliseconds(), 1)).Text()
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("sign %s: %w", rkey, ctx.Err())
		}
		s.failed("sign", err)
		return s.opt.Fallback.Signs.Use(ctx, key, digest, ttl)
	}
	return held == string(digest[:]), nil
}
