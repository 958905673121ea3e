//go:build race

package nn

// raceEnabled: the race detector makes sync.Pool drop sessions on purpose.
const raceEnabled = true
