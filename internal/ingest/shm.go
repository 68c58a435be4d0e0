package ingest

import (
	"encoding/binary"
	"time"
)

// Shared memory (docs/ingest-protocol.md, "Shared memory"): on a Unix
// socket, a producer whose HELLO had FlagSharedMemory, and whose READY had
// FlagReadyShared, may send frames through a ring of slots in a memfd it
// passes with RING, instead of through the socket. SLOT says a slot holds a
// frame; FREE gives it back. These are the messages; mapping the memory is
// package shm's.

// Limits of a ring.
const (
	// MinSlots and MaxSlots bound a ring's slots: while nobody watches the
	// server keeps the latest frame in its slot, so a producer needs two.
	MinSlots, MaxSlots = 2, 64
	// MaxRingSize is the most bytes a ring maps, all slots together.
	MaxRingSize = 1 << 30
)

// Ring is the RING payload: the shape of the ring whose memfd the message
// carries (SCM_RIGHTS). Slot i is the SlotSize bytes from i*SlotSize.
type Ring struct {
	Slots    uint32 // MinSlots…MaxSlots
	SlotSize uint32 // bytes per slot: at least the format's largest frame, at most MaxPixels
}

// ringSize is the size of a RING payload.
const ringSize = 8

// MarshalSize is the size of r's payload.
func (r *Ring) MarshalSize() int { return ringSize }

// MarshalTo writes r's payload into b. It does not check r: Validate does.
func (r *Ring) MarshalTo(b []byte) (int, error) {
	if len(b) < ringSize {
		return 0, ErrShortBuffer
	}
	binary.LittleEndian.PutUint32(b, r.Slots)
	binary.LittleEndian.PutUint32(b[4:], r.SlotSize)
	return ringSize, nil
}

// Marshal returns r's payload.
func (r *Ring) Marshal() ([]byte, error) {
	b := make([]byte, ringSize)
	n, err := r.MarshalTo(b)
	return b[:n], err
}

// Unmarshal parses a RING payload into r and validates it. Errors are
// *Error: malformed for a payload of the wrong length, bad-ring for a shape
// out of range.
func (r *Ring) Unmarshal(b []byte) error {
	if len(b) != ringSize {
		return newError(CodeMalformed, "RING payload is %d bytes, want %d", len(b), ringSize)
	}
	r.Slots = binary.LittleEndian.Uint32(b)
	r.SlotSize = binary.LittleEndian.Uint32(b[4:])
	if e := r.Validate(); e != nil {
		return e
	}
	return nil
}

// Size is the bytes the ring spans: Slots*SlotSize.
func (r *Ring) Size() int64 { return int64(r.Slots) * int64(r.SlotSize) }

// Validate checks the ring's shape against the protocol's limits: 1 to
// MaxSlots slots (2 to 64) of 1 to MaxPixels bytes, MaxRingSize in all. Errors are
// *Error with code bad-ring.
func (r *Ring) Validate() *Error {
	switch {
	case r.Slots < MinSlots || r.Slots > MaxSlots:
		return newError(CodeBadRing, "ring of %d slots: want %d to %d", r.Slots, MinSlots, MaxSlots)
	case r.SlotSize < 1 || r.SlotSize > MaxPixels:
		return newError(CodeBadRing, "ring slots of %d bytes: want 1 to %d", r.SlotSize, MaxPixels)
	case r.Size() > MaxRingSize:
		return newError(CodeBadRing, "ring of %d slots of %d bytes is %d bytes: want at most %d (1 GiB)",
			r.Slots, r.SlotSize, r.Size(), MaxRingSize)
	}
	return nil
}

// CheckFormat checks that each slot holds the largest frame of f. Errors
// are *Error with code bad-ring.
func (r *Ring) CheckFormat(f *Format) *Error {
	if _, most := f.FrameSize(); int64(r.SlotSize) < most {
		return newError(CodeBadRing, "ring slots of %d bytes are too small for %s: want at least %d bytes",
			r.SlotSize, f.describe(), most)
	}
	return nil
}

// Slot is the SLOT payload: slot Index of the ring holds a frame of Length
// bytes from the slot's start, captured at Timestamp. The producer does not
// touch the slot again until the server sends its FREE.
type Slot struct {
	Index  uint32
	Length uint32
	// Timestamp is the frame's capture time, as a FRAME's; it is sent in
	// the payload always, and meaningful when HasTimestamp (the header's
	// FlagTimestamp), which Marshal and Unmarshal neither write nor set.
	Timestamp    time.Duration
	HasTimestamp bool
}

// slotSize is the size of a SLOT payload.
const slotSize = 16

// SlotMessageSize is the size of a whole SLOT message, header included.
const SlotMessageSize = HeaderSize + slotSize

// MarshalSize is the size of s's payload.
func (s *Slot) MarshalSize() int { return slotSize }

// MarshalTo writes s's payload into b.
func (s *Slot) MarshalTo(b []byte) (int, error) {
	if len(b) < slotSize {
		return 0, ErrShortBuffer
	}
	binary.LittleEndian.PutUint32(b, s.Index)
	binary.LittleEndian.PutUint32(b[4:], s.Length)
	binary.LittleEndian.PutUint64(b[8:], uint64(s.Timestamp))
	return slotSize, nil
}

