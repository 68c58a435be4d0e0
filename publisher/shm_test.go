//go:build linux

package publisher_test

import (
	"bytes"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/ingest"
	"github.com/framecast/framecast/internal/ingest/shm"
	"github.com/framecast/framecast/pixfmt"
	"github.com/framecast/framecast/publisher"
)

// shmFake is a fake server on a Unix socket that takes shared memory: it
// maps the producer's ring read-only, as the server does.
type shmFake struct {
	*fakeConn
	fds  *shm.Reader
	ring ingest.Ring
	mem  []byte
}

// connectShm dials a fake Unix server with WithSharedMemory(o), grants
// shared memory when grant, and maps the ring the publisher sends.
func connectShm(t *testing.T, f publisher.Format, o publisher.SharedMemory, grant bool) (*publisher.Publisher, *shmFake, error) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	res := dialAsync("unix://"+sock, f, publisher.WithSharedMemory(o))
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fds := shm.NewReader(c.(*net.UnixConn))
	t.Cleanup(fds.Close)
	sf := &shmFake{fakeConn: &fakeConn{c: c, r: ingest.NewReader(fds), w: ingest.NewWriter(c)}, fds: fds}
	m := sf.expect(t, ingest.TypeHello)
	if m.Header.Flags&ingest.FlagSharedMemory == 0 {
		t.Fatalf("HELLO flags %#x, want shared memory asked for", m.Header.Flags)
	}
	var flags uint8
	if grant {
		flags = ingest.FlagReadyShared
	}
	sf.w.WriteReadyFlags(&ingest.Ready{Version: 1, MaxFramePayload: ingest.MaxFramePayload}, flags)
	wf := sf.format(t)
	sf.ready(t)
	if grant {
		sf.mapRing(t, &wf)
	}
	r := <-res
	if r.err != nil {
		return nil, sf, r.err
	}
	t.Cleanup(func() { c.Close(); r.p.Close() })
	return r.p, sf, nil
}

// mapRing reads a RING, maps the descriptor that came with it and answers
// READY.
func (sf *shmFake) mapRing(t *testing.T, wf *ingest.Format) {
	t.Helper()
	if err := sf.ring.Unmarshal(sf.expect(t, ingest.TypeRing).Payload); err != nil {
		t.Fatal(err)
	}
	if err := sf.ring.CheckFormat(wf); err != nil {
		t.Fatal(err)
	}
	fd, err := sf.fds.Take()
	if err != nil {
		t.Fatal(err)
	}
	defer shm.CloseFD(fd)
	if err := shm.Check(fd, sf.ring.Size()); err != nil {
		t.Fatal(err)
	}
	if sf.mem, err = shm.Map(fd, int(sf.ring.Size()), false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shm.Unmap(sf.mem) })
	sf.ready(t)
}

// slot reads a SLOT and returns the frame the server sees in its mapping.
func (sf *shmFake) slot(t *testing.T) (ingest.Slot, []byte) {
	t.Helper()
	m := sf.expect(t, ingest.TypeSlot)
	var s ingest.Slot
	if err := s.Unmarshal(m.Payload); err != nil {
		t.Fatal(err)
	}
	s.HasTimestamp = m.Header.Flags&ingest.FlagTimestamp != 0
	if err := sf.ring.CheckSlot(&s); err != nil {
		t.Fatal(err)
	}
	off := int(s.Index) * int(sf.ring.SlotSize)
	return s, sf.mem[off : off+int(s.Length)]
}

func (sf *shmFake) free(t *testing.T, i uint32) {
	t.Helper()
	if err := sf.w.WriteFree(&ingest.Free{Index: i}); err != nil {
		t.Fatal(err)
	}
}

