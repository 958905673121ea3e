//go:build !unix

package nn

import "time"

// cpuTime is not measured here; BenchResult.CPU stays 0.
func cpuTime() time.Duration { return 0 }
