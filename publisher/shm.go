package publisher

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/framecast/framecast/internal/ingest"
	"github.com/framecast/framecast/internal/ingest/shm"
)

// SharedMemory configures WithSharedMemory.
type SharedMemory struct {
	// Slots is the number of frames in the ring, 2 to 64: the one being
	// drawn, and those the server has not freed yet (while nobody watches,
	// it keeps the latest). 0 means DefaultSlots.
	Slots int
	// Required makes Dial fail, rather than fall back to sending frames
	// over the socket, when shared memory cannot be had: a TCP address, a
	// system without memfds, or a server too old for it.
	Required bool
}

// DefaultSlots is the ring's number of slots when SharedMemory.Slots is 0.
const DefaultSlots = 4

// ErrNoSharedMemory is what Dial returns, wrapped, when SharedMemory.Required
// and the connection has no shared memory.
var ErrNoSharedMemory = errors.New("publisher: no shared memory")

// slotWait bounds how long Frame waits for the server to free a slot: it
// frees each within one conversion unless --when-full block holds it.
const slotWait = 10 * time.Second

// WithSharedMemory sends frames through a ring of shared memory on a Unix
// socket (docs/ingest-protocol.md, "Shared memory"): the publisher creates
// a sealed memfd of o.Slots frames and passes it to the server, which
// converts each frame straight from it. Only a 24-byte message per frame
// crosses the socket. Frame and Commit draw into a slot without any copy;
// WriteFrame copies once into one. The server frees a slot as soon as it
// has converted it, and when it is behind it drops the older waiting frames
// (counted in the stream's Dropped) rather than make the producer wait,
// unless it runs with --when-full block. Over TCP, or with a server that
// does not take it, the publisher sends frames over the socket as without
// this option (SharedMemory reports which), unless o.Required.
func WithSharedMemory(o SharedMemory) Option {
	return func(c *config) { c.shm = &o }
}

func (o *SharedMemory) check(network string) error {
	if o.Slots != 0 && (o.Slots < ingest.MinSlots || o.Slots > ingest.MaxSlots) {
		return fmt.Errorf("publisher: %d shared-memory slots: want %d to %d (0: %d)", o.Slots, ingest.MinSlots, ingest.MaxSlots, DefaultSlots)
	}
	if o.Slots == 0 {
		o.Slots = DefaultSlots
	}
	if !o.Required {
		return nil
	}
	if network != "unix" {
		return fmt.Errorf("%w: shared memory needs a unix:/// address", ErrNoSharedMemory)
	}
	if !shm.Supported {
		return fmt.Errorf("%w: this system has no memfd", ErrNoSharedMemory)
	}
	return nil
}

func errNoSharedMemory(address, why string) error {
	return fmt.Errorf("%w at %s: %s", ErrNoSharedMemory, address, why)
}

// ring is the publisher's mapping of the memfd it passed with RING.
type ring struct {
	mem       []byte
	slotSize  int
	frameSize int
	free      chan int // slots the producer may fill

	mu        sync.Mutex
	serverHas []bool // slot i was committed and not yet freed
}

// SharedMemory reports whether frames go through shared memory: the
// connection is on a Unix socket, WithSharedMemory was given and the server
// took it.
func (p *Publisher) SharedMemory() bool { return p.ring.Load() != nil }

// sendRing creates a ring for frames of f, maps it and passes it to the
// server with RING. Called with wmu held (or during Dial).
func (p *Publisher) sendRing(f Format) error {
	uc, ok := p.conn.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("publisher: shared memory on a %s connection", p.conn.LocalAddr().Network())
	}
	wf, err := toWire(f)
	if err != nil {
		return err
	}
	_, most := wf.FrameSize()
	r := ingest.Ring{Slots: uint32(p.sm.Slots), SlotSize: uint32(most)}
	if e := r.Validate(); e != nil {
		return fromWire(e)
	}
	mf, err := shm.Create(r.Size())
	if err != nil {
		return fmt.Errorf("publisher: shared memory: %w", err)
	}
	defer mf.Close() // the server gets its own descriptor; the mapping keeps the memory
	mem, err := shm.Map(int(mf.Fd()), int(r.Size()), true)
	if err != nil {
		return fmt.Errorf("publisher: shared memory: %w", err)
	}
	rg := &ring{mem: mem, slotSize: int(r.SlotSize), frameSize: f.FrameSize(), free: make(chan int, r.Slots),
		serverHas: make([]bool, r.Slots)}
	for i := range int(r.Slots) {
		rg.free <- i
	}
	h := ingest.Header{Type: ingest.TypeRing, Length: uint32(r.MarshalSize())}
	msg := make([]byte, ingest.HeaderSize+r.MarshalSize())
	h.MarshalTo(msg)
	r.MarshalTo(msg[ingest.HeaderSize:])
	// The ring is in place before the server can free any of its slots.
	p.ring.Store(rg)
	if err := shm.SendWithFD(uc, msg, int(mf.Fd())); err != nil {
		p.closeRing()
		return fmt.Errorf("publisher: send RING: %w", err)
	}
	return nil
}

