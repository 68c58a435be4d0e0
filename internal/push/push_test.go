package push

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
)

func TestPushAnnouncesTheIDRsParametersAndSendsEveryFrameInOrder(t *testing.T) {
	r := startReceiver(t, "127.0.0.1:0", "", "")
	src := newSource(30)
	src.run(t)
	_, log := newLogs(t)
	p := newPusher(t, Config{URL: "rtsp://" + r.addr + "/cam", Subscribe: src.Subscribe, Logger: log})

	frames := r.waitFrames(t, 45, 10*time.Second)
	a := r.lastAnnounce()
	if a.path != "/cam" || !bytes.Equal(a.sps, testSPS) || !bytes.Equal(a.pps, testPPS) {
		t.Errorf("ANNOUNCE of %s with SPS %x PPS %x, want /cam with the IDR's %x and %x", a.path, a.sps, a.pps, testSPS, testPPS)
	}
	checkFrames(t, src, frames)
	for i := 1; i < len(frames); i++ {
		if frames[i].n != frames[i-1].n+1 {
			t.Fatalf("frame %d after %d: a frame is missing", frames[i].n, frames[i-1].n)
		}
	}
	// A frame is counted once its write has returned, which may be after
	// the receiver has it.
	eventually(t, 5*time.Second, "45 frames counted as sent", func() bool { return p.Stats().FramesSent >= 45 })
	st := p.Stats()
	if !st.Connected || st.Dropped != 0 || st.Reconnects != 0 || st.Failures != 0 {
		t.Errorf("stats %+v, want connected, nothing dropped, no reconnect or failure", st)
	}

	p.Close()
	if n := src.sinkCount(); n != 0 {
		t.Errorf("%d sinks still registered after Close, want 0", n)
	}
	// The remote sees the end of the stream (TEARDOWN), not a timeout.
	r.wait(t, 2*time.Second, "end of session", func() bool { return r.closed == 1 })
	if st := p.Stats(); st.Connected {
		t.Error("stats say connected after Close")
	}
}

func TestPushReconnectsWithBackoffAfterRemoteRestart(t *testing.T) {
	r1 := startReceiver(t, "127.0.0.1:0", "", "")
	src := newSource(30)
	src.run(t)
	logs, log := newLogs(t)
	p := newPusher(t, Config{URL: "rtsp://" + r1.addr + "/cam", Subscribe: src.Subscribe, Logger: log,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond})
	checkFrames(t, src, r1.waitFrames(t, 15, 10*time.Second))

	r1.Close() // the remote goes away: connections refused from now on
	eventually(t, 5*time.Second, "three failed attempts", func() bool { return len(logs.find("push failed")) >= 3 })
	if p.Stats().Connected {
		t.Error("stats say connected while the remote is down")
	}
	if n := src.sinkCount(); n != 0 {
		t.Errorf("%d sinks registered while disconnected, want 0 (on-demand encoding may stop)", n)
	}
	r2 := startReceiver(t, r1.addr, "", "")
	frames := r2.waitFrames(t, 15, 10*time.Second)
	checkFrames(t, src, frames)
	if a := r2.lastAnnounce(); !bytes.Equal(a.sps, testSPS) || !bytes.Equal(a.pps, testPPS) {
		t.Errorf("second ANNOUNCE has SPS %x PPS %x, want %x %x", a.sps, a.pps, testSPS, testPPS)
	}
	if n := src.addCount(); n < 2 {
		t.Errorf("sink registered %d times, want again on reconnect (to get an IDR)", n)
	}
	st := p.Stats()
	if !st.Connected || st.Reconnects != 1 || st.Failures < 4 {
		t.Errorf("stats %+v, want connected, 1 reconnect, at least 4 failures (1 disconnection, 3 refused)", st)
	}

	// One line per failure, with the wait doubling up to the maximum.
	disc := logs.find("push disconnected")
	if len(disc) != 1 || disc[0].attrs["retry_in"].Duration() != 100*time.Millisecond {
		t.Fatalf("disconnection logged %d times (%v), want once with retry_in=100ms", len(disc), disc)
	}
	want := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 400 * time.Millisecond}
	for i, rec := range logs.find("push failed")[:3] {
		if got := rec.attrs["retry_in"].Duration(); got != want[i] {
			t.Errorf("failure %d: retry_in=%v, want %v", i+1, got, want[i])
		}
		if got := rec.attrs["url"].String(); got != "rtsp://"+r1.addr+"/cam" {
			t.Errorf("failure %d logged with url=%q", i+1, got)
		}
	}
}

