package merchant

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/portrait-id/portrait/protocol"
	"github.com/portrait-id/portrait/sign"
	"github.com/portrait-id/portrait/store"
)

// Call is what the policy needs of one request, as sent.
type Call struct {
	AppKey string
	// Signed are the values of the API's signed parameters, in signing
	// order; AppKey and Timestamp are among them.
	Signed    []string
	Timestamp string
	Sign      string
	Service   string
	Now       time.Time
	// Unsigned identifies what the signature does not cover (the selfie),
	// so that a sign is accepted again only for exactly the same request.
	Unsigned [32]byte
	// Source is the caller's network address ("host:port" or a host), the
	// key of its failed-authentication budget; "" has none.
	Source string
}

// Failed-authentication budgets: token buckets that only failures draw
// from, per app_key and per source address (IPv6 per /64). Within them a
// failure is answered, logged and (for a known app_key) recorded as always;
// beyond them it is answered the same but costs neither a log record nor a
// ledger row, so that a caller without credentials cannot fill the disk.
// A merchant with a wrong secret still sees its first 30 failures and one
// a second after that.
const (
	FailuresPerKeyRate     = 1.0
	FailuresPerKeyBurst    = 30
	FailuresPerSourceRate  = 2.0
	FailuresPerSourceBurst = 60
)

// Signs remembers which request each accepted signature was made for, for
// as long as its timestamp stays inside the window (state.Signs in
// process, redisstate across instances).
type Signs interface {
	// Use records key for a request of digest until ttl has passed and
	// reports whether key was free or already held the same digest.
	Use(ctx context.Context, key string, digest [32]byte, ttl time.Duration) (bool, error)
}

// Account is a merchant as the policy sees it, secret opened.
type Account struct {
	store.Merchant
	secret string
	quota  *quotaState
}

// Authenticate runs the checks that establish who is calling and whether the
// account may call at all, in this order: app_key, timestamp, signature,
// status, expiry, grant. Status, expiry and grant come after the signature so
// that nothing about an account is revealed to a caller who cannot sign for
// it. Rate and quota are separate (Admit) so that an idempotent replay can be
// answered without spending either. A refusal of an account that exists
// returns the account beside the error, so that the caller can attribute
// the call to a merchant that exists (and to no name a stranger made up).
//
// A signature is accepted once within the timestamp window, and again only
// for the same request (its idempotent retry): the document's signature
// concatenates the fields with no delimiter, so a captured call with
// characters moved between adjacent fields would otherwise sign as a new
// one, and the selfie is not signed at all.
func (s *Service) Authenticate(ctx context.Context, c Call) (*Account, error) {
	a, err := s.account(ctx, c.AppKey)
	if errors.Is(err, ErrUnknownAppKey) {
		return nil, s.failed(c, false, err)
	}
	if err != nil {
		return nil, err
	}
	window := s.cfg.Window
	if window == 0 {
		window = sign.DefaultWindow
	}
	if err := sign.CheckTimestamp(c.Timestamp, c.Now, window); err != nil {
		return a, s.failed(c, true, fmt.Errorf("merchant %s: %w", c.AppKey, TimestampError(err)))
	}
	want := sign.Over(a.secret, c.Signed...)
	if !sign.Equal(want, c.Sign) {
		return a, s.failed(c, true, fmt.Errorf("merchant %s: %w", c.AppKey, protocol.Wrap(protocol.CodeSignature, "", sign.ErrSignature)))
	}
	if err := s.useSign(ctx, c, window); err != nil {
		if errors.Is(err, ErrSignReused) {
			return a, s.failed(c, true, err)
		}
		return a, err
	}
	switch a.Status {
	case store.StatusActive:
	case store.StatusFrozen:
		return a, fmt.Errorf("merchant %s: %w", c.AppKey, ErrFrozen)
	default:
		// Disabled, and any status this version does not know: refusing is
		// the safe reading of an account state it cannot interpret.
		return a, fmt.Errorf("merchant %s (status %s): %w", c.AppKey, a.Status, ErrDisabled)
	}
	if !a.ExpiresAt.IsZero() && !c.Now.Before(a.ExpiresAt) {
		return a, fmt.Errorf("merchant %s expired at %s: %w", c.AppKey, a.ExpiresAt.Format(time.RFC3339), ErrExpired)
	}
	if !slices.Contains(a.Services, c.Service) {
		return a, fmt.Errorf("merchant %s, service %s: %w", c.AppKey, c.Service, ErrNotGranted)
	}
	return a, nil
}