// closeRing unmaps the ring, if any. Called with wmu held, or once readLoop
// has ended; nothing may use a slice Frame returned after.
func (p *Publisher) closeRing() {
	rg := p.ring.Swap(nil)
	p.cur = -1
	if rg != nil {
		shm.Unmap(rg.mem)
	}
}

// onFree takes a FREE from the server: its slot may be filled again.
func (p *Publisher) onFree(payload []byte) error {
	var f ingest.Free
	if err := f.Unmarshal(payload); err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	rg := p.ring.Load()
	if rg == nil || int(f.Index) >= cap(rg.free) {
		return fmt.Errorf("publisher: the server freed slot %d, which is not one of the ring's", f.Index)
	}
	rg.mu.Lock()
	held := rg.serverHas[f.Index]
	rg.serverHas[f.Index] = false
	rg.mu.Unlock()
	if !held {
		return fmt.Errorf("publisher: the server freed slot %d, which it did not hold", f.Index)
	}
	rg.free <- int(f.Index) // never blocks: the slot was not in the channel
	return nil
}

// Frame returns the memory of the next frame to send, Format().FrameSize()
// bytes, for the caller to draw into; Commit or CommitAt sends it. With
// shared memory it is a free slot of the ring, waiting (up to 10 s) for the
// server to free one if none is; nothing is copied, ever. Without, it is a
// buffer of the publisher's, which Commit sends as WriteFrame does. Calling
// Frame again before Commit returns the same memory.
//
// The slice is valid until Commit, SetFormat or Close: the slot is the
// server's once committed, and a new format maps a new ring. Frame and
// Commit are meant for one goroutine; errors are WriteFrame's.
func (p *Publisher) Frame() ([]byte, error) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if err := p.news(); err != nil {
		return nil, err
	}
	rg := p.ring.Load()
	if rg == nil {
		if p.buf == nil {
			p.buf = make([]byte, p.f.FrameSize())
		}
		return p.buf, nil
	}
	b, err := p.frame(rg)
	if err != nil {
		return nil, err
	}
	return b[:rg.frameSize], nil
}

// frame returns the current slot, taking a free one if there is none, with
// the capacity of a whole slot. Called with wmu held.
func (p *Publisher) frame(rg *ring) ([]byte, error) {
	if p.cur < 0 {
		select {
		case p.cur = <-rg.free:
		default:
			timer := time.NewTimer(slotWait)
			defer timer.Stop()
			select {
			case p.cur = <-rg.free:
			case <-p.done:
				p.mu.Lock()
				defer p.mu.Unlock()
				return nil, p.fatal
			case <-timer.C:
				return nil, fmt.Errorf("publisher: the server freed no shared-memory slot within %v", slotWait)
			}
		}
	}
	off := p.cur * rg.slotSize
	return rg.mem[off : off+rg.frameSize : off+rg.slotSize], nil
}

// Commit sends the frame Frame returned, stamped by the server with its
// arrival time. With shared memory the slot is the server's until it frees
// it; do not write to it after Commit.
func (p *Publisher) Commit() error { return p.commitFrame(0, false) }

// CommitAt is Commit with the producer's own timestamp, as WriteFrameAt.
func (p *Publisher) CommitAt(ts time.Duration) error { return p.commitFrame(ts, true) }

func (p *Publisher) commitFrame(ts time.Duration, hasTS bool) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.closed {
		return ErrClosed
	}
	rg := p.ring.Load()
	if rg == nil {
		if p.buf == nil {
			return errors.New("publisher: Commit without Frame")
		}
		if err := p.news(); err != nil {
			return err
		}
		if err := p.w.WriteFrame(p.buf, ts, hasTS); err != nil {
			return p.writeFailed(err)
		}
		return nil
	}
	if p.cur < 0 {
		return errors.New("publisher: Commit without Frame")
	}
	return p.commit(rg.frameSize, ts, hasTS)
}

// commit sends SLOT for the current slot. Called with wmu held.
func (p *Publisher) commit(n int, ts time.Duration, hasTS bool) error {
	s := ingest.Slot{Index: uint32(p.cur), Length: uint32(n), Timestamp: ts, HasTimestamp: hasTS}
	rg := p.ring.Load()
	rg.mu.Lock()
	rg.serverHas[p.cur] = true
	rg.mu.Unlock()
	p.cur = -1
	if err := p.w.WriteSlot(&s); err != nil {
		return p.writeFailed(err)
	}
	return nil
}
