package framecast

import (
	"sync"
)

// lifecycle records the first fatal error of the server's components.
type lifecycle struct {
	once    sync.Once
	stopped chan struct{} // closed at the first fatal error, or by Close
	err     error         // why; written before stopped is closed
}

// Done returns a channel that is closed when the server stops serving for
// good: a component failed (its RTSP listener or gortsplib's server loop,
// or an ingest listener, stopped on an error other than a temporary one
// such as EMFILE, which is retried) or Close was called. Wait then says
// which.
func (s *Server) Done() <-chan struct{} { return s.life.stopped }

// Wait blocks until Done is closed and returns the first component's fatal
// error, or ErrServerClosed after Close. After a fatal error the server is
// deaf on that address; the caller should Close it, and a program should
// exit non-zero rather than run on without it (framecast serve exits 1).
// Wait costs nothing while the server runs: it only waits on a channel.
func (s *Server) Wait() error {
	<-s.life.stopped
	return s.life.err
}

// watch starts the goroutine that turns the RTSP server's fatal error into
// Wait's; it ends with Close (s.done), which waits for it (s.wg).
func (s *Server) watch() {
	s.life.stopped = make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case err := <-s.rtsp.Err():
			s.fail(err)
		case <-s.done:
			s.stop(ErrServerClosed)
		}
	}()
}

// fail records err as the server's fatal error, unless the server is
// closing (Wait then says ErrServerClosed) or an earlier one was recorded.
func (s *Server) fail(err error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return
	}
	if s.stop(err) {
		s.log.Error("server stopped serving", "error", err,
			"note", "the server should be closed and restarted")
	}
}

// stop records err and closes Done, the first time; it says whether it did.
func (s *Server) stop(err error) bool {
	first := false
	s.life.once.Do(func() {
		s.life.err = err
		close(s.life.stopped)
		first = true
	})
	return first
}
