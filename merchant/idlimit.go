package merchant

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/portrait-id/portrait/protocol"
)

// ErrIDDailyLimit is an ID number that reached one of its daily limits of
// verifications: someone may be enumerating a person's record (or trying
// selfies against it). It wraps ErrRateLimited, so the call is answered 1006
// and not charged. The caller is not told which limit: that other merchants
// verified the person today is not theirs to learn.
var ErrIDDailyLimit = &protocol.Error{Code: protocol.CodeRateLimited, Detail: "id_number daily limit", Err: ErrRateLimited}

// Counter counts calls per key per UTC day (and, with a shared backend,
// across instances).
type Counter interface {
	// Incr adds one to key's count for day (UTC, "2006-01-02") and returns
	// the count including this call. Counts of earlier days may be
	// forgotten.
	Incr(ctx context.Context, day, key string) (int64, error)
}

// MemoryCounter is the in-process Counter: counts of today only, so its
// memory is one entry per ID number (and merchant) verified today.
type MemoryCounter struct {
	mu     sync.Mutex
	day    string
	counts map[string]int64
}

// NewMemoryCounter returns an empty MemoryCounter.
func NewMemoryCounter() *MemoryCounter { return &MemoryCounter{counts: map[string]int64{}} }

// Incr implements Counter.
func (m *MemoryCounter) Incr(_ context.Context, day, key string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Days only move forward: a late caller from yesterday counts into
	// today, which errs on the strict side for one call.
	if day > m.day {
		m.day = day
		clear(m.counts)
	}
	m.counts[key]++
	return m.counts[key], nil
}

// IDLimits are the daily limits of verifications of one ID number: PerMerchant
// for each merchant, so that one merchant cannot lock a person out for the
// others, and Global, higher, across all merchants, so that many accounts
// together still cannot try selfies against one person at scale. 0 or less
// is no limit. A verification counts once past the selfie's quality gate,
// whichever source answers it.
type IDLimits struct {
	PerMerchant int64
	Global      int64
	Counter     Counter
	Now         func() time.Time // time.Now when nil
}

// Check counts one verification of idNumber by appKey and fails with
// ErrIDDailyLimit once over either limit. A call over the merchant's own
// limit is not counted against the global one, so that one merchant's
// excess does not spend the others' room. A counter failure is an error
// too: a limit that silently lets everything through when its store is down
// protects nothing.
func (l *IDLimits) Check(ctx context.Context, appKey, idNumber string) error {
	if l == nil || (l.PerMerchant <= 0 && l.Global <= 0) {
		return nil
	}
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	day := now().UTC().Format(time.DateOnly)
	for _, lim := range []struct {
		max  int64
		key  string
		what string
	}{
		{l.PerMerchant, idKey("merchant\x00" + appKey + "\x00" + idNumber), "this merchant's"},
		{l.Global, idKey("global\x00" + idNumber), "all merchants'"},
	} {
		if lim.max <= 0 {
			continue
		}
		n, err := l.Counter.Incr(ctx, day, lim.key)
		if err != nil {
			return fmt.Errorf("count calls of id_number: %w", err)
		}
		if n > lim.max {
			return fmt.Errorf("%w (%s %d calls today, limit %d)", ErrIDDailyLimit, lim.what, n, lim.max)
		}
	}
	return nil
}

// idKey keeps full ID numbers (and which merchant asked about whom) out of
// the counter's store: Redis keys are listed by anyone operating it.
func idKey(s string) string {
	h := sha256.Sum256([]byte("portrait id limit\x00" + s))
	return hex.EncodeToString(h[:16])
}
