package framecast_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/ingest"
	"github.com/framecast/framecast/internal/ingest/shm"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/testsrc"
	"github.com/framecast/framecast/publisher"
)

// These tests run producers that send frames through shared memory
// (docs/ingest-protocol.md, "Shared memory") against a real server: the Go
// publisher with WithSharedMemory, and raw messages for what it never sends.

// listenIngestUnix starts a Unix-socket ingest listener on srv and returns
// its URL.
func listenIngestUnix(t testing.TB, srv *framecast.Server) string {
	t.Helper()
	sock := filepath.Join(shortTempDir(t), "ingest.sock")
	if _, err := srv.ListenIngest("unix://" + sock); err != nil {
		t.Fatal(err)
	}
	return "unix://" + sock
}

func dialShared(t testing.TB, address, path string, f framecast.Format, o publisher.SharedMemory) *publisher.Publisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := publisher.Dial(ctx, address, path, publisherFormat(f), publisher.WithSharedMemory(o))
	if err != nil {
		t.Fatalf("dial %s%s with shared memory: %v", address, path, err)
	}
	t.Cleanup(func() { pub.Close() })
	return pub
}

// checkRisingFrames reads 60 decoded frames, their numbers read by number:
// they rise with none missing but those the stream counted as dropped.
func checkRisingFrames(t *testing.T, srv *framecast.Server, dec *testkit.Frames, w, h int, number func(frame []byte, w, h int) uint32) {
	t.Helper()
	dropped := func() uint64 {
		var d uint64
		for _, in := range srv.Streams() {
			d += in.Stats.Dropped
		}
		return d
	}
	first := number(dec.Next(t, 10*time.Second), w, h)
	dropped0 := dropped()
	for prev := first; prev < first+59; {
		n := number(dec.Next(t, 5*time.Second), w, h)
		if n == prev {
			continue // the last picture again, as an IDR for a joining viewer
		}
		if n < prev || uint64(n-prev-1) > dropped()-dropped0 {
			t.Fatalf("frame %d after %d (%d dropped): order or loss", n, prev, dropped()-dropped0)
		}
		prev = n
	}
}

// TestIngestSharedMemoryFramesDecodeInOrder: WriteFrame copies each stamped
// frame into a slot; ffmpeg decodes them in order.
func TestIngestSharedMemoryFramesDecodeInOrder(t *testing.T) {
	const w, h = 640, 360
	srv := newServer(t, framecast.Config{})
	f := framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30}
	pub := dialShared(t, listenIngestUnix(t, srv), "/cam", f, publisher.SharedMemory{Required: true})
	if !pub.SharedMemory() {
		t.Fatal("SharedMemory() = false on a Unix socket with Required")
	}
	if st := srv.IngestStats(); st.FrameMemory < 4*w*h*3 {
		t.Errorf("FrameMemory = %d while a ring of 4 frames of %d bytes is mapped", st.FrameMemory, w*h*3)
	}
	push(t, pub, 30, 0, stampedBGR(w, h))
	checkRisingFrames(t, srv, testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", w, h), w, h, numberOf)
}

// TestIngestSharedMemoryFrameAndCommitDrawInPlace draws each frame straight
// into the slot Frame returns: no buffer of the producer's, no copy.
func TestIngestSharedMemoryFrameAndCommitDrawInPlace(t *testing.T) {
	const w, h = 640, 360
	srv := newServer(t, framecast.Config{})
	f := framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30}
	pub := dialShared(t, listenIngestUnix(t, srv), "/cam", f, publisher.SharedMemory{Slots: 3, Required: true})
	a, err := pub.Frame()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := pub.Frame(); &again[0] != &a[0] || len(a) != w*h*3 {
		t.Fatalf("Frame twice before Commit gave two slots, or %d bytes (want %d)", len(a), w*h*3)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for n := uint32(0); ; n++ {
			buf, err := pub.Frame()
			if err != nil {
				done <- err
				return
			}
			for i := range buf {
				buf[i] = 100
			}
			testsrc.StampNumber(buf, w, h, w*3, 3, n)
			if err := pub.CommitAt(time.Duration(n) * time.Second / 30); err != nil {
				done <- err
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Frame/Commit: %v", err)
		}
	}()
	checkRisingFrames(t, srv, testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", w, h), w, h, numberOf)
}

// TestIngestSharedMemoryNewFormatMapsANewRing: SetFormat makes a new ring
// for the new size; frames of both sizes arrive.
func TestIngestSharedMemoryNewFormatMapsANewRing(t *testing.T) {
	srv := newServer(t, framecast.Config{Linger: time.Hour})
	f := framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48, FPS: 30}
	pub := dialShared(t, listenIngestUnix(t, srv), "/cam", f, publisher.SharedMemory{Required: true})
	for range 5 {
		if err := pub.WriteFrame(make([]byte, 64*48)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.SetFormat(publisher.Format{PixelFormat: framecast.Gray, Width: 128, Height: 96, FPS: 30}); err != nil {
		t.Fatal(err)
	}
	if b, err := pub.Frame(); err != nil || len(b) != 128*96 {
		t.Fatalf("Frame after SetFormat: %d bytes, %v; want %d", len(b), err, 128*96)
	}
	if err := pub.Commit(); err != nil {
		t.Fatal(err)
	}
	// A frame of the old size is refused as over the socket, and the
	// stream goes on.
	if err := pub.WriteFrame(make([]byte, 64*48)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "6 frames in and 1 refused", func() bool {
		s := srv.Streams()[0].Stats
		return s.FramesIn == 6 && s.Refused == 1
	})
	err := pub.Close()
	var e *publisher.Error
	if !errors.As(err, &e) || e.Code != publisher.CodeFrameSize || !strings.Contains(e.Message, "want 12288 for gray 128x96") {
		t.Errorf("Close = %v, want the frame-size error of the small frame", err)
	}
	waitFor(t, 5*time.Second, "the ring given back", func() bool { return srv.IngestStats().FrameMemory == 0 })
}

// TestIngestSharedMemoryFallsBackOverTCP: over TCP the server says no, the
// publisher sends FRAMEs, and Required makes it an error instead.
func TestIngestSharedMemoryFallsBackOverTCP(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	addr := listenIngestTCP(t, srv)
	f := framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48, FPS: 30}
	pub := dialShared(t, addr, "/cam", f, publisher.SharedMemory{})
	if pub.SharedMemory() {
		t.Error("SharedMemory() = true over TCP")
	}
	for range 3 {
		if err := pub.WriteFrame(make([]byte, 64*48)); err != nil {
			t.Fatal(err)
		}
	}
	buf, err := pub.Frame()
	if err != nil || len(buf) != 64*48 {
		t.Fatalf("Frame without shared memory: %d bytes, %v", len(buf), err)
	}
	if err := pub.Commit(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "4 frames over the socket", func() bool { return srv.Streams()[0].Stats.FramesIn == 4 })

	_, err = publisher.Dial(context.Background(), addr, "/other", publisherFormat(f),
		publisher.WithSharedMemory(publisher.SharedMemory{Required: true}))
	if !errors.Is(err, publisher.ErrNoSharedMemory) || !strings.Contains(err.Error(), "needs a unix:/// address") {
		t.Errorf("Dial over TCP with Required = %v, want ErrNoSharedMemory naming the address", err)
	}
	// A raw HELLO with the flag over TCP gets a READY without it.
	rc := dialRaw(t, addr)
	h := ingest.Hello{Path: "/raw", Flags: ingest.FlagSharedMemory}
	hb, _ := h.Marshal()
	rc.send(t, wireMsgFlags(ingest.TypeHello, ingest.FlagSharedMemory, hb))
	m, err := rc.r.Next()
	if err != nil || m.Header.Type != ingest.TypeReady || m.Header.Flags != 0 {
		t.Errorf("answer to HELLO with shared memory over TCP: %+v, %v; want READY with flags 0", m.Header, err)
	}
}

func wireMsgFlags(t ingest.Type, flags uint8, payload []byte) []byte {
	b := wireMsg(t, payload)
	b[1] = flags
	return b
}

// shmConn is a raw producer on a Unix socket with shared memory.
type shmConn struct {
	*rawConn
	uc *net.UnixConn
}

// dialShm says HELLO with the shared-memory flag and FORMAT f, and checks
// both READYs.
func dialShm(t *testing.T, address, path string, f ingest.Format) *shmConn {
	t.Helper()
	c, err := net.DialTimeout("unix", strings.TrimPrefix(address, "unix://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	sc := &shmConn{rawConn: &rawConn{c: c, r: ingest.NewReader(c)}, uc: c.(*net.UnixConn)}
	h := ingest.Hello{Path: path}
	hb, _ := h.Marshal()
	sc.send(t, wireMsgFlags(ingest.TypeHello, ingest.FlagSharedMemory, hb))
	m, err := sc.r.Next()
	if err != nil || m.Header.Type != ingest.TypeReady || m.Header.Flags != ingest.FlagReadyShared {
		t.Fatalf("answer to HELLO with shared memory: %+v, %v; want READY with flag 0x01", m.Header, err)
	}
	sc.send(t, wireFormat(f))
	if e := sc.next(t); e != nil {
		t.Fatalf("FORMAT: %v", e)
	}
	return sc
}

// ring sends RING with fd (none when fd < 0).
func (sc *shmConn) ring(t *testing.T, r ingest.Ring, fd int) {
	t.Helper()
	b, _ := r.Marshal()
	msg := wireMsg(ingest.TypeRing, b)
	if fd < 0 {
		sc.send(t, msg)
		return
	}
	if err := shm.SendWithFD(sc.uc, msg, fd); err != nil {
		t.Fatal(err)
	}
}

// newRing creates a sealed memfd for r, maps it and sends it.
func (sc *shmConn) newRing(t *testing.T, r ingest.Ring) []byte {
	t.Helper()
	f, err := shm.Create(r.Size())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mem, err := shm.Map(int(f.Fd()), int(r.Size()), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shm.Unmap(mem) })
	sc.ring(t, r, int(f.Fd()))
	if e := sc.next(t); e != nil {
		t.Fatalf("RING: %v", e)
	}
	return mem
}

// frees reads n FREEs and returns their slots.
func (sc *shmConn) frees(t *testing.T, n int) []uint32 {
	t.Helper()
	var got []uint32
	for range n {
		m, err := sc.r.Next()
		if err != nil || m.Header.Type != ingest.TypeFree {
			t.Fatalf("after %d FREEs: %+v, %v; want FREE", len(got), m.Header, err)
		}
		var f ingest.Free
		if err := f.Unmarshal(m.Payload); err != nil {
			t.Fatal(err)
		}
		got = append(got, f.Index)
	}
	return got
}

// TestIngestSharedMemoryServerBehindDropsOlderSlots: three SLOTs arrive
// together; the server takes only the newest, frees the two older at once
// and counts them as dropped in the stream's counters. Nobody watches, so
// it keeps the newest in its slot until the next frame replaces it.
func TestIngestSharedMemoryServerBehindDropsOlderSlots(t *testing.T) {
	srv := newServer(t, framecast.Config{Linger: time.Hour})
	sc := dialShm(t, listenIngestUnix(t, srv), "/cam", gray64x48)
	sc.newRing(t, ingest.Ring{Slots: 4, SlotSize: 64 * 48})
	var batch []byte
	for i := range uint32(3) {
		batch = ingest.AppendSlot(batch, &ingest.Slot{Index: i, Length: 64 * 48})
	}
	sc.send(t, batch)
	if got := sc.frees(t, 2); got[0] != 0 || got[1] != 1 {
		t.Errorf("FREEs %v, want 0 1", got)
	}
	s := srv.Streams()[0].Stats
	if s.FramesIn != 3 || s.Dropped != 2 {
		t.Errorf("FramesIn %d Dropped %d, want 3 and 2", s.FramesIn, s.Dropped)
	}
	// One at a time, none is dropped; each frees the one kept before.
	kept := uint32(2)
	for _, i := range []uint32{3, 0, 1, 2} {
		sc.send(t, ingest.AppendSlot(nil, &ingest.Slot{Index: i, Length: 64 * 48}))
		if got := sc.frees(t, 1); got[0] != kept {
			t.Errorf("SLOT %d freed %d, want %d, the slot kept before", i, got[0], kept)
		}
		kept = i
	}
	if s := srv.Streams()[0].Stats; s.FramesIn != 7 || s.Dropped != 2 {
		t.Errorf("FramesIn %d Dropped %d, want 7 and 2", s.FramesIn, s.Dropped)
	}
}

// TestIngestSharedMemoryViewerGetsTheLastPictureFromTheRing: while nobody
// watches, the latest frame stays in its slot, uncopied; a viewer who joins
// a paused producer gets it, and so does one who joins after the producer
// left (the server copied it out before unmapping the ring).
func TestIngestSharedMemoryViewerGetsTheLastPictureFromTheRing(t *testing.T) {
	testkit.Need(t, "ffmpeg")
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{Linger: time.Hour})
	f := framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30}
	pub := dialShared(t, listenIngestUnix(t, srv), "/cam", f, publisher.SharedMemory{Required: true})
	draw := stampedBGR(w, h)
	buf := make([]byte, w*h*3)
	write := func(from, to uint32) {
		for n := from; n <= to; n++ {
			if err := pub.WriteFrame(draw(buf, n)); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 5*time.Second, "the frames in", func() bool { return srv.Streams()[0].Stats.FramesIn == uint64(to+1) })
	}
	write(0, 9)
	dec := testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", w, h)
	if n := numberOf(dec.Next(t, 10*time.Second), w, h); n != 9 {
		t.Errorf("a viewer of the paused producer got frame %d, want 9", n)
	}
	dec.Stop()
	waitFor(t, 10*time.Second, "the viewer gone", func() bool { return len(srv.Streams()[0].Viewers) == 0 })
	write(10, 19)
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the producer gone", func() bool { return srv.Streams()[0].Producer == "" })
	dec = testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", w, h)
	if n := numberOf(dec.Next(t, 10*time.Second), w, h); n != 19 {
		t.Errorf("a viewer after the producer left got frame %d, want 19", n)
	}
}

