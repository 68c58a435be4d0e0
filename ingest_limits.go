package framecast

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framecast/framecast/internal/ingest"
)

// Limits of the ingest side against hostile or broken clients: what an
// unauthenticated connection may cost, and what frames being received may
// hold (docs/serving.md, "Limits and abuse").
const (
	defaultIngestHelloTimeout            = 5 * time.Second
	defaultMaxIngestUnauthenticated      = 64
	defaultMaxIngestUnauthenticatedPerIP = 8
	defaultMaxIngestFrameMemory          = 512 << 20
	// ingestBufferIdle is how long a producer may send nothing before
	// its frame buffer is dropped (the next frame allocates it again).
	ingestBufferIdle = 5 * time.Second
	// ingestRefuseTimeout bounds the server-busy written to a connection
	// refused as it is accepted: the accept loop does not wait for more.
	ingestRefuseTimeout = 100 * time.Millisecond
	// ingestLimitLogInterval is the least time between two log lines of
	// one kind of refusal; those in between are counted in the next.
	ingestLimitLogInterval = authLogInterval
)

// ingestDefaults fills in the ingest limits left 0 in cfg.
func ingestDefaults(cfg *Config) {
	if cfg.IngestHelloTimeout == 0 {
		cfg.IngestHelloTimeout = defaultIngestHelloTimeout
	}
	if cfg.MaxIngestUnauthenticated == 0 {
		cfg.MaxIngestUnauthenticated = defaultMaxIngestUnauthenticated
	}
	if cfg.MaxIngestUnauthenticatedPerIP == 0 {
		cfg.MaxIngestUnauthenticatedPerIP = defaultMaxIngestUnauthenticatedPerIP
	}
	if cfg.MaxIngestFrameMemory == 0 {
		cfg.MaxIngestFrameMemory = defaultMaxIngestFrameMemory
	}
}

// IngestStats is what the ingest side holds now, and what it refused since
// the server started, for tests and metrics.
type IngestStats struct {
	// Connections is the number of ingest connections open now (refused
	// ones are not); Unauthenticated of them have not completed HELLO.
	Connections, Unauthenticated int
	// HelloTimeouts counts connections closed for not completing HELLO
	// within Config.IngestHelloTimeout.
	HelloTimeouts uint64
	// RefusedPerListener and RefusedPerIP count connections refused as
	// they were accepted, for Config.MaxIngestUnauthenticated and
	// MaxIngestUnauthenticatedPerIP.
	RefusedPerListener, RefusedPerIP uint64
	// AuthFailures counts HELLOs refused for their token.
	AuthFailures uint64
	// FrameMemory is the bytes held now in buffers of frames being
	// received; FrameMemoryLimit is Config.MaxIngestFrameMemory (0: none).
	FrameMemory, FrameMemoryLimit int64
	// FramesRefusedMemory counts frames refused because FrameMemory would
	// have exceeded its limit.
	FramesRefusedMemory uint64
	// IdleBuffersReleased counts frame buffers dropped because their
	// producer sent nothing for a while.
	IdleBuffersReleased uint64
}

// IngestStats returns the ingest side's counters. It costs a lock and a
// copy.
func (s *Server) IngestStats() IngestStats {
	in := &s.ingest
	lim := &in.limits
	in.mu.Lock()
	st := IngestStats{Connections: len(in.conns), Unauthenticated: len(lim.pending)}
	budget := lim.budget
	in.mu.Unlock()
	st.HelloTimeouts = lim.helloTimeouts.Load()
	st.RefusedPerListener = lim.refusedListener.Load()
	st.RefusedPerIP = lim.refusedIP.Load()
	st.AuthFailures = lim.authFailures.Load()
	st.FrameMemory, st.FrameMemoryLimit = budget.Used(), budget.Limit()
	st.FramesRefusedMemory = budget.Refused()
	st.IdleBuffersReleased = lim.idleReleased.Load()
	return st
}

// ingestLimits is the state of the ingest limits, in ingestState.
type ingestLimits struct {
	// Guarded by ingestState.mu: connections that have not completed
	// HELLO, and their number per listener and per remote IP.
	pending     map[*producerConn]pendingSlot
	perListener map[net.Listener]int
	perIP       map[string]int
	budget      *ingest.Budget // set by the first ListenIngest

	helloTimeouts, refusedListener, refusedIP, authFailures, idleReleased atomic.Uint64

	refuseLog, timeoutLog, failLog rateLog
}

type pendingSlot struct {
	l  net.Listener
	ip string // "" on a Unix socket
}

// admit counts pc, just accepted on l, as unauthenticated, or returns the
// error to refuse it with when a limit is reached. The caller holds
// ingestState.mu.
func (lim *ingestLimits) admit(cfg *Config, pc *producerConn, l net.Listener) *ingest.Error {
	if lim.pending == nil {
		lim.pending = make(map[*producerConn]pendingSlot)
		lim.perListener = make(map[net.Listener]int)
		lim.perIP = make(map[string]int)
	}
	slot := pendingSlot{l: l}
	if a, ok := pc.c.RemoteAddr().(*net.TCPAddr); ok {
		slot.ip = a.IP.String()
	}
	if n := cfg.MaxIngestUnauthenticated; n > 0 && lim.perListener[l] >= n {
		lim.refusedListener.Add(1)
		return &ingest.Error{Code: ingest.CodeServerBusy, Fatal: true, Message: fmt.Sprintf(
			"the ingest listener has its maximum of %d connections that have not completed HELLO; try again later", n)}
	}
	if n := cfg.MaxIngestUnauthenticatedPerIP; n > 0 && slot.ip != "" && lim.perIP[slot.ip] >= n {
		lim.refusedIP.Add(1)
		return &ingest.Error{Code: ingest.CodeServerBusy, Fatal: true, Message: fmt.Sprintf(
			"%s has its maximum of %d ingest connections that have not completed HELLO; try again later", slot.ip, n)}
	}
	lim.pending[pc] = slot
	lim.perListener[l]++
	if slot.ip != "" {
		lim.perIP[slot.ip]++
	}
	return nil
}

