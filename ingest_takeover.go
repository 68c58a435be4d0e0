package framecast

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/framecast/framecast/internal/ingest"
)

// This file is what HELLO's flags ask for (docs/ingest-protocol.md): a
// producer with FlagTakeover replaces the ingest producer that publishes
// its path when its first FORMAT publishes it, and one with FlagInfo gets
// the path's RTSP URL in every READY.
//
// Taking over is authorised as publishing is (the HELLO's token over TCP,
// the socket's permissions on a Unix socket): who may publish a path may
// take it from another producer. Only ingest producers can be replaced; a
// path published through the Go API or by a source of the server's own
// stays path-in-use.

// takeoverTimeout bounds how long a producer taking a path over waits for
// the old producer's stream to close (it encodes what it has queued).
const takeoverTimeout = 5 * time.Second

// evictedDeadline is a read deadline in the past: it wakes a read at once.
var evictedDeadline = time.Unix(1, 0)

// setReadDeadline sets the connection's read deadline, unless the
// connection was evicted: its deadline then stays in the past, so that a
// read the session is about to start returns at once.
func (pc *producerConn) setReadDeadline(t time.Time) {
	pc.dmu.Lock()
	defer pc.dmu.Unlock()
	if pc.evicted != nil {
		t = evictedDeadline
	}
	pc.c.SetReadDeadline(t)
}

// evict asks pc's session to end with e: its read in progress returns at
// once, and the session closes its stream (closing pc.released) before it
// sends e.
func (pc *producerConn) evict(e *ingest.Error) {
	pc.dmu.Lock()
	defer pc.dmu.Unlock()
	if pc.evicted == nil {
		pc.evicted = e
	}
	pc.c.SetReadDeadline(evictedDeadline)
}

// evictedBy returns the error pc was evicted with, or nil.
func (pc *producerConn) evictedBy() *ingest.Error {
	pc.dmu.Lock()
	defer pc.dmu.Unlock()
	return pc.evicted
}

// closeStream closes the session's stream, if it has one: the path lingers
// for the next producer. It then tells a producer taking the path over
// that it is free.
func (ss *producerSession) closeStream() {
	if ss.st != nil {
		ss.st.Close()
		ss.st = nil
	}
	ss.pc.releaseOnce.Do(func() { close(ss.pc.released) })
}

// replaced ends a session another producer took the path from.
func (ss *producerSession) replaced(e *ingest.Error) string {
	ss.closeStream()
	return ss.fail(e) // which logs it
}

// conn returns the live producer connection whose remote is remote.
func (in *ingestState) conn(remote string) *producerConn {
	in.mu.Lock()
	defer in.mu.Unlock()
	for pc := range in.conns {
		if pc.remote == remote {
			return pc
		}
	}
	return nil
}

// canTakeOver reports whether a producer with FlagTakeover may have path:
// nobody publishes it, or an ingest producer does.
func (ss *producerSession) canTakeOver(path string) (owner string, ok bool) {
	owner, busy := ss.pc.s.pathOwner(path)
	return owner, !busy || ss.pc.s.ingest.conn(owner) != nil
}

// publish publishes the session's path with f. With FlagTakeover, an
// ingest producer that publishes it is evicted with a replaced ERROR, and
// the path is published once that producer's stream has closed.
func (ss *producerSession) publish(f Format) (*Stream, error) {
	s := ss.pc.s
	st, err := s.publish(ss.path, f, ss.pc.remote)
	if !ss.takeover {
		return st, err
	}
	deadline := time.Now().Add(takeoverTimeout)
	for errors.Is(err, ErrPathInUse) && time.Now().Before(deadline) {
		owner, busy := s.pathOwner(ss.path)
		if busy {
			old := s.ingest.conn(owner)
			if old == nil {
				return nil, err // not an ingest producer
			}
			old.evict(&ingest.Error{Code: ingest.CodeReplaced, Fatal: true,
				Message: fmt.Sprintf("another producer (from %s) took over %s", ss.pc.remote, ss.path)})
			select {
			case <-old.released:
			case <-time.After(time.Until(deadline)):
				return nil, err
			}
			s.log.Info("path taken over", "path", ss.path, "producer", ss.pc.remote, "from", owner)
		}
		st, err = s.publish(ss.path, f, ss.pc.remote)
	}
	return st, err
}

// rtspURL is where viewers play path, for READY: the RTSP listener's
// address, or when it listens on every address, the address the producer
// reached the server on (127.0.0.1 for a Unix socket).
func (s *Server) rtspURL(path string, local net.Addr) string {
	a, ok := s.Addr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	host := "127.0.0.1"
	if a.IP != nil && !a.IP.IsUnspecified() {
		host = a.IP.String()
	} else if la, ok := local.(*net.TCPAddr); ok && la.IP != nil && !la.IP.IsUnspecified() {
		host = la.IP.String()
	}
	scheme := "rtsp://"
	if s.cfg.TLSCert != "" {
		scheme = "rtsps://"
	}
	return scheme + net.JoinHostPort(host, strconv.Itoa(a.Port)) + path
}
