package merchant

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/portrait-id/portrait/store"
)

// ServicePortrait is the one service the document defines; it is granted to
// every merchant at creation (an operator revokes it with `merchant set
// --revoke`), since a merchant is created precisely to call it.
const ServicePortrait = "portrait_verification"

// Defaults of a new merchant: a token bucket refilled at 10 calls per second
// holding up to 20 (BurstFor the rate), and no free-quota limit (FreeQuota 0
// means unlimited).
const (
	DefaultQPS   = 10
	DefaultBurst = 20
)

// Bounds of the rate settings: beyond them a setting is a typo, and a rate
// of +Inf or NaN would break every reader of the merchant (JSON has neither).
const (
	MaxQPS   = 1_000_000
	MaxBurst = 10_000_000
)

// BurstFor is the burst a rate gets unless one is set: two seconds' worth,
// at least 1, so that a merchant limited to 1 call/s cannot send 20 at once.
func BurstFor(qps float64) int {
	return int(min(max(math.Ceil(2*qps), 1), MaxBurst))
}

// Services is every service a merchant can be granted.
var Services = []string{ServicePortrait}

// DefaultCacheTTL is how long a merchant read from the store is used before
// it is read again: changes made with the CLI (another process) take effect
// within this time.
const DefaultCacheTTL = 2 * time.Second

// ErrInvalidSettings is a merchant setting out of range (CLI input).
var ErrInvalidSettings = errors.New("invalid merchant settings")

// Limiter is a token-bucket rate limiter keyed by app_key; an in-process one
// lives in package state, a shared one can sit behind the same interface.
type Limiter interface {
	// Allow takes one token from key's bucket, which refills at rate tokens
	// per second up to burst, and reports whether there was one.
	Allow(key string, rate float64, burst int, now time.Time) bool
}

// Config wires a Service.
type Config struct {
	Store   store.Merchants
	Sealer  *Sealer
	Limiter Limiter // also keeps the failed-authentication budgets
	// Signs remembers accepted signatures; nil accepts a signature any
	// number of times within its window (tests of other rules only).
	Signs    Signs
	CacheTTL time.Duration // 0: DefaultCacheTTL
	Window   time.Duration // timestamp window; 0: sign.DefaultWindow
}

// Service manages merchant accounts and applies their policy to calls.
type Service struct {
	cfg   Config
	cache *cache
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	return &Service{cfg: cfg, cache: newCache()}
}

// Settings are the operator-controlled fields of a merchant.
type Settings struct {
	Name      string
	Status    string
	ExpiresAt time.Time // zero: never
	Services  []string
	QPS       float64
	Burst     int
	FreeQuota int64 // 0: unlimited
	// Route is where the merchant's calls are answered (store.Merchant.Route);
	// "": the instance's default. The router checks the name.
	Route string
}

func (s Settings) validate() error {
	switch {
	case s.Name == "":
		return fmt.Errorf("%w: empty name", ErrInvalidSettings)
	case s.Status != store.StatusActive && s.Status != store.StatusFrozen && s.Status != store.StatusDisabled:
		return fmt.Errorf("%w: status %q (want active, frozen or disabled)", ErrInvalidSettings, s.Status)
	case !(s.QPS > 0 && s.QPS <= MaxQPS):
		return fmt.Errorf("%w: qps %v must be a number above 0 and at most %d", ErrInvalidSettings, s.QPS, MaxQPS)
	case s.Burst < 1 || s.Burst > MaxBurst:
		return fmt.Errorf("%w: burst %d must be from 1 to %d", ErrInvalidSettings, s.Burst, MaxBurst)
	case s.FreeQuota < 0:
		return fmt.Errorf("%w: free quota %d is negative", ErrInvalidSettings, s.FreeQuota)
	}
	for _, sv := range s.Services {
		if !slices.Contains(Services, sv) {
			return fmt.Errorf("%w: unknown service %q (known: %s)", ErrInvalidSettings, sv, strings.Join(Services, ", "))
		}
	}
	return nil
}

// NewSettings are a new merchant's defaults for the given name.
func NewSettings(name string) Settings {
	return Settings{Name: name, Status: store.StatusActive, Services: []string{ServicePortrait}, QPS: DefaultQPS, Burst: BurstFor(DefaultQPS)}
}

// Created is a new merchant with its secret, which is shown this once.
type Created struct {
	Merchant store.Merchant
	Secret   string
}