func TestPushBackoffDoublesUpToMaximumAndLogsURLWithoutPassword(t *testing.T) {
	addr := freePort(t)
	src := newSource(30)
	src.run(t)
	logs, log := newLogs(t)
	newPusher(t, Config{URL: "rtsp://user:secret@" + addr + "/cam", Subscribe: src.Subscribe, Logger: log,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 80 * time.Millisecond})
	eventually(t, 10*time.Second, "six failed attempts", func() bool { return len(logs.find("push failed")) >= 6 })
	want := []time.Duration{10, 20, 40, 80, 80, 80}
	for i, rec := range logs.find("push failed")[:6] {
		if got := rec.attrs["retry_in"].Duration(); got != want[i]*time.Millisecond {
			t.Errorf("failure %d: retry_in=%v, want %v", i+1, got, want[i]*time.Millisecond)
		}
		if got := rec.attrs["attempt"].Int64(); got != int64(i+1) {
			t.Errorf("failure %d logged as attempt %d", i+1, got)
		}
		if got, want := rec.attrs["url"].String(), "rtsp://user:xxxxx@"+addr+"/cam"; got != want {
			t.Errorf("failure %d: url=%q, want %q", i+1, got, want)
		}
	}
	for _, rec := range logs.all() {
		if strings.Contains(rec.text, "secret") {
			t.Errorf("password in a log line: %s", rec.text)
		}
	}
}

func TestPushWaitsForTheStreamToBePublished(t *testing.T) {
	r := startReceiver(t, "127.0.0.1:0", "", "")
	src := newSource(30)
	src.setErr(errNoStream)
	src.run(t)
	logs, log := newLogs(t)
	newPusher(t, Config{URL: "rtsp://" + r.addr + "/cam", Subscribe: src.Subscribe, Logger: log,
		PollInterval: 20 * time.Millisecond})
	// The Pusher connects only after Subscribe succeeds: 15 failed polls
	// must come before the check that it has not connected.
	eventually(t, 10*time.Second, "15 polls", func() bool { return src.tryCount() >= 15 })
	r.mu.Lock()
	n := len(r.announces)
	r.mu.Unlock()
	if n != 0 {
		t.Fatal("connected to the remote before the stream was published")
	}
	src.setErr(nil)
	checkFrames(t, src, r.waitFrames(t, 10, 5*time.Second))
	if w := logs.find("push waiting for the stream"); len(w) != 1 {
		t.Errorf("waiting logged %d times, want once", len(w))
	}
}

func TestPushStopsWhenItsSourceIsGone(t *testing.T) {
	src := newSource(30)
	src.setErr(fmt.Errorf("server closed: %w", ErrStop))
	_, log := newLogs(t)
	p := newPusher(t, Config{URL: "rtsp://" + freePort(t) + "/cam", Subscribe: src.Subscribe, Logger: log})
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("pusher still running after Subscribe returned ErrStop")
	}
	if !errors.Is(p.Err(), ErrStop) {
		t.Errorf("Err() = %v, want ErrStop", p.Err())
	}
}

// hangingRemote accepts TCP connections and never answers.
func hangingRemote(t *testing.T) (addr string, accepted <-chan struct{}) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			ch <- struct{}{}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String(), ch
}

func TestSinkNeverBlocksAndCloseReturnsWhileRemoteHangs(t *testing.T) {
	addr, accepted := hangingRemote(t)
	sinks := make(chan Sink, 4)
	subscribe := func(f Sink) (func(), error) {
		sinks <- f
		return func() {}, nil
	}
	_, log := newLogs(t)
	p := newPusher(t, Config{URL: "rtsp://" + addr + "/cam", Subscribe: subscribe, Logger: log, QueueSize: 8})
	sink := <-sinks
	now := time.Now()
	sink(makeAU(0, true, 20000, 3000), 0, now)
	select {
	case <-accepted: // the IDR is taken; the Pusher waits for the remote's answer
	case <-time.After(5 * time.Second):
		t.Fatal("pusher did not connect")
	}
	start := time.Now()
	for n := uint32(1); n <= 100; n++ {
		sink(makeAU(n, false, 20000, 3000), time.Duration(n)*time.Second/30, now)
	}
	t.Logf("100 sink calls with the queue full took %v", time.Since(start))
	if st := p.Stats(); st.Dropped != 92 || st.Connected {
		t.Errorf("stats %+v, want 92 dropped (100 minus a queue of 8), not connected", st)
	}
	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while the remote hangs")
	}
}

