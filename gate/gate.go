// Package gate bounds the work a service takes on at once: a Gate admits a
// bounded number of calls into an expensive stage (the face pipeline) and
// lets the others queue for a bounded time; a Budget admits request bodies
// while the bytes they hold fit a memory budget. Past either bound a call is
// refused with ErrBusy, answered at once, instead of piling up until every
// call misses its deadline and memory runs out.
package gate

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/portrait-id/portrait/protocol"
)

// ErrBusy is a call refused because the service is at capacity. It is
// answered 1006 (调用频率过高): the document has no "busy" code, and of its
// two candidates 1006 tells the caller what to do — slow down and retry,
// as for a rate limit — while 9999 reads as a failure of the call itself.
// It is never charged.
var ErrBusy = &protocol.Error{Code: protocol.CodeRateLimited, Detail: "service busy, retry later"}

// Observer is told of each wait at a gate (metrics): how long it took and
// whether it ended admitted.
type Observer interface {
	GateWait(gate string, d time.Duration, admitted bool)
}

// Gate admits at most n calls at once; a call arriving when all are taken
// waits up to the queue wait (and never past its context's deadline) for one.
type Gate struct {
	name     string
	slots    chan struct{}
	wait     time.Duration
	obs      Observer
	waiting  atomic.Int64
	admitted atomic.Int64
}

// New returns a gate named name (a metric label) of n slots (at least 1)
// and the given queue wait.
func New(name string, n int, wait time.Duration, obs Observer) *Gate {
	return &Gate{name: name, slots: make(chan struct{}, max(n, 1)), wait: wait, obs: obs}
}

// Enter takes a slot, returning the function that gives it back, or an error
// wrapping ErrBusy when none came free in time, or ctx's error.
func (g *Gate) Enter(ctx context.Context) (func(), error) {
	select {
	case g.slots <- struct{}{}:
		return g.entered(), nil
	default:
	}
	start := time.Now()
	g.waiting.Add(1)
	defer g.waiting.Add(-1)
	timer := time.NewTimer(g.wait)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
		g.observe(time.Since(start), true)
		return g.entered(), nil
	case <-timer.C:
		g.observe(time.Since(start), false)
		return nil, fmt.Errorf("%s: %d calls in flight, none done within %s: %w", g.name, cap(g.slots), g.wait, ErrBusy)
	case <-ctx.Done():
		g.observe(time.Since(start), false)
		return nil, fmt.Errorf("%s: wait for a slot: %w (%w)", g.name, ErrBusy, ctx.Err())
	}
}

func (g *Gate) entered() func() {
	g.admitted.Add(1)
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			g.admitted.Add(-1)
			<-g.slots
		}
	}
}

func (g *Gate) observe(d time.Duration, admitted bool) {
	if g.obs != nil {
		g.obs.GateWait(g.name, d, admitted)
	}
}

// InFlight and Waiting are the calls holding a slot and those queued for one.
func (g *Gate) InFlight() int64 { return g.admitted.Load() }
func (g *Gate) Waiting() int64  { return g.waiting.Load() }

// Budget admits holders of bytes (request bodies being read and the call
// that holds them) while their sum fits; a call that does not fit waits, in
// arrival order, up to the queue wait.
type Budget struct {
	name    string
	size    int64
	sem     *semaphore.Weighted
	wait    time.Duration
	obs     Observer
	held    atomic.Int64
	waiting atomic.Int64
}

// NewBudget returns a budget of size bytes.
func NewBudget(name string, size int64, wait time.Duration, obs Observer) *Budget {
	return &Budget{name: name, size: size, sem: semaphore.NewWeighted(size), wait: wait, obs: obs}
}

// Take reserves n bytes (at most the budget's size), returning their release,
// or an error wrapping ErrBusy.
func (b *Budget) Take(ctx context.Context, n int64) (func(), error) {
	n = min(max(n, 1), b.size)
	if !b.sem.TryAcquire(n) {
		start := time.Now()
		b.waiting.Add(1)
		wctx, cancel := context.WithTimeout(ctx, b.wait)
		err := b.sem.Acquire(wctx, n)
		cancel()
		b.waiting.Add(-1)
		if b.obs != nil {
			b.obs.GateWait(b.name, time.Since(start), err == nil)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %d of %d bytes held: %w", b.name, b.held.Load(), b.size, ErrBusy)
		}
	}
	b.held.Add(n)
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			b.held.Add(-n)
			b.sem.Release(n)
		}
	}, nil
}

// Held and Waiting are the bytes reserved and the holders queued for room.
func (b *Budget) Held() int64    { return b.held.Load() }
func (b *Budget) Waiting() int64 { return b.waiting.Load() }