// Create makes a merchant with fresh credentials.
func (s *Service) Create(ctx context.Context, set Settings) (Created, error) {
	if err := set.validate(); err != nil {
		return Created{}, err
	}
	// 96 random bits do not collide in practice; a few draws bound the loop
	// should a backend keep answering ErrExists.
	for range 4 {
		appKey, secret := newAppKey(), newSecret()
		now := time.Now().UTC()
		m := store.Merchant{
			AppKey:       appKey,
			SecretCipher: s.cfg.Sealer.Seal(appKey, secret),
			CreatedAt:    now,
			UpdatedAt:    now,
		}
		apply(&m, set)
		err := s.cfg.Store.CreateMerchant(ctx, m)
		if errors.Is(err, store.ErrExists) {
			continue
		}
		if err != nil {
			return Created{}, err
		}
		return Created{Merchant: m, Secret: secret}, nil
	}
	return Created{}, fmt.Errorf("create merchant: no free app_key after 4 draws: %w", store.ErrExists)
}

func apply(m *store.Merchant, set Settings) {
	m.Name, m.Status, m.ExpiresAt = set.Name, set.Status, set.ExpiresAt
	m.Services = slices.Compact(slices.Sorted(slices.Values(set.Services)))
	m.QPS, m.Burst, m.FreeQuota, m.Route = set.QPS, set.Burst, set.FreeQuota, set.Route
}

// SettingsOf returns m's operator-controlled fields, for editing.
func SettingsOf(m store.Merchant) Settings {
	return Settings{Name: m.Name, Status: m.Status, ExpiresAt: m.ExpiresAt, Services: slices.Clone(m.Services),
		QPS: m.QPS, Burst: m.Burst, FreeQuota: m.FreeQuota, Route: m.Route}
}

// Get returns a merchant; ErrUnknownAppKey when there is none.
func (s *Service) Get(ctx context.Context, appKey string) (store.Merchant, error) {
	m, err := s.cfg.Store.GetMerchant(ctx, appKey)
	return m, notFound(appKey, err)
}

// List returns every merchant.
func (s *Service) List(ctx context.Context) ([]store.Merchant, error) {
	return s.cfg.Store.ListMerchants(ctx)
}

// Update changes a merchant's settings through edit, in one store
// transaction: a concurrent change of another setting or of the secret is
// never undone.
func (s *Service) Update(ctx context.Context, appKey string, edit func(*Settings)) (store.Merchant, error) {
	m, err := s.cfg.Store.UpdateMerchant(ctx, appKey, func(m *store.Merchant) error {
		set := SettingsOf(*m)
		edit(&set)
		if err := set.validate(); err != nil {
			return err
		}
		apply(m, set)
		m.UpdatedAt = time.Now().UTC()
		return nil
	})
	if err != nil {
		return store.Merchant{}, notFound(appKey, err)
	}
	s.cache.forget(appKey)
	return m, nil
}

// RotateSecret gives a merchant a new secret, returned this once; the old one
// stops working when the server's cache refreshes (within CacheTTL). Only
// the secret changes, in one store transaction.
func (s *Service) RotateSecret(ctx context.Context, appKey string) (string, error) {
	secret := newSecret()
	_, err := s.cfg.Store.UpdateMerchant(ctx, appKey, func(m *store.Merchant) error {
		m.SecretCipher = s.cfg.Sealer.Seal(appKey, secret)
		m.UpdatedAt = time.Now().UTC()
		return nil
	})
	if err != nil {
		return "", notFound(appKey, err)
	}
	s.cache.forget(appKey)
	return secret, nil
}

// Delete removes a merchant account; its ledger rows stay. Running servers
// refuse its app_key once their cache refreshes (within CacheTTL).
func (s *Service) Delete(ctx context.Context, appKey string) error {
	if err := s.cfg.Store.DeleteMerchant(ctx, appKey); err != nil {
		return notFound(appKey, err)
	}
	s.cache.forget(appKey)
	return nil
}

// notFound answers the store's ErrNotFound as ErrUnknownAppKey.
func notFound(appKey string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s: %w", appKey, ErrUnknownAppKey)
	}
	return err
}

// newAppKey is "pk_" and 24 hex digits (96 random bits).
func newAppKey() string { return "pk_" + randomHex(12) }

// newSecret is 40 hex digits (160 random bits): hex, so that it survives any
// merchant's string handling before it is hashed into the signature.
func newSecret() string { return randomHex(20) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
