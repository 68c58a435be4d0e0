package framecast

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/framecast/framecast/internal/ingest"
	"github.com/framecast/framecast/internal/ingest/shm"
	"github.com/framecast/framecast/internal/yuv"
)

// This file is the server's end of the ingest protocol's shared memory
// (docs/ingest-protocol.md, "Shared memory"). A producer on a Unix socket
// whose HELLO asks for it passes a sealed memfd with RING after each
// FORMAT; the server maps it read-only, and for each SLOT converts the
// frame straight from the mapping (Stream.WriteFrame reads it and keeps
// nothing), then sends FREE. The socket carries 24 bytes a frame instead of
// the frame.
//
// The producer owns the slots, so the server never makes it wait, but with
// --when-full block: when the server is behind, a SLOT whose successor has
// already arrived is freed without being converted and counted as dropped,
// as the stream drops the oldest waiting picture. While nobody watches, the
// stream keeps its latest frame where it is, in its slot (writeBorrowed),
// instead of copying it (held.go): that slot is freed when the next frame
// replaces it, and copied out only when the ring goes. The ring counts
// against --max-ingest-memory for as long as it is mapped.

// shmRing is a connection's mapped ring.
type shmRing struct {
	ring ingest.Ring
	mem  []byte // the ring, mapped read-only
	held []bool // slot i is the server's: SLOT came, FREE not yet sent
	// pending is a SLOT in hand, not yet converted, with a newer SLOT
	// read ahead behind it.
	pending    ingest.Slot
	hasPending bool
	// pinned is the slot the stream keeps as its latest frame while nobody
	// watches (writeBorrowed), -1 for none: it is freed when no longer so.
	pinned int
	free   []byte // FREE messages to send, reused
}

// source is what the session's Reader reads: on a Unix socket, a reader
// that keeps the descriptors sent with RING.
func (ss *producerSession) source() io.Reader {
	if uc, ok := ss.pc.c.(*net.UnixConn); ok && shm.Supported {
		ss.fds = shm.NewReader(uc)
		return ss.fds
	}
	return ss.pc.c
}

// onRing maps the ring a RING describes, whose memfd came with it.
func (ss *producerSession) onRing(payload []byte) *ingest.Error {
	// The descriptor came with the RING's bytes: take it first, so that an
	// error below closes it.
	fd := -1
	if ss.fds != nil {
		fd, _ = ss.fds.Take()
	}
	if fd >= 0 {
		defer shm.CloseFD(fd) // the mapping keeps the memory
	}
	if !ss.shared {
		return &ingest.Error{Code: ingest.CodeMalformed, Fatal: true,
			Message: "RING on a connection without shared memory (HELLO's flag 0x04 on a Unix socket, answered by READY's flag 0x01)"}
	}
	if ss.st == nil {
		return &ingest.Error{Code: ingest.CodeBadRing, Fatal: true,
			Message: "RING before any accepted FORMAT: slots are sized for the format"}
	}
	var rg ingest.Ring
	if err := rg.Unmarshal(payload); err != nil {
		return err.(*ingest.Error)
	}
	if e := rg.CheckFormat(&ss.format); e != nil {
		return e
	}
	if fd < 0 {
		return &ingest.Error{Code: ingest.CodeBadRing, Fatal: true, Message: shm.ErrNoDescriptor.Error()}
	}
	if err := shm.Check(fd, rg.Size()); err != nil {
		return &ingest.Error{Code: ingest.CodeBadRing, Fatal: true, Message: err.Error()}
	}
	ss.closeRing()
	if e := ss.pc.s.ingest.limits.budget.ReserveRing(rg.Size()); e != nil {
		return e
	}
	mem, err := shm.Map(fd, int(rg.Size()), false)
	if err != nil {
		ss.pc.s.ingest.limits.budget.ReleaseRing(rg.Size())
		return &ingest.Error{Code: ingest.CodeBadRing, Fatal: true, Message: err.Error()}
	}
	ss.ring = &shmRing{ring: rg, mem: mem, held: make([]bool, rg.Slots), pinned: -1}
	// READY's short form: the URL came with HELLO's and FORMAT's.
	r := ingest.Ready{Version: ingest.Version, MaxFramePayload: ingest.MaxFramePayload}
	if err := ss.pc.send(func(w *ingest.Writer) error { return w.WriteReady(&r) }); err != nil {
		ss.pc.c.Close() // the next read says so
	}
	return nil
}

