package merchant_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/sign"
	"github.com/portrait-id/portrait/state"
	"github.com/portrait-id/portrait/store"
	"github.com/portrait-id/portrait/store/sqlite"
)

var ctx = context.Background()

func testKey() []byte { return bytes.Repeat([]byte{0x42}, merchant.KeySize) }

func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newService(t *testing.T, db store.Merchants, ttl time.Duration) *merchant.Service {
	t.Helper()
	sealer, err := merchant.NewSealer(testKey())
	if err != nil {
		t.Fatal(err)
	}
	return merchant.New(merchant.Config{Store: db, Sealer: sealer, Limiter: state.NewLimiter(), Signs: state.NewSigns(), CacheTTL: ttl})
}

func TestCreateCredentials(t *testing.T) {
	db := openStore(t)
	svc := newService(t, db, 0)
	c, err := svc.Create(ctx, merchant.NewSettings("Shop 商店"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^pk_[0-9a-f]{24}$`).MatchString(c.Merchant.AppKey) {
		t.Errorf("app_key %q", c.Merchant.AppKey)
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(c.Secret) {
		t.Errorf("secret %q", c.Secret)
	}
	stored, err := db.GetMerchant(ctx, c.Merchant.AppKey)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored.SecretCipher, []byte(c.Secret)) {
		t.Error("secret stored in clear")
	}
	if stored.Status != store.StatusActive || stored.QPS != merchant.DefaultQPS || stored.Burst != merchant.DefaultBurst ||
		stored.FreeQuota != 0 || len(stored.Services) != 1 || stored.Services[0] != merchant.ServicePortrait {
		t.Errorf("defaults: %+v", stored)
	}
	other, _ := svc.Create(ctx, merchant.NewSettings("Shop"))
	if other.Merchant.AppKey == c.Merchant.AppKey || other.Secret == c.Secret {
		t.Error("two merchants got the same credentials")
	}
}

func TestSettingsValidation(t *testing.T) {
	svc := newService(t, openStore(t), 0)
	for _, edit := range []func(*merchant.Settings){
		func(s *merchant.Settings) { s.Name = "" },
		func(s *merchant.Settings) { s.Status = "paused" },
		func(s *merchant.Settings) { s.QPS = 0 },
		func(s *merchant.Settings) { s.Burst = 0 },
		func(s *merchant.Settings) { s.FreeQuota = -1 },
		func(s *merchant.Settings) { s.Services = []string{"a,b"} },
	} {
		set := merchant.NewSettings("x")
		edit(&set)
		if _, err := svc.Create(ctx, set); !errors.Is(err, merchant.ErrInvalidSettings) {
			t.Errorf("Create(%+v) = %v, want ErrInvalidSettings", set, err)
		}
	}
}

type fixture struct {
	svc    *merchant.Service
	db     *sqlite.DB
	now    time.Time
	keys   map[string]string // label → app_key
	secret map[string]string // app_key → secret
}

// newFixture creates one merchant per account state the policy tells apart.
func newFixture(t *testing.T) *fixture {
	f := &fixture{db: openStore(t), now: time.Now(), keys: map[string]string{}, secret: map[string]string{}}
	f.svc = newService(t, f.db, time.Minute)
	past := f.now.Add(-time.Hour)
	for label, edit := range map[string]func(*merchant.Settings){
		"active":          func(*merchant.Settings) {},
		"frozen":          func(s *merchant.Settings) { s.Status = store.StatusFrozen },
		"disabled":        func(s *merchant.Settings) { s.Status = store.StatusDisabled },
		"expired":         func(s *merchant.Settings) { s.ExpiresAt = past },
		"future":          func(s *merchant.Settings) { s.ExpiresAt = f.now.Add(time.Hour) },
		"ungranted":       func(s *merchant.Settings) { s.Services = nil },
		"frozen+expired":  func(s *merchant.Settings) { s.Status = store.StatusFrozen; s.ExpiresAt = past },
		"expired+ungrant": func(s *merchant.Settings) { s.ExpiresAt = past; s.Services = nil },
	} {
		set := merchant.NewSettings(label)
		edit(&set)
		c, err := f.svc.Create(ctx, set)
		if err != nil {
			t.Fatal(err)
		}
		f.keys[label] = c.Merchant.AppKey
		f.secret[c.Merchant.AppKey] = c.Secret
	}
	return f
}

func (f *fixture) call(appKey string) merchant.Call {
	ts := strconv.FormatInt(f.now.UnixMilli(), 10)
	c := merchant.Call{AppKey: appKey, Signed: []string{appKey, "11010119900307663X", "张三", "r1", ts},
		Timestamp: ts, Service: merchant.ServicePortrait, Now: f.now}
	c.Sign = sign.Compute(appKey, "11010119900307663X", "张三", "r1", ts, f.secret[appKey])
	return c
}

func TestAuthenticateOrder(t *testing.T) {
	f := newFixture(t)
	badSign := func(c *merchant.Call) {
		c.Sign = sign.Over("wrong", c.Signed...)
	}
	cases := []struct {
		label string
		edit  func(*merchant.Call)
		want  error
	}{
		{"active", nil, nil},
		{"future", nil, nil},
		{"active", func(c *merchant.Call) { c.AppKey = "pk_unknown" }, merchant.ErrUnknownAppKey},
		{"active", func(c *merchant.Call) { c.Timestamp = "12x" }, sign.ErrTimestampFormat},
		{"active", func(c *merchant.Call) { c.Timestamp = strconv.FormatInt(f.now.Add(-6*time.Minute).UnixMilli(), 10) }, sign.ErrExpired},
		{"active", badSign, sign.ErrSignature},
		{"active", func(c *merchant.Call) { c.Signed = append(c.Signed[:2:2], "李四", "r1", c.Timestamp) }, sign.ErrSignature}, // signed content changed
		{"frozen", nil, merchant.ErrFrozen},
		{"disabled", nil, merchant.ErrDisabled},
		{"expired", nil, merchant.ErrExpired},
		{"ungranted", nil, merchant.ErrNotGranted},
		{"frozen+expired", nil, merchant.ErrFrozen},
		{"expired+ungrant", nil, merchant.ErrExpired},
		// An account's state is never revealed to a caller who cannot sign.
		{"frozen", badSign, sign.ErrSignature},
		{"disabled", badSign, sign.ErrSignature},
		{"expired", badSign, sign.ErrSignature},
		{"ungranted", badSign, sign.ErrSignature},
		// Nor to one whose timestamp is stale.
		{"frozen", func(c *merchant.Call) { c.Timestamp = "1" }, sign.ErrExpired},
		{"active", func(c *merchant.Call) { c.Service = "other" }, merchant.ErrNotGranted},
		{"active", func(c *merchant.Call) { c.Sign = "ABC" }, sign.ErrSignature},
	}
	for i, tc := range cases {
		c := f.call(f.keys[tc.label])
		if tc.edit != nil {
			tc.edit(&c)
		}
		a, err := f.svc.Authenticate(ctx, c)
		// A refused account that exists comes back beside the error; an
		// unknown app_key names none.
		if !errors.Is(err, tc.want) || (a == nil) != errors.Is(tc.want, merchant.ErrUnknownAppKey) {
			t.Errorf("case %d (%s): err %v, want %v", i, tc.label, err, tc.want)
		}
	}
	// Hex case of the signature does not matter.
	c := f.call(f.keys["active"])
	c.Sign = fmt.Sprintf("%X", mustHex(t, c.Sign))
	if _, err := f.svc.Authenticate(ctx, c); err != nil {
		t.Errorf("uppercase signature: %v", err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAdmitRateLimit(t *testing.T) {
	f := newFixture(t)
	key := f.keys["active"]
	if _, err := f.svc.Update(ctx, key, func(s *merchant.Settings) { s.QPS, s.Burst = 1, 2 }); err != nil {
		t.Fatal(err)
	}
	a, err := f.svc.Authenticate(ctx, f.call(key))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{nil, nil, merchant.ErrRateLimited} {
		tk, err := f.svc.Admit(a, f.now)
		if !errors.Is(err, want) {
			t.Errorf("call %d: %v, want %v", i, err, want)
		}
		if tk != nil {
			tk.Settle(false)
		}
	}
	if tk, err := f.svc.Admit(a, f.now.Add(time.Second)); err != nil {
		t.Errorf("after a second: %v", err)
	} else {
		tk.Settle(false)
	}
}

func TestAdmitQuotaReservation(t *testing.T) {
	f := newFixture(t)
	key := f.keys["active"]
	if _, err := f.svc.Update(ctx, key, func(s *merchant.Settings) { s.FreeQuota, s.Burst = 2, 100 }); err != nil {
		t.Fatal(err)
	}
	a, _ := f.svc.Authenticate(ctx, f.call(key))
	t1, err1 := f.svc.Admit(a, f.now)
	t2, err2 := f.svc.Admit(a, f.now)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := f.svc.Admit(a, f.now); !errors.Is(err, merchant.ErrQuotaExhausted) {
		t.Fatalf("third reservation: %v, want ErrQuotaExhausted", err)
	}
	t1.Settle(false) // uncharged: the reservation comes back
	t3, err := f.svc.Admit(a, f.now)
	if err != nil {
		t.Fatalf("after an uncharged call: %v", err)
	}
	t2.Settle(true)
	t3.Settle(true)
	t3.Settle(true) // settling twice counts once
	if _, err := f.svc.Admit(a, f.now); !errors.Is(err, merchant.ErrQuotaExhausted) {
		t.Errorf("after two charges of two: %v", err)
	}
}

// TestQuotaExactUnderConcurrency drives the policy and the store's charge
// together, as verify does: N quota, 50 goroutines, exactly N charged.
func TestQuotaExactUnderConcurrency(t *testing.T) {
	const quota = 23
	f := newFixture(t)
	key := f.keys["active"]
	if _, err := f.svc.Update(ctx, key, func(s *merchant.Settings) { s.FreeQuota, s.Burst, s.QPS = quota, 10000, 10000 }); err != nil {
		t.Fatal(err)
	}
	var charged, exhausted, seq atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 4 {
				a, err := f.svc.Authenticate(ctx, f.call(key))
				if err != nil {
					t.Error(err)
					return
				}
				tk, err := f.svc.Admit(a, time.Now())
				if errors.Is(err, merchant.ErrQuotaExhausted) {
					exhausted.Add(1)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				row := store.LedgerRow{TraceID: fmt.Sprintf("T%d", seq.Add(1)), AppKey: key, Code: "0000", Result: 1, Charged: true, Time: time.Now()}
				errs, err := f.db.AppendLedger(ctx, []store.LedgerRow{row})
				if err != nil || errs[0] != nil {
					t.Error(err, errs)
					tk.Settle(false)
					return
				}
				tk.Settle(true)
				charged.Add(1)
			}
		}()
	}
	wg.Wait()
	m, _ := f.db.GetMerchant(ctx, key)
	if charged.Load() != quota || m.QuotaUsed != quota || exhausted.Load() != 200-quota {
		t.Errorf("charged %d, stored use %d, refused %d; want %d, %d, %d", charged.Load(), m.QuotaUsed, exhausted.Load(), quota, quota, 200-quota)
	}
}

func TestChangesByAnotherProcessApplyAfterTTL(t *testing.T) {
	db := openStore(t)
	server := newService(t, db, 50*time.Millisecond)
	cli := newService(t, db, time.Minute)
	c, err := cli.Create(ctx, merchant.NewSettings("m"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{svc: server, now: time.Now(), secret: map[string]string{c.Merchant.AppKey: c.Secret}}
	if _, err := server.Authenticate(ctx, f.call(c.Merchant.AppKey)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Update(ctx, c.Merchant.AppKey, func(s *merchant.Settings) { s.Status = store.StatusFrozen }); err != nil {
		t.Fatal(err)
	}
	newSecret, err := cli.RotateSecret(ctx, c.Merchant.AppKey)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if _, err := server.Authenticate(ctx, f.call(c.Merchant.AppKey)); !errors.Is(err, sign.ErrSignature) {
		t.Errorf("old secret after rotation: %v, want ErrSignature", err)
	}
	f.secret[c.Merchant.AppKey] = newSecret
	if _, err := server.Authenticate(ctx, f.call(c.Merchant.AppKey)); !errors.Is(err, merchant.ErrFrozen) {
		t.Errorf("new secret on the frozen account: %v, want ErrFrozen", err)
	}
}

func TestSealer(t *testing.T) {
	s, _ := merchant.NewSealer(testKey())
	sealed := s.Seal("pk_a", "secret")
	if got, err := s.Open("pk_a", sealed); err != nil || got != "secret" {
		t.Errorf("Open = %q, %v", got, err)
	}
	if _, err := s.Open("pk_b", sealed); !errors.Is(err, merchant.ErrMasterKey) {
		t.Errorf("secret opened under another app_key: %v", err)
	}
	other, _ := merchant.NewSealer(bytes.Repeat([]byte{1}, merchant.KeySize))
	if _, err := other.Open("pk_a", sealed); !errors.Is(err, merchant.ErrMasterKey) {
		t.Errorf("secret opened with another key: %v", err)
	}
	if _, err := s.Open("pk_a", sealed[:5]); err == nil {
		t.Error("truncated ciphertext opened")
	}
	if bytes.Equal(s.Seal("pk_a", "secret"), sealed) {
		t.Error("sealing twice gave the same bytes: nonce reused")
	}
	if _, err := merchant.NewSealer([]byte("short")); !errors.Is(err, merchant.ErrMasterKey) {
		t.Errorf("short key: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	k := testKey()
	for _, s := range []string{hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k) + "\n", base64.RawURLEncoding.EncodeToString(k)} {
		if got, err := merchant.ParseKey(s); err != nil || !bytes.Equal(got, k) {
			t.Errorf("ParseKey(%q) = %x, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "abcd", hex.EncodeToString(k[:16])} {
		if _, err := merchant.ParseKey(s); !errors.Is(err, merchant.ErrMasterKey) {
			t.Errorf("ParseKey(%q) = %v, want ErrMasterKey", s, err)
		}
	}
}

func TestEnsureKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "portrait.db.key")
	k1, created, err := merchant.EnsureKeyFile(path)
	if err != nil || !created || len(k1) != merchant.KeySize {
		t.Fatalf("first: %x %v %v", k1, created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	k2, created, err := merchant.EnsureKeyFile(path)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Errorf("second: created %v, same key %v, %v", created, bytes.Equal(k1, k2), err)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := merchant.EnsureKeyFile(path); !errors.Is(err, merchant.ErrMasterKey) {
		t.Errorf("corrupt key file: %v, want ErrMasterKey (never silently replaced)", err)
	}
}

// A freeze and a secret rotation run at once, by two processes' worth of
// store handles on one file, both land every time (issue 12 item 10: 7 of
// 40 freezes and 4 of 40 secrets were silently undone).
func TestFreezeAndRotateAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	var svcs [2]*merchant.Service
	for i := range svcs {
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		svcs[i] = newService(t, db, time.Nanosecond)
	}
	c, err := svcs[0].Create(ctx, merchant.NewSettings("shop"))
	if err != nil {
		t.Fatal(err)
	}
	key := c.Merchant.AppKey
	for round := range 40 {
		if _, err := svcs[0].Update(ctx, key, func(s *merchant.Settings) { s.Status = store.StatusActive }); err != nil {
			t.Fatal(err)
		}
		var secret string
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := svcs[0].Update(ctx, key, func(s *merchant.Settings) { s.Status = store.StatusFrozen }); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			var err error
			if secret, err = svcs[1].RotateSecret(ctx, key); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		ts, reqID := strconv.FormatInt(time.Now().UnixMilli(), 10), fmt.Sprint("r", round)
		call := merchant.Call{AppKey: key, Signed: []string{key, "11010119900307663X", "张三", reqID, ts},
			Timestamp: ts, Service: merchant.ServicePortrait, Now: time.Now()}
		call.Sign = sign.Compute(key, "11010119900307663X", "张三", reqID, ts, secret)
		// ErrFrozen comes after the signature check: the new secret signs,
		// and the freeze holds.
		if _, err := svcs[0].Authenticate(ctx, call); !errors.Is(err, merchant.ErrFrozen) {
			t.Fatalf("round %d: %v, want ErrFrozen for a call signed with the new secret", round, err)
		}
	}
}
