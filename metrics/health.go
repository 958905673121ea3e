package metrics

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Check is one dependency a ready instance needs (storage, Redis, models).
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
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

// Ready answers 200 when every check passes and 503 otherwise (GET /readyz),
// with each check's status. Errors are not shown, since they can name hosts
// and users; the instance's log has them through logf.
func Ready(logf func(check string, err error), checks ...Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), CheckTimeout)
		defer cancel()
		status := make(map[string]string, len(checks))
		var mu sync.Mutex
		var wg sync.WaitGroup
		ready := true
		for _, c := range checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := c.Fn(ctx)
				mu.Lock()
				defer mu.Unlock()
				status[c.Name] = "ok"
				if err != nil {
					status[c.Name], ready = "failing", false
					if logf != nil {
						logf(c.Name, err)
					}
				}
			}()
		}
		wg.Wait()
		code := http.StatusOK
		if !ready {
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(struct {
			Ready  bool              `json:"ready"`
			Checks map[string]string `json:"checks"`
		}{ready, status})
	})
}
