package upstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/portrait-id/portrait/merchant"
	"github.com/portrait-id/portrait/protocol"
)

// ErrIDDailyLimit is an ID number that reached the daily limit of
// verifications across all merchants: someone may be enumerating a person's
// record (or trying selfies against it). It wraps merchant.ErrRateLimited,
// so the call is answered 1006 and not charged.
var ErrIDDailyLimit = &protocol.Error{Code: protocol.CodeRateLimited, Detail: "id_number daily limit", Err: merchant.ErrRateLimited}

// Counter counts calls per key per UTC day, shared by every merchant (and,
// with a shared backend, every instance).
type Counter interface {
	// Incr adds one to key's count for day (UTC, "2006-01-02") and returns
	// the count including this call. Counts of earlier days may be
	// forgotten.
	Incr(ctx context.Context, day, key string) (int64, error)
}

// MemoryCounter is the in-process Counter: counts of today only, so its
// memory is one entry per ID number verified today.
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

// IDLimit allows each ID number Max verifications per UTC day.
type IDLimit struct {
	Max     int64 // 0 or less: no limit
	Counter Counter
	Now     func() time.Time // time.Now when nil
}

// Check counts one call for idNumber and fails with ErrIDDailyLimit once
// over the limit. A counter failure is an error too: a limit that silently
// lets everything through when its store is down protects nothing.
func (l *IDLimit) Check(ctx context.Context, idNumber string) error {
	if l == nil || l.Max <= 0 {
		return nil
	}
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	n, err := l.Counter.Incr(ctx, now().UTC().Format(time.DateOnly), idKey(idNumber))
	if err != nil {
		return fmt.Errorf("count calls of id_number: %w", err)
	}
	if n > l.Max {
		return fmt.Errorf("%w (%d calls today, limit %d)", ErrIDDailyLimit, n, l.Max)
	}
	return nil
}

// idKey keeps full ID numbers out of the counter's store (Redis keys are
// listed by anyone operating it).
func idKey(idNumber string) string {
	h := sha256.Sum256([]byte("portrait id limit\x00" + idNumber))
	return hex.EncodeToString(h[:16])
}
