package testkit

import (
	"testing"
	"time"
)

func TestLeakCheckFailsOnAGoroutineLeftRunning(t *testing.T) {
	stop := make(chan struct{})
	code := runAndCheckLeaks(func() int {
		go func() { <-stop }()
		return 0
	}, 200*time.Millisecond)
	close(stop)
	if code != 1 {
		t.Fatalf("a goroutine left running: exit code %d, want 1", code)
	}
	done := make(chan struct{})
	code = runAndCheckLeaks(func() int {
		go func() { close(done) }()
		<-done
		return 0
	}, 5*time.Second)
	if code != 0 {
		t.Fatalf("no goroutine left: exit code %d, want 0", code)
	}
	if code := runAndCheckLeaks(func() int { return 3 }, time.Second); code != 3 {
		t.Fatalf("failing tests: exit code %d, want theirs (3)", code)
	}
}
