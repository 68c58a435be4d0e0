package rtsp

import (
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
)

// TestSetupGateOrdersSessionsAndSurvivesTimeouts: a second session waits
// for the first to leave; a session behind one that never leaves goes on
// after the timeout; leaving after a timeout, or twice, does not panic.
func TestSetupGateOrdersSessionsAndSurvivesTimeouts(t *testing.T) {
	var g setupGate
	a, b, c := &gortsplib.ServerSession{}, &gortsplib.ServerSession{}, &gortsplib.ServerSession{}
	g.enter(a)
	g.enter(a) // the owner may set up again (several medias)
	entered := make(chan struct{})
	go func() {
		g.enter(b)
		close(entered)
	}()
	select {
	case <-entered:
		t.Fatal("b entered while a was between SETUP and PLAY")
	case <-time.After(50 * time.Millisecond):
	}
	g.leave(a)
	select {
	case <-entered:
	case <-time.After(time.Second):
		t.Fatal("b did not enter after a left")
	}
	// b never plays: c enters after the timeout, and everyone leaving
	// afterwards, in any order, is harmless.
	start := time.Now()
	g.enter(c)
	if d := time.Since(start); d < gateTimeout-100*time.Millisecond {
		t.Fatalf("c entered after %v, before b's timeout", d)
	}
	g.leave(b)
	g.leave(c)
	g.leave(c)
	g.leave(a)
	// Many at once, leaving as they enter, as a mass join does.
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &gortsplib.ServerSession{}
			g.enter(s)
			g.leave(s)
		}()
	}
	wg.Wait()
}