// TimestampError answers sign.CheckTimestamp's refusals: a timestamp that
// is not the document's form is a parameter error that says the form, one
// outside the window is 1010.
func TimestampError(err error) error {
	switch {
	case errors.Is(err, sign.ErrTimestampFormat):
		return protocol.Wrap(protocol.CodeParameter, "timestamp must be milliseconds since 1970-01-01T00:00:00Z", err)
	case errors.Is(err, sign.ErrExpired):
		return protocol.Wrap(protocol.CodeRequestExpired, "", err)
	}
	return err
}

// useSign records c's signature for the rest of its window, or refuses it
// when it was accepted for another request. The digest covers each signed
// field separately (length-prefixed), so a shift between fields changes it.
func (s *Service) useSign(ctx context.Context, c Call, window time.Duration) error {
	if s.cfg.Signs == nil {
		return nil
	}
	h := sha256.New()
	for _, f := range c.Signed {
		binary.Write(h, binary.LittleEndian, uint64(len(f)))
		h.Write([]byte(f))
	}
	h.Write(c.Unsigned[:])
	var digest [32]byte
	h.Sum(digest[:0])
	ms, _ := strconv.ParseInt(c.Timestamp, 10, 64) // checked by CheckTimestamp
	// Past its timestamp's window the call is refused as expired anyway;
	// a second of margin covers the instances' clock skew.
	ttl := time.UnixMilli(ms).Add(window).Sub(c.Now) + time.Second
	ok, err := s.cfg.Signs.Use(ctx, c.AppKey+"\x00"+sign.Canonical(c.Sign), digest, ttl)
	if err != nil {
		return fmt.Errorf("merchant %s: remember sign: %w", c.AppKey, err)
	}
	if !ok {
		return fmt.Errorf("merchant %s: %w", c.AppKey, ErrSignReused)
	}
	return nil
}

// failed draws err from the failure budgets of c's source and, when the
// app_key is known, its app_key, and joins ErrAuthThrottled to it when one
// of them is spent.
func (s *Service) failed(c Call, knownKey bool, err error) error {
	over := s.OverFailureBudget(c.Source, c.Now)
	if knownKey && !s.cfg.Limiter.Allow("authfail:key:"+c.AppKey, FailuresPerKeyRate, FailuresPerKeyBurst, c.Now) {
		over = true
	}
	if over {
		return fmt.Errorf("%w (%w)", err, ErrAuthThrottled)
	}
	return err
}

// OverFailureBudget draws one failure from the budget of source (a caller's
// address) and reports whether that budget was spent. Authenticate draws
// its own failures; the HTTP layer draws those of calls refused before
// there is anything to authenticate (malformed bodies).
func (s *Service) OverFailureBudget(source string, now time.Time) bool {
	src := sourceKey(source)
	return src != "" && !s.cfg.Limiter.Allow("authfail:src:"+src, FailuresPerSourceRate, FailuresPerSourceBurst, now)
}

