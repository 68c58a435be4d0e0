// Package auqueue holds copies of H.264 access units on their way from an
// encoder's goroutine to a consumer's (an HLS muxer, a WebRTC preview, a
// push to a remote server), and the bounded queue between the two.
//
// The encoder must never wait for a slow consumer. Push copies an access
// unit into a reused buffer and queues it without blocking; when the queue
// is full the unit is dropped and counted and, as the P-frames after it
// cannot be decoded without it, the queue skips to the next IDR and
// signals that one is wanted. The consumer receives units from Units and
// gives each back with Release once spent, so that in steady state nothing
// is allocated per access unit.
package auqueue

import (
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// Unit is one access unit copied for a consumer: its NAL units, back to
// back in one buffer that is reused once the unit is released.
type Unit struct {
	// NALUs are the access unit's NAL units (empty ones left out),
	// slices of the unit's buffer; each has its length as capacity, so
	// that appending to one cannot overwrite the next. The consumer may
	// replace elements.
	NALUs   [][]byte
	PTS     time.Duration // presentation time, as given to Push
	Capture time.Time     // capture time, as given to Push
	Arrived time.Time     // when Push queued it
	IDR     bool          // one of the NAL units is an IDR slice
	// Gap says access units before this one are missing: the queue was
	// waiting for an IDR (after a drop, after WaitIDR, or from the start)
	// or, with ConsumerSkips, had dropped one, when this one was pushed.
	Gap bool

	buf []byte
}

// Bytes is the unit's buffer: its NAL units back to back, each after a
// four-byte start code with Config.AnnexB (an Annex-B byte stream).
func (u *Unit) Bytes() []byte { return u.buf }

// startCode precedes each NAL unit with Config.AnnexB.
var startCode = [4]byte{0, 0, 0, 1}

// fill copies au into u, reusing u's buffers. Empty NAL units, which carry
// nothing, are left out.
func (u *Unit) fill(au [][]byte, annexB bool) {
	size := 0
	for _, n := range au {
		if len(n) > 0 {
			size += len(n)
			if annexB {
				size += len(startCode)
			}
		}
	}
	if cap(u.buf) < size {
		u.buf = make([]byte, 0, size)
	}
	u.buf = u.buf[:0]
	u.NALUs = u.NALUs[:0]
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if annexB {
			u.buf = append(u.buf, startCode[:]...)
		}
		start := len(u.buf)
		u.buf = append(u.buf, n...)
		u.NALUs = append(u.NALUs, u.buf[start:len(u.buf):len(u.buf)])
	}
}

// isIDR says whether au has an IDR slice.
func isIDR(au [][]byte) bool {
	for _, n := range au {
		if len(n) > 0 && h264.NALUType(n[0]&0x1f) == h264.NALUTypeIDR {
			return true
		}
	}
	return false
}

// Config configures a Queue.
type Config struct {
	// Len is the number of units that may wait for the consumer, at
	// least 1.
	Len int
	// AnnexB lays each unit's buffer out as an Annex-B byte stream (see
	// Unit.Bytes), for a packetiser that takes one (pion's): the start
	// codes are written here rather than by h264.AnnexB.Marshal, which
	// allocates a buffer for every access unit.
	AnnexB bool
	// ConsumerSkips leaves the skipping to the consumer: the queue takes
	// every unit it has room for, from the first, and marks Gap on the
	// first one queued after a drop. It is for a consumer that skips to an
	// IDR for reasons of its own too, and counts what it skips (package
	// push).
	ConsumerSkips bool
	// Total, if not nil, counts the drops too: a total over several
	// queues.
	Total *atomic.Uint64
}

// Queue is a bounded queue of units from one producer goroutine (Push) to
// one consumer goroutine (Units, Release), with the spent units kept for
// reuse.
type Queue struct {
	units   chan *Unit
	free    chan *Unit // spent units, for Push to reuse
	wanted  chan struct{}
	waiting atomic.Bool // skip to the next IDR; with ConsumerSkips, mark the next unit's Gap
	dropped atomic.Uint64
	cfg     Config
}

// New makes a queue. Unless cfg.ConsumerSkips, it starts waiting for an
// IDR.
func New(cfg Config) *Queue {
	if cfg.Len < 1 {
		panic("auqueue: Config.Len < 1")
	}
	q := &Queue{
		units: make(chan *Unit, cfg.Len), free: make(chan *Unit, cfg.Len+2),
		wanted: make(chan struct{}, 1), cfg: cfg,
	}
	q.waiting.Store(!cfg.ConsumerSkips)
	return q
}

// Push copies the access unit au (NAL units without start codes) and
// queues it, without blocking. It is meant for the encoder's goroutine,
// one call at a time; au is not used after it returns.
//
// While the queue waits for an IDR, other units are skipped without a
// copy. When the queue is full the unit is dropped and counted, the queue
// waits for the next IDR, and Wanted gets a signal.
func (q *Queue) Push(au [][]byte, pts time.Duration, capture time.Time) {
	idr := isIDR(au)
	if !idr && !q.cfg.ConsumerSkips && q.waiting.Load() {
		return
	}
	var u *Unit
	select {
	case u = <-q.free:
	default:
		u = new(Unit)
	}
	u.fill(au, q.cfg.AnnexB)
	u.PTS, u.Capture, u.Arrived, u.IDR, u.Gap = pts, capture, time.Now(), idr, q.waiting.Load()
	select {
	case q.units <- u:
		if idr || q.cfg.ConsumerSkips {
			q.waiting.Store(false)
		}
	default:
		// The consumer is behind: drop this one and the P-frames after it,
		// which cannot be decoded without it, up to an IDR.
		q.dropped.Add(1)
		if q.cfg.Total != nil {
			q.cfg.Total.Add(1)
		}
		q.waiting.Store(true)
		q.Release(u)
		select {
		case q.wanted <- struct{}{}:
		default:
		}
	}
}

// Units is where the consumer receives the queued units, in order. Each
// is the consumer's until it gives it to Release.
func (q *Queue) Units() <-chan *Unit { return q.units }

// Release gives a spent unit back for reuse; the consumer must not use it
// afterwards.
func (q *Queue) Release(u *Unit) {
	select {
	case q.free <- u:
	default:
	}
}

// Drain releases the units waiting in the queue.
func (q *Queue) Drain() {
	for {
		select {
		case u := <-q.units:
			q.Release(u)
		default:
			return
		}
	}
}

// Wanted gets a signal (one at most waits) when a unit is dropped: the
// consumer should ask the encoder for an IDR, as often as it sees fit.
func (q *Queue) Wanted() <-chan struct{} { return q.wanted }

// WaitIDR makes the queue skip units up to the next IDR, as after a drop
// (with ConsumerSkips: marks the next unit's Gap), without counting a drop
// or signalling Wanted: for a consumer that lost the picture downstream.
func (q *Queue) WaitIDR() { q.waiting.Store(true) }

// Dropped is the number of units dropped because the queue was full.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }
