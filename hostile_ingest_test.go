package framecast_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/ingest"
	"github.com/framecast/framecast/publisher"
)

// These tests play hostile ingest clients against a real server on
// 127.0.0.1: connections that never say HELLO, floods from one address,
// frames left half sent, wrong tokens. Each is bounded, counted and logged a
// bounded number of times, and producers and viewers that behave go on.

// wantIngestError reads the server's next message on rc and fails unless it
// is a fatal ERROR of code whose message contains words.
func wantIngestError(t *testing.T, rc *rawConn, code ingest.Code, words string) {
	t.Helper()
	e := rc.next(t)
	if e == nil || e.Code != code || !e.Fatal || !strings.Contains(e.Message, words) {
		t.Fatalf("server said %v; want fatal %v: …%s…", e, code, words)
	}
}

// TestIngestConnectionsWithoutHelloAreClosedAfterTheDeadline: connections
// that send nothing, or half a HELLO, get bad-hello once the HELLO deadline
// passes, are closed and counted; a producer still publishes.
func TestIngestConnectionsWithoutHelloAreClosedAfterTheDeadline(t *testing.T) {
	srv, logs := newLoggedServer(t, framecast.Config{IngestHelloTimeout: 300 * time.Millisecond})
	addr := listenIngestTCP(t, srv)
	var conns []*rawConn
	for range 5 {
		conns = append(conns, dialRaw(t, addr))
	}
	half := dialRaw(t, addr)
	half.send(t, wireHello("/cam")[:10]) // the header and 2 bytes of the payload
	conns = append(conns, half)
	for _, rc := range conns {
		wantIngestError(t, rc, ingest.CodeBadHello, "no HELLO within 300ms of connecting")
		rc.closedByServer(t)
	}
	waitFor(t, 10*time.Second, "every connection closed and counted", func() bool {
		st := srv.IngestStats()
		return st.HelloTimeouts == 6 && st.Connections == 0 && st.Unauthenticated == 0
	})
	if n := len(logs.lines("ingest connection without HELLO closed")); n != 1 {
		t.Errorf("%d lines for 6 connections closed at once, want 1 (then a count): %s", n, logs)
	}
	pub := dialPublisher(t, addr, "/cam", framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48, FPS: 30})
	if err := pub.WriteFrame(make([]byte, 64*48)); err != nil {
		t.Fatal(err)
	}
}

// TestIngestBeyondThePerIPCapIsRefusedAtOnceWhileProducersGoOn: with the
// per-address cap held by connections that say nothing, the next ones from
// that address are refused at once with server-busy, counted and logged
// once; a producer already publishing goes on, a viewer gets its frames,
// another address is let in, and the address gets its places back as the
// idle connections go.
func TestIngestBeyondThePerIPCapIsRefusedAtOnceWhileProducersGoOn(t *testing.T) {
	const w, h, limit = 320, 240, 4
	srv, logs := newLoggedServer(t, framecast.Config{IngestHelloTimeout: time.Minute, MaxIngestUnauthenticatedPerIP: limit})
	addr := listenIngestTCP(t, srv)
	pub := dialPublisher(t, addr, "/cam", framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30})
	push(t, pub, 30, 0, stampedBGR(w, h))

	var idle []*rawConn
	for range limit {
		idle = append(idle, dialRaw(t, addr))
	}
	waitFor(t, 10*time.Second, "the idle connections counted", func() bool { return srv.IngestStats().Unauthenticated == limit })
	const refused = 20
	for range refused {
		rc := dialRaw(t, addr)
		// The HELLO deadline is a minute away: an answer now is the cap's.
		wantIngestError(t, rc, ingest.CodeServerBusy,
			fmt.Sprintf("127.0.0.1 has its maximum of %d ingest connections that have not completed HELLO", limit))
		rc.closedByServer(t)
	}
	if st := srv.IngestStats(); st.RefusedPerIP != refused || st.Unauthenticated != limit {
		t.Errorf("stats %+v, want %d refused per IP and %d unauthenticated", st, refused, limit)
	}
	if n := len(logs.lines("ingest connection refused")); n != 1 {
		t.Errorf("%d lines for %d refusals, want 1 (then a count): %s", n, refused, logs)
	}

	decodes(t, url(srv, "/cam"), "tcp", w, h)
	// Another address has places of its own.
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}).
		Dial("tcp", strings.TrimPrefix(addr, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	other := &rawConn{c: c, r: ingest.NewReader(c)}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	other.send(t, wireHello("/other"))
	if e := other.next(t); e != nil {
		t.Fatalf("HELLO from 127.0.0.2: %v, want READY", e)
	}

	for _, rc := range idle {
		rc.c.Close()
	}
	waitFor(t, 10*time.Second, "the idle connections' places freed", func() bool { return srv.IngestStats().Unauthenticated == 0 })
	dialPublisher(t, addr, "/again", framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48, FPS: 30})
}

