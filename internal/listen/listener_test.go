package listen

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeListener returns errs from Accept, one per call, then a connection,
// then blocks until closed.
type fakeListener struct {
	mu     sync.Mutex
	errs   []error
	conns  int // connections left to hand out after errs
	closed chan struct{}
	once   sync.Once
}

func newFake(conns int, errs ...error) *fakeListener {
	return &fakeListener{errs: errs, conns: conns, closed: make(chan struct{})}
}

func (f *fakeListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		f.mu.Unlock()
		return nil, err
	}
	if f.conns > 0 {
		f.conns--
		f.mu.Unlock()
		c, peer := net.Pipe()
		peer.Close()
		return c, nil
	}
	f.mu.Unlock()
	<-f.closed
	return nil, &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}
}

func (f *fakeListener) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8554} }

func emfile() error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
}

// fakeClock is a clock whose timers fire at once and move it on by their
// delay, so that back-off and rate limits are tested in simulated time.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	delays []time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) timer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.delays = append(c.delays, d)
	ch := make(chan time.Time, 1)
	ch <- c.t
	return ch, func() bool { return false }
}

func wrapFake(f net.Listener, log *bytes.Buffer) (*Listener, *fakeClock) {
	l := Wrap(f, Options{Name: "test", Logger: slog.New(slog.NewTextHandler(log, nil))})
	c := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	l.now, l.timer = c.now, c.timer
	return l, c
}

func TestAcceptRetriesEMFILEWithDoublingBackoffUpToOneSecond(t *testing.T) {
	const n = 12
	errs := make([]error, n)
	for i := range errs {
		errs[i] = emfile()
	}
	var log bytes.Buffer
	l, clock := wrapFake(newFake(1, errs...), &log)
	defer l.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept after %d EMFILEs: %v", n, err)
	}
	c.Close()
	if got := l.Retries(); got != n {
		t.Errorf("Retries() = %d, want %d", got, n)
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if fmt.Sprint(clock.delays) != fmt.Sprint(want) {
		t.Errorf("back-off delays %v, want %v", clock.delays, want)
	}
}

func TestAcceptBackoffStartsAgainAfterASuccess(t *testing.T) {
	var log bytes.Buffer
	f := newFake(2, emfile(), emfile())
	l, clock := wrapFake(f, &log)
	defer l.Close()
	if _, err := l.Accept(); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.errs = []error{emfile()}
	f.mu.Unlock()
	if _, err := l.Accept(); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 5 * time.Millisecond}
	if fmt.Sprint(clock.delays) != fmt.Sprint(want) {
		t.Errorf("back-off delays %v, want %v", clock.delays, want)
	}
}

// logLines returns the log lines with msg and the sum of their retries.
func logLines(t *testing.T, log, msg string) (lines []string, retries uint64) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if !strings.Contains(line, `msg="`+msg+`"`) {
			continue
		}
		lines = append(lines, line)
		_, rest, _ := strings.Cut(line, " retries=")
		v, _, _ := strings.Cut(rest, " ")
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("no retries= in %q", line)
		}
		retries += n
	}
	return lines, retries
}

func TestAcceptWarnsAtMostOncePerIntervalWithTheCountSinceTheLastLine(t *testing.T) {
	// 20 failures take 1.275 s of back-off up to 1 s, then 1 s each: 13.3 s
	// in all, so two warnings (at 0 s and after 10 s) and a recovery line.
	const n = 20
	errs := make([]error, n)
	for i := range errs {
		errs[i] = emfile()
	}
	var log bytes.Buffer
	l, _ := wrapFake(newFake(2, errs...), &log)
	defer l.Close()
	if _, err := l.Accept(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Accept(); err != nil {
		t.Fatal(err)
	}
	warns, warned := logLines(t, log.String(), "accept failed, retrying")
	infos, reported := logLines(t, log.String(), "accepting again")
	if len(warns) != 2 || len(infos) != 1 {
		t.Fatalf("%d warnings and %d recovery lines, want 2 and 1:\n%s", len(warns), len(infos), log.String())
	}
	for _, w := range warns {
		if !strings.Contains(w, "level=WARN") || !strings.Contains(w, "too many open files") || !strings.Contains(w, "listener=test") {
			t.Errorf("warning does not say what failed: %s", w)
		}
	}
	if warned+reported != n {
		t.Errorf("log lines count %d retries, want %d:\n%s", warned+reported, n, log.String())
	}
}

func TestAcceptReturnsPermanentErrors(t *testing.T) {
	perm := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EINVAL)}
	var log bytes.Buffer
	l, _ := wrapFake(newFake(0, emfile(), perm), &log)
	defer l.Close()
	_, err := l.Accept()
	if !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Accept = %v, want EINVAL", err)
	}
	if errors.Is(err, net.ErrClosed) {
		t.Errorf("a permanent error %v looks like a Close", err)
	}
	if l.Retries() != 1 {
		t.Errorf("Retries() = %d, want 1", l.Retries())
	}
}

// blockingClock's timers never fire; started receives one value per timer.
type blockingClock struct {
	started chan struct{}
	stopped chan struct{}
}

func (c *blockingClock) timer(time.Duration) (<-chan time.Time, func() bool) {
	c.started <- struct{}{}
	return nil, func() bool { close(c.stopped); return true }
}

func TestCloseEndsABackoffAtOnce(t *testing.T) {
	l := Wrap(newFake(0, emfile()), Options{Logger: slog.New(slog.DiscardHandler)})
	clock := &blockingClock{started: make(chan struct{}), stopped: make(chan struct{})}
	l.timer = clock.timer
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errc <- err
	}()
	<-clock.started // Accept is waiting out its back-off
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
	}
	<-clock.stopped // and stopped its timer
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestCloseEndsABlockedAccept(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(ln, Options{})
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errc <- err
	}()
	l.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
	}
}

func TestTemporary(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{emfile(), true},
		{syscall.ENFILE, true},
		{os.NewSyscallError("accept4", syscall.ENOBUFS), true},
		{syscall.ENOMEM, true},
		{syscall.ECONNABORTED, true},
		{net.ErrClosed, false},
		{syscall.EINVAL, false},
		{syscall.EBADF, false},
		{errors.New("something else"), false},
	} {
		if got := Temporary(tc.err); got != tc.want {
			t.Errorf("Temporary(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
