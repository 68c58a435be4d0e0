package testkit

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ProcessAlive reports whether process pid runs: it exists and is not a
// zombie waiting for a parent (init in a container may be slow to reap).
func ProcessAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false
		}
		return syscall.Kill(pid, 0) == nil // no /proc: not Linux
	}
	// pid (comm) STATE …: comm may hold spaces, so look after the last ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// WaitProcessGone waits until process pid has exited, failing the test
// after timeout with what happened before (e.g. "its parent was killed").
func WaitProcessGone(t testing.TB, pid int, timeout time.Duration, after string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for ProcessAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the framecast server (pid %d) still runs %v after %s", pid, timeout, after)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
