package gate

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/portrait-id/portrait/protocol"
)

type waits struct {
	mu       sync.Mutex
	admitted int
	refused  int
}

func (w *waits) GateWait(_ string, _ time.Duration, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ok {
		w.admitted++
	} else {
		w.refused++
	}
}

func TestGateQueuesThenRefuses(t *testing.T) {
	obs := &waits{}
	g := New("pipeline", 2, 50*time.Millisecond, obs)
	a, err1 := g.Enter(context.Background())
	b, err2 := g.Enter(context.Background())
	if err1 != nil || err2 != nil || g.InFlight() != 2 {
		t.Fatalf("two slots: %v %v, %d in flight", err1, err2, g.InFlight())
	}
	start := time.Now()
	_, err := g.Enter(context.Background())
	if !errors.Is(err, ErrBusy) || protocol.CodeOf(err) != protocol.CodeRateLimited || time.Since(start) < 50*time.Millisecond {
		t.Errorf("third call: %v after %s, want ErrBusy (1006) after the 50 ms wait", err, time.Since(start))
	}
	// A call queued when a slot frees is admitted.
	go func() { time.Sleep(10 * time.Millisecond); a(); a() }() // a second release is a no-op
	c, err := g.Enter(context.Background())
	if err != nil {
		t.Fatalf("queued call: %v", err)
	}
	c()
	b()
	if g.InFlight() != 0 || g.Waiting() != 0 || obs.admitted != 1 || obs.refused != 1 {
		t.Errorf("in flight %d, waiting %d, waits %+v", g.InFlight(), g.Waiting(), obs)
	}
	// A call whose deadline comes first leaves at its deadline.
	g = New("pipeline", 1, time.Hour, nil)
	g.Enter(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.Enter(ctx); !errors.Is(err, ErrBusy) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("call past its deadline: %v", err)
	}
}

func TestBudget(t *testing.T) {
	b := NewBudget("bodies", 100, 30*time.Millisecond, nil)
	r1, err := b.Take(context.Background(), 60)
	if err != nil || b.Held() != 60 {
		t.Fatalf("first take: %v, held %d", err, b.Held())
	}
	if _, err := b.Take(context.Background(), 50); !errors.Is(err, ErrBusy) {
		t.Errorf("over budget: %v, want ErrBusy", err)
	}
	r2, err := b.Take(context.Background(), 40)
	if err != nil {
		t.Fatalf("within budget: %v", err)
	}
	// A body larger than the whole budget waits for all of it, not forever.
	go func() { time.Sleep(5 * time.Millisecond); r1(); r2() }()
	r3, err := b.Take(context.Background(), 1<<30)
	if err != nil || b.Held() != 100 {
		t.Fatalf("whole budget: %v, held %d", err, b.Held())
	}
	r3()
	if b.Held() != 0 {
		t.Errorf("held %d after every release", b.Held())
	}
}
