package ingest

import (
	"fmt"
	"sync/atomic"
)

// Budget bounds the memory that Readers hold in pixel buffers, all of them
// together: a Reader reserves a buffer's capacity before it allocates the
// buffer and gives it back when it drops it (Release, SetFormat). A
// reservation beyond the limit fails, and the Reader refuses the frame
// with a fatal server-busy error. A Budget is safe for concurrent use; a nil
// *Budget has no limit and counts nothing.
type Budget struct {
	limit   int64
	used    atomic.Int64
	refused atomic.Uint64
}

// NewBudget returns a Budget of limit bytes; limit <= 0 means no limit
// (what is held is still counted).
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Limit is the budget's limit in bytes, 0 for none.
func (b *Budget) Limit() int64 {
	if b == nil || b.limit < 0 {
		return 0
	}
	return b.limit
}

// Used is the number of bytes Readers hold now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Refused is the number of frames refused because the budget was spent.
func (b *Budget) Refused() uint64 {
	if b == nil {
		return 0
	}
	return b.refused.Load()
}

// reserve takes n bytes from the budget, or nothing and false when that
// would exceed its limit.
func (b *Budget) reserve(n int64) bool {
	if b == nil {
		return true
	}
	for {
		u := b.used.Load()
		if b.limit > 0 && u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (b *Budget) release(n int64) {
	if b != nil && n != 0 {
		b.used.Add(-n)
	}
}

// refuse counts a refused frame and returns the error the Reader gives.
func (b *Budget) refuse(frame int) *Error {
	b.refused.Add(1)
	return newError(CodeServerBusy, "frame of %d bytes refused: the server's memory for frames being received (%s) is in use; try again later",
		frame, mib(b.limit))
}

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// SetBudget makes r reserve its pixel buffers from b (nil: no limit). Call
// it before the first Next.
func (r *Reader) SetBudget(b *Budget) { r.budget = b }

// Held is the capacity of r's pixel buffer, in bytes: what r holds of its
// Budget.
func (r *Reader) Held() int { return int(r.held) }

// Release drops r's pixel buffer and gives its bytes back to the Budget; the
// next frame allocates a new one as its bytes arrive. Call it when the
// connection ends, or when it goes idle, so that memory is not held for
// frames that are not coming.
func (r *Reader) Release() {
	r.pix = nil
	r.budget.release(r.held)
	r.held = 0
}

// Buffered is the number of bytes read ahead and not yet returned.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// WaitInput blocks until a byte of the next message has arrived, without
// consuming it, or returns the underlying reader's error (a read deadline's,
// for example; with a net.Conn the Reader can go on reading once the
// deadline is moved).
func (r *Reader) WaitInput() error {
	_, err := r.br.Peek(1)
	return err
}

// ReserveRing takes n bytes for a shared-memory ring a connection maps,
// held until ReleaseRing: a ring counts as a frame buffer that is never
// idle. A ring beyond the limit is refused with a fatal server-busy error.
func (b *Budget) ReserveRing(n int64) *Error {
	if b.reserve(n) {
		return nil
	}
	b.refused.Add(1)
	return newError(CodeServerBusy, "ring of %d bytes refused: the server's memory for frames being received (%s) is in use; try again later",
		n, mib(b.limit))
}

// ReleaseRing gives back the bytes of a ring ReserveRing took.
func (b *Budget) ReleaseRing(n int64) { b.release(n) }