// onSlot converts the frame a SLOT names, or drops it for a newer one.
func (ss *producerSession) onSlot(m *ingest.Message) *ingest.Error {
	rg := ss.ring
	if rg == nil {
		msg := "SLOT before any RING (a FORMAT ends the ring: send a RING after each FORMAT)"
		if !ss.shared {
			msg = "SLOT on a connection without shared memory (HELLO's flag 0x04 on a Unix socket)"
		}
		return &ingest.Error{Code: ingest.CodeMalformed, Fatal: true, Message: msg}
	}
	var s ingest.Slot
	if err := s.Unmarshal(m.Payload); err != nil {
		return err.(*ingest.Error)
	}
	s.HasTimestamp = m.Header.Flags&ingest.FlagTimestamp != 0
	if e := rg.ring.CheckSlot(&s); e != nil {
		return e
	}
	if rg.held[s.Index] {
		return &ingest.Error{Code: ingest.CodeMalformed, Fatal: true,
			Message: fmt.Sprintf("SLOT %d again before the server's FREE of it", s.Index)}
	}
	rg.held[s.Index] = true
	if rg.hasPending {
		// A newer frame is here: the one in hand is dropped unconverted.
		rg.hasPending = false
		ss.st.framesIn.Add(1)
		ss.st.dropped.Add(1)
		rg.queueFree(rg.pending.Index)
	}
	if ss.pc.s.cfg.WhenFull != Block {
		if h, ok := ss.r.PeekHeader(); ok && h.Type == ingest.TypeSlot {
			// The server is behind: a newer SLOT waits, read whole. Keep
			// this one until it is read, and convert only the newest.
			rg.pending, rg.hasPending = s, true
			return ss.sendFrees()
		}
	}
	var e *ingest.Error
	kept := false
	if err := ss.format.CheckFrameSize(int64(s.Length)); err != nil {
		ss.st.refused.Add(1)
		e = err.(*ingest.Error)
	} else {
		kept, e = ss.writeSlot(rg.slot(s.Index, s.Length), s.Timestamp, s.HasTimestamp)
		if e == nil {
			ss.frames++
		}
		if e == nil && rg.pinned >= 0 {
			// The stream holds this frame now, or has converted it: the
			// pinned one is no longer its latest.
			if !kept {
				ss.st.releaseBorrowed()
			}
			rg.queueFree(uint32(rg.pinned))
			rg.pinned = -1
		}
	}
	if kept {
		rg.pinned = int(s.Index)
	} else {
		rg.queueFree(s.Index)
	}
	if err := ss.sendFrees(); err != nil && e == nil {
		e = err
	}
	return e
}

// slot is the mapped memory of a SLOT's frame.
func (rg *shmRing) slot(i, n uint32) []byte {
	off := int(i) * int(rg.ring.SlotSize)
	return rg.mem[off : off+int(n) : off+int(n)]
}

// writeSlot writes a frame from the ring to the stream: converted there and
// then, or, while nobody watches, kept in place (kept) as the stream's
// latest frame, which the slot must then hold until releaseBorrowed.
func (ss *producerSession) writeSlot(pix []byte, ts time.Duration, hasTS bool) (kept bool, _ *ingest.Error) {
	kept, err := ss.st.writeBorrowed(pix, ts, hasTS)
	if err == nil {
		return kept, nil
	}
	if errors.Is(err, ErrStreamClosed) {
		return false, &ingest.Error{Code: ingest.CodeShuttingDown, Fatal: true, Message: "the server is shutting down"}
	}
	return false, &ingest.Error{Code: ingest.CodeFrameSize, Message: strings.TrimPrefix(err.Error(), "write "+ss.path+": ")}
}

// writeBorrowed is WriteFrameAt (or WriteFrame without hasTS) for a frame
// in shared memory: when nobody watches, the stream keeps pix itself as its
// latest frame instead of a copy, and says so (kept). The caller must then
// leave pix unchanged and mapped until releaseBorrowed, or until a later
// write replaces it.
func (st *Stream) writeBorrowed(pix []byte, ts time.Duration, hasTS bool) (kept bool, err error) {
	check := func() error {
		return yuv.CheckSize(len(pix), st.f.PixelFormat, st.f.Width, st.f.Height, st.f.Stride)
	}
	hold := func(h *heldFrame) {
		h.ext = pix
		h.pf, h.stride, h.w, h.h, h.isImg, h.valid = st.f.PixelFormat, st.f.Stride, st.f.Width, st.f.Height, false, true
		kept = true
	}
	err = st.writeWith(ts, hasTS, check, hold, func(dst *yuv.I420) error {
		return yuv.Convert(dst, pix, st.f.PixelFormat, st.f.Stride)
	})
	return kept && err == nil, err
}

// releaseBorrowed makes the stream copy the frame writeBorrowed left with
// it into its own buffer, if it still holds it: the last picture stays for
// a viewer who comes later, and the slot may be reused or unmapped.
func (st *Stream) releaseBorrowed() {
	st.held.mu.Lock()
	defer st.held.mu.Unlock()
	if h := &st.held; h.ext != nil {
		h.setRaw(h.ext, h.pf, h.stride, h.w, h.h)
	}
}

// queueFree gives slot i back, with the next sendFrees.
func (rg *shmRing) queueFree(i uint32) {
	rg.held[i] = false
	rg.free = ingest.AppendFree(rg.free, i)
}

// sendFrees sends the FREEs queued, in one write.
func (ss *producerSession) sendFrees() *ingest.Error {
	rg := ss.ring
	if len(rg.free) == 0 {
		return nil
	}
	err := ss.pc.send(func(*ingest.Writer) error {
		_, err := ss.pc.c.Write(rg.free)
		return err
	})
	rg.free = rg.free[:0]
	if err != nil {
		// The connection is broken: the next read says so.
		ss.pc.c.Close()
	}
	return nil
}

// closeRing unmaps the ring, if any, and gives its bytes back to the
// budget. Nothing converts from it any more: conversion happens in the
// session's goroutine, and Stream.WriteFrame keeps no reference to the
// pixels.
func (ss *producerSession) closeRing() {
	rg := ss.ring
	if rg == nil {
		return
	}
	if rg.pinned >= 0 {
		ss.st.releaseBorrowed()
	}
	ss.ring = nil
	shm.Unmap(rg.mem)
	ss.pc.s.ingest.limits.budget.ReleaseRing(rg.ring.Size())
}

// closeShm unmaps the ring and closes descriptors not taken, as the
// connection ends.
func (ss *producerSession) closeShm() {
	ss.closeRing()
	if ss.fds != nil {
		ss.fds.Close()
	}
}