// TestIngestSharedMemoryBlockConvertsEverySlot: with --when-full block the
// server drops nothing: it converts each SLOT before freeing it.
func TestIngestSharedMemoryBlockConvertsEverySlot(t *testing.T) {
	srv := newServer(t, framecast.Config{Linger: time.Hour, WhenFull: framecast.Block})
	sc := dialShm(t, listenIngestUnix(t, srv), "/cam", gray64x48)
	sc.newRing(t, ingest.Ring{Slots: 4, SlotSize: 64 * 48})
	var batch []byte
	for i := range uint32(4) {
		batch = ingest.AppendSlot(batch, &ingest.Slot{Index: i, Length: 64 * 48})
	}
	sc.send(t, batch)
	sc.frees(t, 3) // the last is kept for a viewer, nobody watching
	if s := srv.Streams()[0].Stats; s.FramesIn != 4 || s.Dropped != 0 {
		t.Errorf("FramesIn %d Dropped %d, want 4 and 0", s.FramesIn, s.Dropped)
	}
}

// TestIngestSharedMemoryBrokenProducerGetsAClearError: what a publisher
// never sends is a fatal ERROR that says what was wrong, and the ring is
// given back.
func TestIngestSharedMemoryBrokenProducerGetsAClearError(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	addr := listenIngestUnix(t, srv)
	sealed := func(size int64) int {
		f, err := shm.Create(size)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Dup(int(f.Fd()))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}
	unsealed := func(size int64) int {
		fd, err := unix.MemfdCreate("unsealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			t.Fatal(err)
		}
		unix.Ftruncate(fd, size)
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}
	const frame = 64 * 48
	slot := func(i, n uint32) []byte { return ingest.AppendSlot(nil, &ingest.Slot{Index: i, Length: n}) }
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, sc *shmConn)
		code ingest.Code
		want string
	}{
		{"no descriptor", func(t *testing.T, sc *shmConn) { sc.ring(t, ingest.Ring{Slots: 2, SlotSize: frame}, -1) },
			ingest.CodeBadRing, "no descriptor came with the RING"},
		{"memfd too small", func(t *testing.T, sc *shmConn) { sc.ring(t, ingest.Ring{Slots: 2, SlotSize: frame}, sealed(frame)) },
			ingest.CodeBadRing, "the memfd is 3072 bytes, want at least 6144 for the ring"},
		{"not sealed", func(t *testing.T, sc *shmConn) { sc.ring(t, ingest.Ring{Slots: 2, SlotSize: frame}, unsealed(2*frame)) },
			ingest.CodeBadRing, "not sealed against shrinking"},
		{"slots too small", func(t *testing.T, sc *shmConn) {
			sc.ring(t, ingest.Ring{Slots: 2, SlotSize: frame - 1}, sealed(2*frame))
		},
			ingest.CodeBadRing, "ring slots of 3071 bytes are too small for gray 64x48: want at least 3072 bytes"},
		{"SLOT before RING", func(t *testing.T, sc *shmConn) { sc.send(t, slot(0, frame)) },
			ingest.CodeMalformed, "SLOT before any RING"},
		{"slot beyond the ring", func(t *testing.T, sc *shmConn) {
			sc.newRing(t, ingest.Ring{Slots: 2, SlotSize: frame})
			sc.send(t, slot(2, frame))
		}, ingest.CodeMalformed, "SLOT 2: the ring has slots 0 to 1"},
		{"length beyond the slot", func(t *testing.T, sc *shmConn) {
			sc.newRing(t, ingest.Ring{Slots: 2, SlotSize: frame})
			sc.send(t, slot(1, frame+1))
		}, ingest.CodeMalformed, "SLOT 1: length 3073 is more than the ring's slots of 3072 bytes"},
		{"slot not freed", func(t *testing.T, sc *shmConn) {
			// Under --when-full drop-oldest the server holds a slot only
			// while a newer SLOT waits behind it: a repeat of it is one.
			sc.newRing(t, ingest.Ring{Slots: 2, SlotSize: frame})
			sc.send(t, append(slot(0, frame), slot(0, frame)...))
		}, ingest.CodeMalformed, "SLOT 0 again before the server's FREE of it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := dialShm(t, addr, "/"+strings.ReplaceAll(tc.name, " ", "-"), gray64x48)
			tc.run(t, sc)
			for {
				m, err := sc.r.Next()
				if err != nil {
					t.Fatalf("no ERROR: %v", err)
				}
				if m.Header.Type == ingest.TypeFree {
					continue
				}
				var e ingest.Error
				if m.Header.Type != ingest.TypeError || e.Unmarshal(m.Payload) != nil {
					t.Fatalf("server sent %v", m.Header.Type)
				}
				if e.Code != tc.code || !e.Fatal || !strings.Contains(e.Message, tc.want) {
					t.Errorf("ERROR %v (fatal %v), want %v containing %q", e.Message, e.Fatal, tc.code, tc.want)
				}
				break
			}
			sc.closedByServer(t)
		})
	}
	waitFor(t, 5*time.Second, "every ring given back", func() bool { return srv.IngestStats().FrameMemory == 0 })
	// A wrong length for the format is the non-fatal frame-size, as a FRAME's.
	sc := dialShm(t, addr, "/size", gray64x48)
	sc.newRing(t, ingest.Ring{Slots: 2, SlotSize: frame})
	sc.send(t, slot(0, 100))
	sc.frees(t, 1)
	if e := sc.next(t); e == nil || e.Code != ingest.CodeFrameSize || e.Fatal || !strings.Contains(e.Message, "frame is 100 bytes, want 3072") {
		t.Errorf("SLOT of 100 bytes: %v, want a non-fatal frame-size", e)
	}
	sc.send(t, slot(0, frame), slot(1, frame)) // 0 kept, then freed for 1
	if got := sc.frees(t, 1); got[0] != 0 {
		t.Errorf("freed %v, want 0", got)
	}
}