// TestFrameIsTheSlotTheServerReads: what the producer draws into Frame's
// slice is what the server reads from its own mapping, without a byte on
// the socket; the slots go round as the server frees them.
func TestFrameIsTheSlotTheServerReads(t *testing.T) {
	f := publisher.Format{PixelFormat: pixfmt.Gray, Width: 64, Height: 48, FPS: 30}
	p, sf, err := connectShm(t, f, publisher.SharedMemory{Slots: 2, Required: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !p.SharedMemory() || sf.ring != (ingest.Ring{Slots: 2, SlotSize: 64 * 48}) {
		t.Fatalf("SharedMemory() %v, ring %+v; want a ring of 2 slots of 3072 bytes", p.SharedMemory(), sf.ring)
	}
	for n := range 6 {
		buf, err := p.Frame()
		if err != nil {
			t.Fatal(err)
		}
		for i := range buf {
			buf[i] = byte(n + i)
		}
		if err := p.CommitAt(time.Duration(n) * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		s, got := sf.slot(t)
		if s.Index != uint32(n%2) || !s.HasTimestamp || s.Timestamp != time.Duration(n)*time.Millisecond {
			t.Errorf("frame %d: SLOT %+v, want slot %d at %v", n, s, n%2, time.Duration(n)*time.Millisecond)
		}
		want := make([]byte, 64*48)
		for i := range want {
			want[i] = byte(n + i)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d: the server's mapping does not hold what the producer drew", n)
		}
		sf.free(t, s.Index)
	}
	// WriteFrame copies into a slot; a slot the server holds is not reused.
	pix := bytes.Repeat([]byte{7}, 64*48)
	if err := p.WriteFrame(pix); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteFrame(pix); err != nil {
		t.Fatal(err)
	}
	s0, got0 := sf.slot(t)
	s1, _ := sf.slot(t)
	if s0.Index == s1.Index || !bytes.Equal(got0, pix) || s0.HasTimestamp {
		t.Errorf("two WriteFrames used slots %d and %d (timestamp %v)", s0.Index, s1.Index, s0.HasTimestamp)
	}
	// With both slots the server's, Frame waits for a FREE.
	got := make(chan error, 1)
	go func() {
		_, err := p.Frame()
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("Frame returned (%v) with no slot free", err)
	case <-time.After(50 * time.Millisecond):
	}
	sf.free(t, s1.Index)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// TestServerThatDoesNotTakeSharedMemory: the publisher falls back to FRAMEs,
// or with Required, Dial says why.
func TestServerThatDoesNotTakeSharedMemory(t *testing.T) {
	p, sf, err := connectShm(t, gray, publisher.SharedMemory{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if p.SharedMemory() {
		t.Error("SharedMemory() = true, the server said no")
	}
	sf.r.SetFormat(ingest.Format{PixelFormat: pixfmt.Gray, Width: 4, Height: 2, FPSNum: 30, FPSDen: 1})
	buf, _ := p.Frame()
	copy(buf, "abcdefgh")
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	if m := sf.expect(t, ingest.TypeFrame); string(m.Payload) != "abcdefgh" {
		t.Errorf("FRAME %q, want what Frame's buffer held", m.Payload)
	}
	_, _, err = connectShm(t, gray, publisher.SharedMemory{Required: true}, false)
	if !errors.Is(err, publisher.ErrNoSharedMemory) || !strings.Contains(err.Error(), "the server did not take it") {
		t.Errorf("Dial with Required against a server that says no = %v", err)
	}
}

// TestFreeOfASlotNotHeldIsFatal: a server that frees what it does not hold
// breaks the protocol; the publisher stops rather than hand out a slot twice.
func TestFreeOfASlotNotHeldIsFatal(t *testing.T) {
	p, sf, err := connectShm(t, gray, publisher.SharedMemory{Slots: 2}, true)
	if err != nil {
		t.Fatal(err)
	}
	sf.free(t, 1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := p.WriteFrame(make([]byte, 8))
		if err != nil {
			if !strings.Contains(err.Error(), "the server freed slot 1, which it did not hold") {
				t.Errorf("WriteFrame = %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no error after a bad FREE")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
