package rtsp

import (
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
)

// setupGate lets one session at a time be between SETUP and PLAY on a
// mount. gortsplib v5.5.2 reads the other readers' set-up medias (a map)
// while it handles a UDP SETUP, and a session writes its own map after its
// SETUP without the stream's lock: two viewers of one address setting up at
// once are a data race, and Go may abort on the concurrent map access. The
// gate orders them: a session's SETUP waits until the previous one has
// played (its map is written by then, and the gate's lock carries that to
// the next), closed, or spent gateTimeout.
type setupGate struct {
	mu    sync.Mutex
	owner *gortsplib.ServerSession
	done  chan struct{} // closed when the owner leaves
}

// gateTimeout bounds the wait behind a client that sets up and never plays.
const gateTimeout = 2 * time.Second

func (g *setupGate) enter(ss *gortsplib.ServerSession) {
	deadline := time.NewTimer(gateTimeout)
	defer deadline.Stop()
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
		select {
		case <-done:
		case <-deadline.C:
			g.mu.Lock()
			if g.done == done {
				g.owner, g.done = nil, nil
				close(done)
			}
			g.mu.Unlock()
		}
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
