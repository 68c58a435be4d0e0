package testkit

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// LeakCheck is a test package's TestMain: it runs the tests, then fails
// the package (exit 1, with their stacks) if goroutines started during the
// tests are still running once the tests are over. Closing is asynchronous
// in places (a connection's reader sees its socket close), so it waits up
// to leakWait for them to end.
//
//	func TestMain(m *testing.M) { testkit.LeakCheck(m) }
func LeakCheck(m *testing.M) {
	os.Exit(RunAndCheckLeaks(m.Run))
}

// leakWait bounds the wait for goroutines to end after the tests.
const leakWait = 20 * time.Second

// RunAndCheckLeaks runs run (m.Run) and returns its exit code, or 1 if it
// passed but left goroutines behind.
func RunAndCheckLeaks(run func() int) int { return runAndCheckLeaks(run, leakWait) }

func runAndCheckLeaks(run func() int, wait time.Duration) int {
	before := map[string]bool{}
	for _, g := range goroutines() {
		before[g.id] = true
	}
	code := run()
	if code != 0 {
		return code
	}
	var left []goroutine
	deadline := time.Now().Add(wait)
	for {
		http.DefaultClient.CloseIdleConnections() // keep-alive connections of the tests' requests
		left = left[:0]
		for _, g := range goroutines() {
			if !before[g.id] && !ignored(g.stack) {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return code
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "testkit: %d goroutines still running %v after the tests:\n", len(left), wait)
	for _, g := range left {
		fmt.Fprintf(os.Stderr, "\n%s\n", g.stack)
	}
	return 1
}

type goroutine struct{ id, stack string }

// goroutines returns the stacks of every goroutine but the caller's.
func goroutines() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	blocks := strings.Split(string(buf), "\n\n")
	out := make([]goroutine, 0, len(blocks))
	for i, b := range blocks {
		if i == 0 {
			continue // the caller's own
		}
		head, _, _ := strings.Cut(b, " [")
		out = append(out, goroutine{id: strings.TrimPrefix(head, "goroutine "), stack: b})
	}
	return out
}

// ignored reports whether a goroutine belongs to the runtime or the
// testing package rather than to a test.
func ignored(stack string) bool {
	for _, s := range []string{
		"testing.(*M).",
		"testing.tRunner",
		"testing.runTests",
		"testing.(*T).Run",
		"os/signal.signal_recv",
		"os/signal.loop",
		"runtime.ensureSigM",
		"runtime.ReadTrace",
		"created by runtime.gc",
		"runtime/trace.Start",
	} {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}