// Marshal returns s's payload.
func (s *Slot) Marshal() ([]byte, error) {
	b := make([]byte, slotSize)
	n, err := s.MarshalTo(b)
	return b[:n], err
}

// Unmarshal parses a SLOT payload into s. Whether the index and length fit
// the ring is the receiver's check (Ring.CheckSlot). Errors are *Error with
// code malformed.
func (s *Slot) Unmarshal(b []byte) error {
	if len(b) != slotSize {
		return newError(CodeMalformed, "SLOT payload is %d bytes, want %d", len(b), slotSize)
	}
	s.Index = binary.LittleEndian.Uint32(b)
	s.Length = binary.LittleEndian.Uint32(b[4:])
	s.Timestamp = time.Duration(binary.LittleEndian.Uint64(b[8:]))
	return nil
}

// CheckSlot checks that s names a slot of r and a length within it. Errors
// are *Error with code malformed: the producer and the server no longer
// agree on the ring.
func (r *Ring) CheckSlot(s *Slot) *Error {
	if s.Index >= r.Slots {
		return newError(CodeMalformed, "SLOT %d: the ring has slots 0 to %d", s.Index, r.Slots-1)
	}
	if s.Length > r.SlotSize {
		return newError(CodeMalformed, "SLOT %d: length %d is more than the ring's slots of %d bytes",
			s.Index, s.Length, r.SlotSize)
	}
	return nil
}

// Free is the FREE payload: the server is done with slot Index, which the
// producer may fill again.
type Free struct {
	Index uint32
}

// freeSize is the size of a FREE payload.
const freeSize = 4

// MarshalSize is the size of f's payload.
func (f *Free) MarshalSize() int { return freeSize }

// MarshalTo writes f's payload into b.
func (f *Free) MarshalTo(b []byte) (int, error) {
	if len(b) < freeSize {
		return 0, ErrShortBuffer
	}
	binary.LittleEndian.PutUint32(b, f.Index)
	return freeSize, nil
}

// Marshal returns f's payload.
func (f *Free) Marshal() ([]byte, error) {
	b := make([]byte, freeSize)
	n, err := f.MarshalTo(b)
	return b[:n], err
}

// Unmarshal parses a FREE payload into f. Errors are *Error with code
// malformed.
func (f *Free) Unmarshal(b []byte) error {
	if len(b) != freeSize {
		return newError(CodeMalformed, "FREE payload is %d bytes, want %d", len(b), freeSize)
	}
	f.Index = binary.LittleEndian.Uint32(b)
	return nil
}

// WriteRing writes a RING. The descriptor goes with the message's bytes,
// which is the transport's business: see shm.SendRing.
func (w *Writer) WriteRing(r *Ring) error { return w.writeControl(TypeRing, r) }

// WriteSlot writes a SLOT, with FlagTimestamp when s.HasTimestamp.
func (w *Writer) WriteSlot(s *Slot) error {
	var flags uint8
	if s.HasTimestamp {
		flags = FlagTimestamp
	}
	return w.writeControlFlags(TypeSlot, flags, s)
}

// WriteFree writes a FREE.
func (w *Writer) WriteFree(f *Free) error { return w.writeControl(TypeFree, f) }

// WriteReadyFlags writes a READY with flags in its header (FlagReadyShared).
func (w *Writer) WriteReadyFlags(r *Ready, flags uint8) error {
	return w.writeControlFlags(TypeReady, flags, r)
}

// AppendSlot appends a whole SLOT message to b, for a caller that batches
// messages into one write.
func AppendSlot(b []byte, s *Slot) []byte {
	var m [SlotMessageSize]byte
	h := Header{Type: TypeSlot, Length: slotSize}
	if s.HasTimestamp {
		h.Flags = FlagTimestamp
	}
	h.MarshalTo(m[:])
	s.MarshalTo(m[HeaderSize:])
	return append(b, m[:]...)
}

// FreeMessageSize is the size of a whole FREE message, header included.
const FreeMessageSize = HeaderSize + freeSize

// AppendFree appends a whole FREE message to b, for a server that frees
// several slots with one write.
func AppendFree(b []byte, index uint32) []byte {
	var m [FreeMessageSize]byte
	h := Header{Type: TypeFree, Length: freeSize}
	h.MarshalTo(m[:])
	binary.LittleEndian.PutUint32(m[HeaderSize:], index)
	return append(b, m[:]...)
}

// PeekHeader returns the header of the next message when it is already read
// ahead whole, and ok; it consumes nothing and never blocks. A server uses
// it to see whether a newer SLOT waits behind the one in hand.
func (r *Reader) PeekHeader() (h Header, ok bool) {
	if r.br.Buffered() < HeaderSize {
		return Header{}, false
	}
	b, err := r.br.Peek(HeaderSize)
	if err != nil || h.Unmarshal(b) != nil {
		return Header{}, false
	}
	if r.br.Buffered() < HeaderSize+int(h.Length) {
		return Header{}, false
	}
	return h, true
}