// TestIngestSharedMemoryRingCountsAgainstTheMemoryLimit: a ring larger
// than what is left of --max-ingest-memory is refused with server-busy.
func TestIngestSharedMemoryRingCountsAgainstTheMemoryLimit(t *testing.T) {
	srv := newServer(t, framecast.Config{MaxIngestFrameMemory: 4 << 20})
	addr := listenIngestUnix(t, srv)
	f := framecast.Format{PixelFormat: framecast.BGR24, Width: 640, Height: 480, FPS: 30}
	_, err := publisher.Dial(context.Background(), addr, "/cam", publisherFormat(f),
		publisher.WithSharedMemory(publisher.SharedMemory{Slots: 8}))
	var e *publisher.Error
	if !errors.As(err, &e) || e.Code != publisher.CodeServerBusy || !strings.Contains(e.Message, "ring of 7372800 bytes refused") {
		t.Errorf("Dial with a ring of 8 frames of 921600 bytes under a 4 MiB limit = %v, want server-busy", err)
	}
	pub := dialShared(t, addr, "/cam2", f, publisher.SharedMemory{Slots: 2})
	if got := srv.IngestStats().FrameMemory; got != 2*921600 {
		t.Errorf("FrameMemory = %d with a ring of 2 slots mapped, want %d", got, 2*921600)
	}
	pub.Close()
	waitFor(t, 5*time.Second, "the ring given back", func() bool { return srv.IngestStats().FrameMemory == 0 })
}
