package upstream

import (
	"sync"
	"time"
)

// breaker stops calling an upstream that keeps failing, so that our merchants
// get 2000 at once instead of after a timeout, and the upstream gets room to
// recover. Closed: calls pass, consecutive failures are counted. Open: calls
// are refused until the cooldown ends. Half-open: one probe passes; its
// success closes the breaker, its failure opens it for another cooldown.
type breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	mu       sync.Mutex
	failures int       // consecutive, while closed
	openedAt time.Time // zero: closed
	probing  bool      // a half-open probe is in flight
}

func newBreaker(threshold int, cooldown time.Duration, now func() time.Time) *breaker {
	return &breaker{threshold: threshold, cooldown: cooldown, now: now}
}

// State names, for operators' eyes (status output, logs).
const (
	StateClosed   = "closed"
	StateOpen     = "open"
	StateHalfOpen = "half-open"
)

func (b *breaker) state() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.openedAt.IsZero():
		return StateClosed
	case b.probing || b.now().Sub(b.openedAt) >= b.cooldown:
		return StateHalfOpen
	}
	return StateOpen
}

// allow reports whether a call may go out, and whether it is the half-open
// probe; an allowed call must be followed by record or abandon with that.
func (b *breaker) allow() (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.openedAt.IsZero() {
		return true, false
	}
	if b.probing || b.now().Sub(b.openedAt) < b.cooldown {
		return false, false
	}
	b.probing = true
	return true, true
}

// record counts the outcome of an allowed call. A call sent before the
// breaker opened may finish while it is open: its success still proves the
// upstream answers, its failure adds nothing.
func (b *breaker) record(ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	switch {
	case ok:
		b.failures = 0
		b.openedAt = time.Time{}
	case probe:
		b.openedAt = b.now()
	case b.openedAt.IsZero():
		b.failures++
		if b.failures >= b.threshold {
			b.openedAt = b.now()
			b.failures = 0
		}
	}
}

// abandon is an allowed call that was not sent after all (no concurrency
// slot): it says nothing about the upstream's health, but a probe slot must
// be given back.
func (b *breaker) abandon(probe bool) {
	if !probe {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
}
