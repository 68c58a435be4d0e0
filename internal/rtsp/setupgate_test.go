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

// TestSetupGateTimesOutPerOwner: a session behind several others, each in
// the gate for less than the timeout, waits for every one of them, however
// long they take together; it does not go in beside one of them.
func TestSetupGateTimesOutPerOwner(t *testing.T) {
	g := setupGate{timeout: time.Second}
	const hold = 600 * time.Millisecond // each owner's time in the gate; two of them pass the timeout
	a, b, last := &gortsplib.ServerSession{}, &gortsplib.ServerSession{}, &gortsplib.ServerSession{}
	g.enter(a)
	var mu sync.Mutex
	inside := a // who holds the gate now
	entered := make(chan *gortsplib.ServerSession, 1)
	go func() {
		g.enter(last)
		mu.Lock()
		entered <- inside
		mu.Unlock()
		g.leave(last)
	}()
	select {
	case <-entered:
		t.Fatal("the last session entered while a was in the gate")
	case <-time.After(hold):
	}
	// a leaves and b enters at once (the gate's lock held across both, so
	// that the last session is behind b, as behind the next of many).
	g.mu.Lock()
	close(g.done)
	g.owner, g.done = b, make(chan struct{})
	g.mu.Unlock()
	mu.Lock()
	inside = b
	mu.Unlock()
	select {
	case <-entered:
		t.Fatal("the last session entered while b was in the gate: its wait behind a counted against b")
	case <-time.After(hold):
	}
	mu.Lock()
	inside = nil
	mu.Unlock()
	g.leave(b)
	select {
	case o := <-entered:
		if o != nil {
			t.Fatal("the last session entered while another was in the gate")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the last session did not enter within 10 s of b leaving")
	}
}
