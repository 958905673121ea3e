//go:build unix

package nn

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used: unlike wall time, it does
// not count the time a busy machine leaves the benchmark waiting.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
