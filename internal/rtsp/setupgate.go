package rtsp

import (
	"cmp"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
)

// setupGate lets one SETUP at a time through gortsplib on a mount.
// gortsplib v5.5.2 reads the set-up medias (a map) of the stream's other
// readers from the viewer's address (TCP ones too; v5.6.4 still does, for
// UDP ones) while it handles a UDP SETUP, and every session writes its own
// map later in its SETUP without the stream's lock: two viewers of one address setting up at
// once are a data race, and Go may abort on the concurrent map access. The
// gate orders them: OnSetup enters it, and the SETUP's response leaves it
// (OnResponse; gortsplib has written the map by then, and the gate's lock
// carries that to the next SETUP). So a session holds the gate only while
// gortsplib handles its own SETUP (well under a millisecond, but 1 s for a
// GStreamer User-Agent, which gortsplib makes wait), never until it plays:
// a client that sets up and never plays costs the others nothing.
type setupGate struct {
	mu    sync.Mutex
	owner *gortsplib.ServerSession
	done  chan struct{} // closed when the owner leaves

	timeout time.Duration // 0: gateTimeout; tests set it
}

// gateTimeout bounds the wait behind one SETUP that is never answered (not
// expected: gortsplib answers every request it hands to OnSetup). It is a
// bound per owner, not per wait: in a mass join a session may queue behind
// many others, each in the gate for a moment, and a bound on its whole wait
// let it in beside a SETUP in progress (the race the gate is for; Go aborts
// on it).
const gateTimeout = 2 * time.Second

func (g *setupGate) enter(ss *gortsplib.ServerSession) {
	timeout := cmp.Or(g.timeout, gateTimeout)
	for {
		g.mu.Lock()
		if g.owner == nil || g.owner == ss {
			if g.owner == nil {
				g.owner, g.done = ss, make(chan struct{})
			}
			g.mu.Unlock()
			return
		}
		done := g.done
		g.mu.Unlock()
		t := time.NewTimer(timeout) // behind this owner only
		select {
		case <-done:
		case <-t.C:
			g.mu.Lock()
			if g.done == done {
				g.owner, g.done = nil, nil
				close(done)
			}
			g.mu.Unlock()
		}
		t.Stop()
	}
}

func (g *setupGate) leave(ss *gortsplib.ServerSession) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.owner == ss {
		g.owner = nil
		close(g.done)
		g.done = nil // so that a waiter's timeout does not close it again
	}
}