// authenticated ends pc's unauthenticated time, if it has not ended yet.
// The caller holds ingestState.mu.
func (lim *ingestLimits) authenticated(pc *producerConn) {
	slot, ok := lim.pending[pc]
	if !ok {
		return
	}
	delete(lim.pending, pc)
	if lim.perListener[slot.l]--; lim.perListener[slot.l] == 0 {
		delete(lim.perListener, slot.l)
	}
	if slot.ip != "" {
		if lim.perIP[slot.ip]--; lim.perIP[slot.ip] == 0 {
			delete(lim.perIP, slot.ip)
		}
	}
}

// refuseAtAccept sends e to a connection refused as it was accepted, as
// far as the socket takes it at once, and closes it; the log comes first,
// so that a producer that sees the close finds the line written.
func (s *Server) refuseAtAccept(pc *producerConn, e *ingest.Error) {
	pc.c.SetWriteDeadline(time.Now().Add(ingestRefuseTimeout))
	pc.w.WriteError(e)
	if n, total, ok := s.ingest.limits.refuseLog.event(); ok {
		s.log.Warn("ingest connection refused", "remote", pc.remote, "listener", pc.c.LocalAddr().String(),
			"error", e.Message, "refused", n, "refused_total", total,
			"note", fmt.Sprintf("refusals are counted and logged at most every %v", ingestLimitLogInterval))
	}
	pc.c.Close()
}

// startHelloDeadline gives the connection Config.IngestHelloTimeout to
// complete HELLO.
func (ss *producerSession) startHelloDeadline() {
	if d := ss.pc.s.cfg.IngestHelloTimeout; d > 0 {
		ss.pc.setReadDeadline(time.Now().Add(d))
	}
}

// authenticated is called once HELLO is accepted: the HELLO deadline ends,
// and the connection no longer counts against the unauthenticated limits.
func (ss *producerSession) authenticated() {
	pc := ss.pc
	pc.setReadDeadline(time.Time{})
	in := &pc.s.ingest
	in.mu.Lock()
	in.limits.authenticated(pc)
	in.mu.Unlock()
	pc.s.log.Info("producer connected", "remote", pc.remote, "path", ss.path, "listener", pc.c.LocalAddr().String())
}

// helloTimedOut reports whether err is the HELLO deadline's, and counts it.
func (ss *producerSession) helloTimedOut(err error) bool {
	if ss.hello || !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	ss.timedOut = true
	ss.pc.s.ingest.limits.helloTimeouts.Add(1)
	return true
}

func (ss *producerSession) helloTimeout() *ingest.Error {
	return &ingest.Error{Code: ingest.CodeBadHello, Fatal: true,
		Message: fmt.Sprintf("no HELLO within %v of connecting", ss.pc.s.cfg.IngestHelloTimeout)}
}

// logFailure logs a fatal error sent to the producer. Before HELLO is
// accepted, when anyone may be connecting, lines are bounded: refused
// tokens are authLog's, and other failures are logged at most once per
// interval, with a count.
func (ss *producerSession) logFailure(e *ingest.Error) {
	pc := ss.pc
	if ss.hello {
		pc.s.log.Warn("producer refused", "remote", pc.remote, "path", ss.path, "code", e.Code.String(), "error", e.Message)
		return
	}
	lim := &pc.s.ingest.limits
	switch {
	case e.Code == ingest.CodeUnauthorized:
		return
	case ss.timedOut:
		if n, total, ok := lim.timeoutLog.event(); ok {
			pc.s.log.Warn("ingest connection without HELLO closed", "remote", pc.remote, "error", e.Message,
				"closed", n, "closed_total", total,
				"note", fmt.Sprintf("these are counted and logged at most every %v", ingestLimitLogInterval))
		}
	default:
		if n, total, ok := lim.failLog.event(); ok {
			pc.s.log.Warn("ingest connection refused before HELLO", "remote", pc.remote, "path", ss.path,
				"code", e.Code.String(), "error", e.Message, "refused", n, "refused_total", total,
				"note", fmt.Sprintf("these are counted and logged at most every %v", ingestLimitLogInterval))
		}
	}
}

// dropBufferWhenIdle waits up to ingestBufferIdle for the next message
// when the Reader holds a frame buffer and nothing is read ahead; if none
// comes, the buffer is dropped, so that a paused producer holds no frame.
func (ss *producerSession) dropBufferWhenIdle() {
	if ss.r.Held() == 0 || ss.r.Buffered() > 0 {
		return
	}
	pc := ss.pc
	pc.setReadDeadline(time.Now().Add(ingestBufferIdle))
	err := ss.r.WaitInput()
	pc.setReadDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		ss.r.Release()
		ss.pc.s.ingest.limits.idleReleased.Add(1)
	}
	// Any other error comes again from the next read.
}

// rateLog says when to log an event that may repeat quickly: the first at
// once, then at most one line per ingestLimitLogInterval, counting those
// in between.
type rateLog struct {
	mu      sync.Mutex
	logged  time.Time
	pending uint64 // events since the last line
	total   uint64
}

// event records an event; when ok, log a line saying n events (this one
// included) happened since the last line, total in all.
func (r *rateLog) event() (n, total uint64, ok bool) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending++
	r.total++
	if r.total > 1 && now.Sub(r.logged) < ingestLimitLogInterval {
		return 0, 0, false
	}
	n, total = r.pending, r.total
	r.pending, r.logged = 0, now
	return n, total, true
}
