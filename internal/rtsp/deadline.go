package rtsp

import (
	"sync/atomic"
	"time"
)

// deadlineSlack is how far from the write deadline gortsplib asks for a
// viewer's socket's may be (lazyDeadline).
const deadlineSlack = time.Second

// lazyDeadline is the write deadline set on a socket. gortsplib sets now
// plus its write timeout (10 s) on a viewer's socket before every packet it
// writes: each call takes the socket's poller lock and moves a runtime
// timer (about 8 % of the fan-out's CPU at 400 TCP viewers, measured),
// and the UDP viewers all share one socket. A deadline is passed on only
// when it is more than deadlineSlack from the one set, or when it or the
// one set is none; a write may thus time out up to deadlineSlack from when
// gortsplib asked.
type lazyDeadline struct {
	set atomic.Int64 // Unix nanoseconds; 0 for none
}

// needed reports whether t must be set on the socket, and takes it as set
// if so.
func (d *lazyDeadline) needed(t time.Time) bool {
	var want int64
	if !t.IsZero() {
		want = t.UnixNano()
	}
	if cur := d.set.Load(); want != 0 && cur != 0 && max(want-cur, cur-want) <= int64(deadlineSlack) {
		return false
	}
	d.set.Store(want)
	return true
}

// forced records t as set on the socket whatever it was (SetDeadline).
func (d *lazyDeadline) forced(t time.Time) {
	var want int64
	if !t.IsZero() {
		want = t.UnixNano()
	}
	d.set.Store(want)
}

// deadliner is a socket's deadline setters.
type deadliner interface {
	SetWriteDeadline(time.Time) error
	SetDeadline(time.Time) error
}

// SetWriteDeadline sets t as c's write deadline unless the one set is
// within deadlineSlack of it.
func (d *lazyDeadline) SetWriteDeadline(c deadliner, t time.Time) error {
	if !d.needed(t) {
		return nil
	}
	return c.SetWriteDeadline(t)
}

// SetDeadline sets both of c's deadlines to t.
func (d *lazyDeadline) SetDeadline(c deadliner, t time.Time) error {
	d.forced(t)
	return c.SetDeadline(t)
}