// TestIngestStalledHalfFramesStayWithinTheMemoryBound: 50 producers declare
// 4 MiB frames and send half of one each. The frames being received hold at
// most MaxIngestFrameMemory; those beyond it are refused with server-busy;
// the heap grows by about the bound, not 50 frames, and comes back once the
// connections close. Paths linger, so that the streams' own memory stays
// in the baseline.
func TestIngestStalledHalfFramesStayWithinTheMemoryBound(t *testing.T) {
	const (
		n     = 50
		frame = 1024 * 1024 * 4 // bgra 1024x1024
		bound = 32 << 20
		slack = 24 << 20
	)
	srv := newServer(t, framecast.Config{MaxIngestFrameMemory: bound, Linger: time.Hour, StatusInterval: -1})
	addr := listenIngestTCP(t, srv)
	f := ingest.Format{PixelFormat: framecast.BGRA, Width: 1024, Height: 1024, FPSNum: 30, FPSDen: 1,
		Options: ingest.Options{Threads: 1}}
	conns := make([]*rawConn, n)
	for i := range conns {
		rc := dialRaw(t, addr)
		rc.c.SetDeadline(time.Time{})
		rc.send(t, wireHello(fmt.Sprintf("/stall/%d", i)), wireFormat(f))
		for range 2 {
			rc.c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if e := rc.next(t); e != nil {
				t.Fatalf("producer %d: %v, want READY", i, e)
			}
		}
		conns[i] = rc
	}
	ready := heapInUse()

	// Each sends a FRAME header for 4 MiB, and 2 MiB of it; a reader per
	// connection reports the server-busy refusals and closes.
	var mu sync.Mutex
	refused := 0
	var readers sync.WaitGroup
	hdr := ingest.Header{Type: ingest.TypeFrame, Length: uint32(8 + frame)}
	head, _ := hdr.Marshal()
	halfFrame := append(append(head, make([]byte, 8)...), make([]byte, frame/2)...)
	for i, rc := range conns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			m, err := rc.r.Next()
			var e ingest.Error
			if err == nil && m.Header.Type == ingest.TypeError && e.Unmarshal(m.Payload) == nil {
				if e.Code != ingest.CodeServerBusy || !strings.Contains(e.Message, "frame of 4194304 bytes refused") {
					t.Errorf("producer %d: %v, want server-busy for the frame", i, &e)
				}
				mu.Lock()
				refused++
				mu.Unlock()
				rc.c.Close()
			}
		}()
		rc.c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		rc.c.Write(halfFrame) // a refused one may be closed before it is all sent
	}
	// Settled: the refused are gone and every other holds one 4 MiB buffer.
	waitFor(t, 60*time.Second, "every half frame held or refused", func() bool {
		mu.Lock()
		r := refused
		mu.Unlock()
		st := srv.IngestStats()
		return r > 0 && st.Connections == n-r && st.FrameMemory == int64(n-r)*frame && st.FramesRefusedMemory == uint64(r)
	})
	st := srv.IngestStats()
	if st.FrameMemory > bound || st.FrameMemoryLimit != bound {
		t.Errorf("frame memory %d of %d, want at most %d", st.FrameMemory, st.FrameMemoryLimit, bound)
	}
	attacked := heapInUse()
	mu.Lock()
	r := refused
	mu.Unlock()
	t.Logf("heap in use: %d MiB with %d producers, %d with their half frames (%d held, %d refused)",
		ready>>20, n, attacked>>20, n-r, r)
	if attacked > ready+bound+slack {
		t.Errorf("half frames grew the heap from %d to %d MiB, want at most %d MiB more", ready>>20, attacked>>20, (bound+slack)>>20)
	}

	for _, rc := range conns {
		rc.c.Close()
	}
	readers.Wait()
	waitFor(t, 30*time.Second, "connections gone, buffers given back", func() bool {
		st := srv.IngestStats()
		return st.Connections == 0 && st.FrameMemory == 0
	})
	if after := heapInUse(); after > ready+slack {
		t.Errorf("heap %d MiB after the producers left, want near the %d MiB before their frames", after>>20, ready>>20)
	} else {
		t.Logf("heap in use: %d MiB after they left", after>>20)
	}
}

// TestIngestPausedProducerGivesItsFrameBufferBack: a producer that sends a
// frame and then nothing holds no frame buffer after a few seconds; its
// next frame is taken as usual.
func TestIngestPausedProducerGivesItsFrameBufferBack(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	addr := listenIngestTCP(t, srv)
	pub := dialPublisher(t, addr, "/cam", framecast.Format{PixelFormat: framecast.Gray, Width: 640, Height: 480, FPS: 30})
	if err := pub.WriteFrame(make([]byte, 640*480)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the frame's buffer held", func() bool { return srv.IngestStats().FrameMemory == 640*480 })
	waitFor(t, 30*time.Second, "the buffer given back", func() bool {
		st := srv.IngestStats()
		return st.FrameMemory == 0 && st.IdleBuffersReleased == 1
	})
	if err := pub.WriteFrame(make([]byte, 640*480)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the next frame's buffer held", func() bool { return srv.IngestStats().FrameMemory == 640*480 })
}

// TestIngestWrongTokensLogAHandfulOfLines: 50 producers with a wrong token
// are each refused, counted, and logged together: the first with its
// address, the rest counted.
func TestIngestWrongTokensLogAHandfulOfLines(t *testing.T) {
	srv, logs := newLoggedServer(t, framecast.Config{Auth: []framecast.PathAuth{
		{Path: "*", Publish: []framecast.Credentials{{Pass: "t0ken"}}}}})
	addr := listenIngestTCP(t, srv)
	start := len(logs.lines())
	for i := range 50 {
		err := dialErr(t, addr, "/cam", publisher.WithToken(fmt.Sprintf("guess%d", i)))
		if !errorIsCode(err, publisher.CodeUnauthorized) {
			t.Fatalf("attempt %d: %v, want unauthorized", i, err)
		}
	}
	waitFor(t, 10*time.Second, "every attempt counted and closed", func() bool {
		st := srv.IngestStats()
		return st.AuthFailures == 50 && st.Connections == 0
	})
	lines := logs.lines()[start:]
	if len(lines) > 3 {
		t.Errorf("50 wrong tokens logged %d lines, want a handful:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if len(logs.lines("authentication failed", "what=publish", "remote=127.0.0.1:")) != 1 {
		t.Errorf("want the first failure logged with its address; log: %s", logs)
	}
}

func errorIsCode(err error, code ingest.Code) bool {
	var e *publisher.Error
	return errors.As(err, &e) && e.Code == code
}
