package upstream

import (
	"testing"
	"time"
)

func at(sec int64) func() time.Time { return func() time.Time { return time.Unix(sec, 0) } }

func TestBreakerLetsOneProbeThrough(t *testing.T) {
	b := newBreaker(1, time.Second, at(0))
	b.record(false, false)
	b.now = at(5)
	ok, probe := b.allow()
	if !ok || !probe {
		t.Fatal("no probe after the cooldown")
	}
	if ok, _ := b.allow(); ok {
		t.Fatal("a second call passed while the probe is in flight")
	}
	b.abandon(probe)
	if ok, probe := b.allow(); !ok || !probe {
		t.Fatal("an abandoned probe was not given back")
	}
	// A call sent before the breaker opened, failing now, changes nothing.
	b.record(false, false)
	if ok, _ := b.allow(); ok {
		t.Fatal("a stale failure released the probe slot")
	}
}