// sourceKey is the budget key of a caller's address: the IP, or its /64 for
// IPv6, where one subscriber holds the whole prefix.
func sourceKey(source string) string {
	host := source
	if h, _, err := net.SplitHostPort(source); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// Admit takes one token from the account's rate limit and reserves one unit
// of its free quota. The Ticket must be settled once the call's ledger row is
// committed.
func (s *Service) Admit(a *Account, now time.Time) (*Ticket, error) {
	if !s.cfg.Limiter.Allow(a.AppKey, a.QPS, a.Burst, now) {
		return nil, fmt.Errorf("merchant %s (%.4g calls/s, burst %d): %w", a.AppKey, a.QPS, a.Burst, ErrRateLimited)
	}
	if !a.quota.reserve(a.FreeQuota) {
		return nil, fmt.Errorf("merchant %s (free quota %d): %w", a.AppKey, a.FreeQuota, ErrQuotaExhausted)
	}
	return &Ticket{q: a.quota, limit: a.FreeQuota}, nil
}

// Ticket is one admitted call's quota reservation.
type Ticket struct {
	q     *quotaState
	limit int64
	once  sync.Once
}

// Settle releases the reservation, counting it as used when the call was
// charged (its ledger row and quota use committed).
func (t *Ticket) Settle(charged bool) {
	t.once.Do(func() { t.q.settle(charged, false, t.limit) })
}

// Refused releases the reservation of a call whose charge the store refused
// because the quota is used up (another process spent it): the account is
// treated as exhausted until its next reload.
func (t *Ticket) Refused() {
	t.once.Do(func() { t.q.settle(false, true, t.limit) })
}

// quotaState counts an account's quota use in process: used mirrors the
// store's QuotaUsed, reserved counts calls admitted but not yet settled, so
// that concurrent calls never together exceed the quota. The store refuses
// any charge beyond the quota as a last guard (several processes).
type quotaState struct {
	mu       sync.Mutex
	used     int64
	reserved int64
}

func (q *quotaState) reserve(limit int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if limit > 0 && q.used+q.reserved >= limit {
		return false
	}
	q.reserved++
	return true
}

func (q *quotaState) settle(charged, refused bool, limit int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reserved--
	switch {
	case charged:
		q.used++
	case refused:
		q.used = max(q.used, limit)
	}
}

// sync adopts the store's count when it is ahead (charges by other
// processes), but only while no call is in flight: a call between its commit
// and its Settle is counted by the store already but not yet here, and
// adopting then would count it twice. The store's count never goes down, and
// one read before a local Settle may be stale, hence max.
func (q *quotaState) sync(stored int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.reserved == 0 {
		q.used = max(q.used, stored)
	}
}

// cache keeps opened accounts for CacheTTL, so the hot path reads neither
// the store nor AES per call. Unknown app_keys are not cached: anyone can
// send them, and they must not grow memory.
type cache struct {
	mu      sync.RWMutex
	entries map[string]cached
	quotas  map[string]*quotaState
}

type cached struct {
	acct   *Account
	loaded time.Time
}

func newCache() *cache {
	return &cache{entries: map[string]cached{}, quotas: map[string]*quotaState{}}
}

func (c *cache) forget(appKey string) {
	c.mu.Lock()
	delete(c.entries, appKey)
	c.mu.Unlock()
}

func (s *Service) account(ctx context.Context, appKey string) (*Account, error) {
	now := time.Now()
	s.cache.mu.RLock()
	e, ok := s.cache.entries[appKey]
	s.cache.mu.RUnlock()
	if ok && now.Sub(e.loaded) < s.cfg.CacheTTL {
		return e.acct, nil
	}
	m, err := s.cfg.Store.GetMerchant(ctx, appKey)
	if errors.Is(err, store.ErrNotFound) {
		s.cache.forget(appKey)
		return nil, fmt.Errorf("app_key %q: %w", appKey, ErrUnknownAppKey)
	}
	if err != nil {
		return nil, fmt.Errorf("load merchant %s: %w", appKey, err)
	}
	secret, err := s.cfg.Sealer.Open(appKey, m.SecretCipher)
	if err != nil {
		return nil, err
	}
	m.SecretCipher = nil
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	q, ok := s.cache.quotas[appKey]
	if !ok {
		q = &quotaState{}
		s.cache.quotas[appKey] = q
	}
	q.sync(m.QuotaUsed)
	a := &Account{Merchant: m, secret: secret, quota: q}
	s.cache.entries[appKey] = cached{acct: a, loaded: now}
	return a, nil
}
