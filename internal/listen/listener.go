// Package listen keeps framecast's listeners (RTSP, ingest, HTTP) accepting
// through transient failures. Accept fails with EMFILE when the process is
// out of file descriptors, ENFILE when the system is, ENOBUFS or ENOMEM under
// memory pressure, ECONNABORTED when a peer gives up in the backlog: none of
// them means the listener is gone, and a server that stops accepting on one
// of them is deaf for good. A Listener retries them with back-off, counts
// them and logs them at a bounded rate; only errors that do mean the end
// reach the caller. It sits beside the transports, below the servers that
// accept through it.
package listen

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Back-off bounds between two accepts that failed, as net/http uses.
const (
	MinDelay = 5 * time.Millisecond
	MaxDelay = time.Second
)

// DefaultLogInterval is the least time between two warnings of one
// Listener when Options.LogInterval is 0.
const DefaultLogInterval = 10 * time.Second

// Options configures a Listener. The zero value is usable.
type Options struct {
	// Name says what listens, e.g. "rtsp" or "ingest"; it is in every log
	// line.
	Name string
	// Logger receives the warnings; nil means slog.Default().
	Logger *slog.Logger
	// LogInterval is the least time between two warnings; 0 means
	// DefaultLogInterval. Retries in between are counted, and the next
	// line says how many there were.
	LogInterval time.Duration
}

// Listener is a net.Listener whose Accept retries temporary errors (see
// Temporary) with exponential back-off from MinDelay to MaxDelay, instead of
// returning them. It is safe for concurrent use.
type Listener struct {
	l        net.Listener
	name     string
	log      *slog.Logger
	interval time.Duration

	// Test hooks; time.Now and a real timer otherwise.
	now   func() time.Time
	timer func(d time.Duration) (c <-chan time.Time, stop func() bool)

	retries   atomic.Uint64
	done      chan struct{} // closed by Close: ends a back-off at once
	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex
	lastWarn time.Time // when the last warning was logged
	pending  uint64    // retries not yet in a log line
	warned   bool      // a warning was logged since the last recovery line
}

// Wrap returns a Listener accepting from l. Closing it closes l.
func Wrap(l net.Listener, o Options) *Listener {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LogInterval <= 0 {
		o.LogInterval = DefaultLogInterval
	}
	return &Listener{
		l: l, name: o.Name, log: o.Logger, interval: o.LogInterval,
		now: time.Now, timer: realTimer, done: make(chan struct{}),
	}
}

func realTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Accept waits for the next connection. A temporary error is retried after
// a back-off that doubles from MinDelay up to MaxDelay with each failure in
// a row, and counted; the first one, and then at most one every
// LogInterval, is logged at Warn with the count since the previous line.
// The first connection accepted after a warning is logged at Info with the
// retries not yet reported.
//
// Accept returns an error wrapping net.ErrClosed once Close is called (at
// once, even in the middle of a back-off), and any other error of the
// underlying listener as it is: those mean the listener is gone for good.
func (l *Listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.l.Accept()
		if err == nil {
			if delay > 0 {
				l.recovered()
			}
			return c, nil
		}
		if l.closed() {
			return nil, l.closedError(err)
		}
		if !Temporary(err) {
			return nil, err
		}
		delay = min(max(2*delay, MinDelay), MaxDelay)
		l.failed(err, delay)
		ch, stop := l.timer(delay)
		select {
		case <-l.done:
			stop()
			return nil, l.closedError(err)
		case <-ch:
		}
	}
}

func (l *Listener) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// closedError is what Accept returns after Close, whatever the underlying
// listener said.
func (l *Listener) closedError(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return err
	}
	return &net.OpError{Op: "accept", Net: l.l.Addr().Network(), Addr: l.l.Addr(), Err: net.ErrClosed}
}

func (l *Listener) failed(err error, delay time.Duration) {
	total := l.retries.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending++
	now := l.now()
	if !l.lastWarn.IsZero() && now.Sub(l.lastWarn) < l.interval {
		return
	}
	l.log.Warn("accept failed, retrying", "listener", l.name, "address", l.l.Addr().String(), "error", err,
		"retries", l.pending, "retries_total", total, "retry_in", delay,
		"note", fmt.Sprintf("at most one such line every %v", l.interval))
	l.lastWarn, l.pending, l.warned = now, 0, true
}

func (l *Listener) recovered() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.warned {
		return
	}
	l.log.Info("accepting again", "listener", l.name, "address", l.l.Addr().String(),
		"retries", l.pending, "retries_total", l.retries.Load())
	l.pending, l.warned = 0, false
}

// Retries returns how many accepts failed with a temporary error and were
// retried since Wrap.
func (l *Listener) Retries() uint64 { return l.retries.Load() }

// Close closes the underlying listener and ends any Accept, including one
// waiting out a back-off. It returns the underlying Close's error, and nil
// when called again.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.closeErr = l.l.Close()
	})
	return l.closeErr
}

// Addr returns the underlying listener's address.
func (l *Listener) Addr() net.Addr { return l.l.Addr() }

// Temporary reports whether err, returned by Accept, says the listener may
// accept again later: the process or the system is short of descriptors,
// buffers or memory, or a connection died before it was accepted.
func Temporary(err error) bool {
	for _, e := range []syscall.Errno{
		syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EPROTO,
		syscall.EAGAIN, syscall.EINTR, syscall.ETIMEDOUT,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