func TestPushSkipsToANewIDRAfterDroppingFrames(t *testing.T) {
	r := startReceiver(t, "127.0.0.1:0", "", "")
	src := newSource(30)
	src.sizeP = 20000 // 14 packets a frame, so the Pusher is slower than the bursts below
	_, log := newLogs(t)
	p := newPusher(t, Config{URL: "rtsp://" + r.addr + "/cam", Subscribe: src.Subscribe, Logger: log, QueueSize: 2})
	// The sleeps below pace the producer (and its bursts); the loops wait
	// on the Pusher's counters.
	for deadline := time.Now().Add(10 * time.Second); p.Stats().FramesSent < 5; {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: not 5 frames sent within 10 s", p.Stats())
		}
		src.frame()
		time.Sleep(10 * time.Millisecond)
	}
	// Bursts of frames much faster than they can be written.
	for i := 0; p.Stats().Dropped == 0; i++ {
		if i == 20 {
			t.Fatal("no frame dropped in 20 bursts of 200 frames into a queue of 2")
		}
		for range 200 {
			src.frame()
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range 60 {
		src.frame()
		time.Sleep(5 * time.Millisecond)
	}
	// The stream recovers: the last frame sent arrives.
	last := src.n - 1
	r.wait(t, 5*time.Second, fmt.Sprintf("frame %d", last), func() bool {
		return len(r.frames) > 0 && r.frames[len(r.frames)-1].n == last
	})
	frames := r.snapshot()
	checkFrames(t, src, frames)
	if adds := src.addCount(); adds < 2 {
		t.Errorf("sink registered %d times, want again after the drop (to ask for an IDR)", adds)
	}
	t.Logf("stats %+v, %d frames received", p.Stats(), len(frames))
}

// TestPushStartsFromAFreshIDRWhenConnectingWasSlow: the frames queued while
// the remote took 400 ms to answer are old; the push asks for a new IDR
// instead of sending them as a burst.
func TestPushStartsFromAFreshIDRWhenConnectingWasSlow(t *testing.T) {
	r := startReceiver(t, "127.0.0.1:0", "", "")
	r.announceDelay = 400 * time.Millisecond
	src := newSource(30)
	src.gop = 1000 // no IDR but those asked for
	src.run(t)
	_, log := newLogs(t)
	newPusher(t, Config{URL: "rtsp://" + r.addr + "/cam", Subscribe: src.Subscribe, Logger: log})
	frames := r.waitFrames(t, 10, 10*time.Second)
	checkFrames(t, src, frames)
	if n := src.addCount(); n != 2 {
		t.Errorf("sink registered %d times, want twice (again for a fresh IDR)", n)
	}
	sent, _ := src.sentTime(frames[0].n)
	if d := frames[0].arrived.Sub(sent); d > staleAfter {
		t.Errorf("first frame received was encoded %v before it arrived, want a fresh one", d)
	}
	if frames[0].n < 10 {
		t.Errorf("first frame received is %d, want one encoded after the 400 ms ANNOUNCE (about 12)", frames[0].n)
	}
}

func TestPushOverUDPWhenTheURLAsksForIt(t *testing.T) {
	rtpAddr, rtcpAddr := testkit.UDPPair(t)
	r := startReceiver(t, "127.0.0.1:0", rtpAddr, rtcpAddr)
	src := newSource(30)
	src.run(t)
	_, log := newLogs(t)
	p := newPusher(t, Config{URL: "rtsp://" + r.addr + "/cam?transport=udp", Subscribe: src.Subscribe, Logger: log})
	checkFrames(t, src, r.waitFrames(t, 30, 10*time.Second))
	r.mu.Lock()
	tr := r.transports
	r.mu.Unlock()
	if len(tr) != 1 || tr[0] != "UDP" {
		t.Errorf("receiver saw transports %v, want UDP", tr)
	}
	if a := r.lastAnnounce(); a.query != "" {
		t.Errorf("ANNOUNCE query %q: the transport parameter must not reach the server", a.query)
	}
	if p.Transport() != "udp" {
		t.Errorf("Transport() = %q", p.Transport())
	}
}

// TestPushAddsNoLatency measures, for each frame, the time from the sink
// call (the moment the encoder hands the access unit over) to the moment
// the receiver has the whole access unit: queue, packetiser, gortsplib's
// writer, the socket and the receiver's depacketiser. With Nagle's
// algorithm on (as a reference) the packets after the first of a frame
// wait for an ACK the receiver delays.
func TestPushAddsNoLatency(t *testing.T) {
	measure := func(t *testing.T, nagle bool) []time.Duration {
		r := startReceiver(t, "127.0.0.1:0", "", "")
		src := newSource(30)
		src.sizeP = 8000 // 1.9 Mbit/s at 30 fps: 6 packets a frame
		src.run(t)
		_, log := newLogs(t)
		cfg := Config{URL: "rtsp://" + r.addr + "/cam", Subscribe: src.Subscribe, Logger: log}
		cfg.nagle = nagle
		newPusher(t, cfg)
		frames := r.waitFrames(t, 91, 15*time.Second)[1:] // after the first IDR
		var d []time.Duration
		for _, f := range frames {
			sent, ok := src.sentTime(f.n)
			if !ok {
				t.Fatalf("frame %d was not sent", f.n)
			}
			d = append(d, f.arrived.Sub(sent))
		}
		p := percentiles(d, 50, 90, 99, 100)
		t.Logf("nagle=%v: sink call to whole frame at the receiver over %d frames: p50 %v, p90 %v, p99 %v, max %v",
			nagle, len(d), p[0], p[1], p[2], p[3])
		return p
	}
	var off []time.Duration
	t.Run("nodelay", func(t *testing.T) { off = measure(t, false) })
	t.Run("nagle", func(t *testing.T) { measure(t, true) })
	// A generous bound on the median: what it catches is a push that holds
	// most frames back (Nagle with delayed ACKs costs about 40 ms, a
	// batching writer a frame interval), not scheduling noise on a shared
	// machine. The figures themselves are logged above.
	if off != nil && off[0] > 20*time.Millisecond {
		t.Errorf("median latency added by pushing is %v, want well under Nagle's 40 ms", off[0])
	}
}
