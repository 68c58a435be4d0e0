// Package gcpercent holds the garbage collector target framecast's own
// programs (framecast serve, and the bench's framecast server) run with.
//
// A server's heap is mostly what its viewers hold for as long as they watch
// (gortsplib's write queue and sessions, the coalescing buffers), and the
// garbage it makes per packet is small and short-lived. With Go's default
// target (GOGC=100) the heap grows by as much as is live before a
// collection, so every viewer costs its live memory twice over; at Serve the
// growth is a quarter of it. Measured at 400 and 1000 TCP viewers of 720p30
// (docs/benchmarks.md): 75–78 KiB of RSS per viewer against 101–102, with no
// difference in CPU beyond the run-to-run noise.
//
// A Go program that uses the framecast package keeps its own setting; it can
// call debug.SetGCPercent(25), or be run with GOGC=25, for the same.
package gcpercent

import (
	"os"
	"runtime/debug"
)

// Serve is the target, in percent of the live heap, that Apply sets.
const Serve = 25

// Apply sets the garbage collector's target to Serve unless the environment
// sets GOGC, which then wins as it does for any Go program. It reports
// whether it set the target.
func Apply() bool {
	if os.Getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(Serve)
	return true
}
