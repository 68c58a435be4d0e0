package framecast

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// lifecycle records the first fatal error of the server's components and
// holds what was attached to the server, by stage, for Shutdown.
type lifecycle struct {
	once    sync.Once
	stopped chan struct{} // closed at the first fatal error, or by Shutdown
	err     error         // why; written before stopped is closed

	mu      sync.Mutex
	closing bool // Shutdown has begun: Attach and Go refuse
	stages  [numStages]stage

	shutOnce sync.Once
	shut     chan struct{} // closed when Shutdown's sequence has finished
	shutErr  error         // the components' Close errors; written before shut is closed
}

// stage is what Shutdown stops at one Stage.
type stage struct {
	comps  []Component        // by Attach, closed last first
	ctx    context.Context    // of Go's functions: canceled at the stage's turn
	cancel context.CancelFunc //
	wg     sync.WaitGroup     // Go's functions
}

// Component is a part of a program's work that the server owns once it is
// attached (see Attach): a source of frames, the web server. The server
// calls Close once, from Shutdown, at the component's Stage; Close should
// return when everything the component started has stopped.
type Component interface {
	Close() error
}

// Stage says when Shutdown stops an attached component or a function run
// by Go: StageSource first, with the ingest producers, then the pushes,
// then StageConsumer, then the paths and RTSP.
type Stage int

const (
	// StageSource is for what makes frames: sources that publish streams
	// (the test pattern, a reader of raw frames). They stop first, with
	// the ingest listeners and producers, so that no frame arrives while
	// the rest closes.
	StageSource Stage = iota
	// StageConsumer is for what reads the streams besides RTSP viewers
	// and pushes: the web server, whose previews are sinks of the streams.
	// It stops after the sources and the pushes, before the paths.
	StageConsumer

	numStages
)

// Done returns a channel that is closed when the server stops serving for
// good: a component failed (its RTSP listener or gortsplib's server loop,
// an ingest listener, stopped on an error other than a temporary one such
// as EMFILE, which is retried, or a function run by Go returned an error)
// or Shutdown or Close was called. Wait then says which.
func (s *Server) Done() <-chan struct{} { return s.life.stopped }

// Wait blocks until Done is closed and returns the first component's fatal
// error, or ErrServerClosed after Shutdown or Close. After a fatal error the
// server is deaf on that address; the caller should shut it down, and a
// program should exit non-zero rather than run on without it (framecast
// serve exits 1).
// Wait costs nothing while the server runs: it only waits on a channel.
func (s *Server) Wait() error {
	<-s.life.stopped
	return s.life.err
}

// watch starts the goroutine that turns the RTSP server's fatal error into
// Wait's; it ends with Shutdown (s.done), which waits for it (s.wg). It
// also readies the stages for Attach and Go.
func (s *Server) watch() {
	s.life.stopped = make(chan struct{})
	s.life.shut = make(chan struct{})
	for i := range s.life.stages {
		g := &s.life.stages[i]
		g.ctx, g.cancel = context.WithCancel(context.Background())
	}
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

// Attach hands c to s: Shutdown (or Close) closes it at stage, after the
// stages before it have stopped, so that a program's parts stop in the
// order their data flows. Components of one stage are closed last attached
// first, like defers. If s is already shutting down, Attach closes c at
// once and returns ErrServerClosed; either way c is the server's to close.
func (s *Server) Attach(stage Stage, c Component) error {
	if stage < 0 || stage >= numStages {
		c.Close()
		return fmt.Errorf("attach: unknown stage %d", stage)
	}
	l := &s.life
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		c.Close()
		return ErrServerClosed
	}
	l.stages[stage].comps = append(l.stages[stage].comps, c)
	l.mu.Unlock()
	return nil
}

// Go runs run in a goroutine the server owns, like net/http's Serve loop
// or a source's read loop. Shutdown cancels run's ctx at stage, after
// closing the stages before it, and waits for run to return. An error run
// returns before its ctx is canceled is the server's fatal error: Done is
// closed and Wait returns it. run must not call Shutdown or Close, which
// would wait for it. Go returns ErrServerClosed, without running run, if
// s is shutting down.
func (s *Server) Go(stage Stage, run func(ctx context.Context) error) error {
	if stage < 0 || stage >= numStages {
		return fmt.Errorf("go: unknown stage %d", stage)
	}
	l := &s.life
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return ErrServerClosed
	}
	g := &l.stages[stage]
	g.wg.Add(1)
	l.mu.Unlock()
	go func() {
		defer g.wg.Done()
		if err := run(g.ctx); err != nil && g.ctx.Err() == nil {
			s.fail(err)
		}
	}()
	return nil
}

// Shutdown stops the server, each step once the one before it has stopped:
//
//  1. Publish, ListenIngest, Push, Attach and Go refuse with
//     ErrServerClosed from now on;
//  2. sources and producers, so that no new frame arrives: the contexts of
//     StageSource's Go functions are canceled, its components closed, the
//     ingest listeners closed and every producer sent a shutting-down
//     ERROR and disconnected;
//  3. pushes: each sends its remote a TEARDOWN;
//  4. StageConsumer: the web server and its previews;
//  5. the status loop, then the paths: their encoders stop;
//  6. RTSP: every viewer is disconnected and the listeners closed.
//
// Shutdown returns when all of that has stopped, every goroutine the server
// started and every Go function included, with the errors of the
// components' Close joined. If ctx is done first, it returns ctx.Err() and
// leaves the rest to finish; a later Shutdown or Close waits for the same
// sequence, which runs once. Wait returns ErrServerClosed from the start of
// Shutdown, unless a fatal error came first.
func (s *Server) Shutdown(ctx context.Context) error {
	l := &s.life
	l.shutOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		l.mu.Lock()
		l.closing = true
		l.mu.Unlock()
		s.stop(ErrServerClosed)
		// Ends with the sequence; every Shutdown not cut short waits for it.
		go func() {
			l.shutErr = s.shutdown()
			close(l.shut)
		}()
	})
	select {
	case <-l.shut:
		return l.shutErr
	default:
	}
	select {
	case <-l.shut:
		return l.shutErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close is Shutdown without a deadline: it returns when every goroutine
// the server started has stopped.
func (s *Server) Close() error { return s.Shutdown(context.Background()) }

// shutdown is Shutdown's sequence, in its documented order.
func (s *Server) shutdown() error {
	err := s.stopStage(StageSource, s.closeIngest)
	s.closePushes()
	err = errors.Join(err, s.stopStage(StageConsumer, nil))
	close(s.done)
	s.wg.Wait()
	s.closePaths()
	s.rtsp.Close()
	return err
}

// stopStage cancels the contexts of stage's Go functions, closes its
// components (last attached first), runs also (if not nil), and waits for
// the functions to return.
func (s *Server) stopStage(stage Stage, also func()) error {
	l := &s.life
	g := &l.stages[stage]
	l.mu.Lock()
	comps := g.comps
	g.comps = nil
	l.mu.Unlock()
	g.cancel()
	var errs []error
	for i := len(comps) - 1; i >= 0; i-- {
		if err := comps[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if also != nil {
		also()
	}
	g.wg.Wait()
	return errors.Join(errs...)
}
