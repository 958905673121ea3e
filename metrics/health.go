package metrics

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Check is one dependency a ready instance needs (storage, models), or,
// with Degrades, one it can do without for a while (Redis, whose in-process
// fallbacks keep the service answering).
type Check struct {
	Name     string
	Fn       func(ctx context.Context) error
	Degrades bool
}

// CheckTimeout bounds each readiness check: a probe must answer before the
// orchestrator's own timeout, and a hung dependency is a failed one.
const CheckTimeout = 2 * time.Second

// Health answers 200 while the process serves HTTP at all (GET /healthz): a
// liveness probe must not fail because a dependency did, or the orchestrator
// restarts instances that would recover by themselves.
func Health() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
}

// Ready answers 200 when every check passes or only checks that Degrade
// fail, and 503 otherwise (GET /readyz), with each check's status ("ok",
// "degraded", "failing") and the instance's ("ok", "degraded", "failing").
// An instance running on its fallbacks stays ready: a load balancer that
// drained every instance during a Redis outage would take away a service
// that survives it. degraded (may be nil) is told after each probe whether
// the instance is degraded. Errors are not shown, since they can name hosts
// and users; the instance's log has them through logf.
func Ready(logf func(check string, err error), degraded func(bool), checks ...Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), CheckTimeout)
		defer cancel()
		status := make(map[string]string, len(checks))
		var mu sync.Mutex
		var wg sync.WaitGroup
		ready, degrades := true, false
		for _, c := range checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := c.Fn(ctx)
				mu.Lock()
				defer mu.Unlock()
				status[c.Name] = "ok"
				if err == nil {
					return
				}
				if c.Degrades {
					status[c.Name], degrades = "degraded", true
				} else {
					status[c.Name], ready = "failing", false
				}
				if logf != nil {
					logf(c.Name, err)
				}
			}()
		}
		wg.Wait()
		if degraded != nil {
			degraded(degrades)
		}
		code, overall := http.StatusOK, "ok"
		switch {
		case !ready:
			code, overall = http.StatusServiceUnavailable, "failing"
		case degrades:
			overall = "degraded"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(struct {
			Ready  bool              `json:"ready"`
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}{ready, overall, status})
	})
}
