package framecast_test

import (
	"context"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/pion/rtp"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/testsrc"
)

// grayProducer writes w x h gray frames stamped with numbers from first at
// 30 fps (produceGrayEvery: one per period) until stop is called; it
// returns the next number.
type grayProducer struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	next   atomic.Uint32
}

func produceGray(t *testing.T, st *framecast.Stream, w, h int, first uint32) *grayProducer {
	return produceGrayEvery(t, st, w, h, first, time.Second/30)
}

func produceGrayEvery(t *testing.T, st *framecast.Stream, w, h int, first uint32, period time.Duration) *grayProducer {
	ctx, cancel := context.WithCancel(context.Background())
	g := &grayProducer{cancel: cancel}
	g.next.Store(first)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		frame := make([]byte, w*h)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			n := g.next.Load()
			for i := range frame[:w*h/2] {
				frame[i] = byte(n*3 + uint32(i))
			}
			testsrc.StampNumber(frame, w, h, w, 1, n)
			if err := st.WriteFrame(frame); err != nil {
				t.Error(err)
				return
			}
			g.next.Add(1)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return g
}

func (g *grayProducer) stop() uint32 {
	g.cancel()
	g.wg.Wait()
	return g.next.Load()
}

// TestViewerSurvivesProducerRestart: a viewer stays connected while the
// producer is gone, gets the last frame repeated about once a second, and
// then the frames of a new producer on the same path, without reconnecting.
func TestViewerSurvivesProducerRestart(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	f := framecast.Format{PixelFormat: framecast.Gray, Width: w, Height: h}
	st, err := srv.Publish("/cam", f)
	if err != nil {
		t.Fatal(err)
	}
	p := produceGray(t, st, w, h, 0)
	dec := testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", w, h)
	dec.Next(t, 10*time.Second)
	for range 10 {
		dec.Next(t, 2*time.Second)
	}
	last := p.stop() - 1
	st.Close()
	// Drain what was sent before the producer left.
	var n uint32
	for n != last {
		n = testsrc.ReadNumber(dec.Next(t, 3*time.Second), w, h, w)
	}
	// Idle: the last frame comes again about once a second.
	start := time.Now()
	for range 2 {
		if n := testsrc.ReadNumber(dec.Next(t, 3*time.Second), w, h, w); n != last {
			t.Fatalf("during the gap got frame %d, want the last frame %d repeated", n, last)
		}
	}
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Errorf("two repeats came %v after the producer left, want about 1 s apart", d)
	}
	st2, err := srv.Publish("/cam", f)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	p2 := produceGray(t, st2, w, h, 1000)
	defer p2.stop()
	for {
		n := testsrc.ReadNumber(dec.Next(t, 5*time.Second), w, h, w)
		if n >= 1000 {
			break
		}
		if n != last {
			t.Fatalf("got frame %d: neither the repeated %d nor the new producer's", n, last)
		}
	}
	// And keeps going, in order.
	prev := uint32(0)
	for range 10 {
		n := testsrc.ReadNumber(dec.Next(t, 2*time.Second), w, h, w)
		if n <= prev {
			t.Fatalf("frame %d after %d", n, prev)
		}
		prev = n
	}
	if e := dec.Stderr(); e != "" {
		t.Errorf("the viewer's ffmpeg reported: %s", e)
	}
}

// TestStreamWithoutViewersDoesNotEncode: frames written while nobody watches
// are checked but neither converted nor encoded; the first viewer gets a
// picture at once.
func TestStreamWithoutViewersDoesNotEncode(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.Gray, Width: w, Height: h})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := produceGray(t, st, w, h, 0)
	defer p.stop()
	// Frames counted as skipped are what must come before the check that
	// none was encoded.
	waitFor(t, 10*time.Second, "10 frames skipped", func() bool { return st.Stats().Skipped >= 10 })
	if s := st.Stats(); s.FramesEncoded != 0 || s.Skipped == 0 || s.Skipped != s.FramesIn {
		t.Fatalf("stats %+v without viewers: want every frame skipped, none encoded", s)
	}
	joined := time.Now()
	dec := testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", w, h)
	dec.Next(t, 5*time.Second)
	t.Logf("first frame %v after the first viewer started", time.Since(joined))
	if s := st.Stats(); s.FramesEncoded == 0 {
		t.Fatalf("stats %+v with a viewer: want frames encoded", s)
	}
}

// firstFrame joins url with ffmpeg and returns the number stamped in the
// first decoded frame and how long it took.
func firstFrame(t *testing.T, u string, w, h int) (uint32, time.Duration) {
	start := time.Now()
	// Without probing, as a low-latency client starts: ffmpeg's default
	// probe adds about a second before the first frame.
	dec := testkit.FFmpeg(t, u, "tcp", "gray", w, h, "-analyzeduration", "0", "-probesize", "32", "-flags", "low_delay")
	frame := dec.Next(t, 10*time.Second)
	d := time.Since(start)
	dec.Stop()
	return testsrc.ReadNumber(frame, w, h, w), d
}

// TestLateViewerGetsIDRAtOnce joins a running stream with a 2 s GOP at
// random points: with IDR on join the first decoded frame is the one being
// made when the viewer joined; without it, only an IDR of the regular GOP.
func TestLateViewerGetsIDRAtOnce(t *testing.T) {
	const w, h, gop = 320, 240, 60
	for _, on := range []bool{true, false} {
		name := map[bool]string{true: "on", false: "off"}[on]
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, framecast.Config{AlwaysEncode: true, DisableIDROnJoin: !on,
				Encoder: framecast.EncoderConfig{GOP: gop}})
			st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.Gray, Width: w, Height: h})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			p := produceGray(t, st, w, h, 0)
			defer p.stop()
			var waits []time.Duration
			offGOP := 0
			for range 4 {
				// Join at a random point of the GOP: a pause, not a wait for anything.
				time.Sleep(time.Duration(rand.IntN(1000)) * time.Millisecond)
				n, d := firstFrame(t, url(srv, "/cam"), w, h)
				waits = append(waits, d)
				if n%gop != 0 {
					offGOP++
				}
			}
			slices.Sort(waits)
			t.Logf("IDR on join %s: first frame after %v (median %v)", name, waits, waits[len(waits)/2])
			if on && offGOP < 3 {
				t.Errorf("with IDR on join only %d of 4 first frames were forced IDRs", offGOP)
			}
			// A frame stamped n is the GOP's n%gop-th only while the encoder
			// has taken every frame once: a loaded machine that makes it
			// drop one or repeat one shifts the GOP against the stamps.
			if c := st.Stats(); !on && offGOP != 0 {
				if c.Dropped == 0 && c.Repeated == 0 && c.Skipped == 0 {
					t.Errorf("without IDR on join %d first frames were not GOP IDRs", offGOP)
				} else {
					t.Logf("%d first frames off the GOP's IDRs, which moved: %d frames dropped, %d repeated, %d skipped",
						offGOP, c.Dropped, c.Repeated, c.Skipped)
				}
			}
		})
	}
}

// TestSlowViewerIsDisconnectedWithoutHurtingOthers connects a TCP viewer
// that never reads: it is disconnected and counted, while an ffmpeg viewer
// keeps getting every frame without long gaps.
func TestSlowViewerIsDisconnectedWithoutHurtingOthers(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{Encoder: framecast.EncoderConfig{BitrateKbps: 16000}})
	st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.Gray, Width: w, Height: h})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Noise, so that the encoder spends the bitrate.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		frame := make([]byte, w*h)
		r := rand.New(rand.NewPCG(1, 2))
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for n := uint32(0); ; n++ {
			for i := range frame {
				frame[i] = byte(r.Uint32())
			}
			testsrc.StampNumber(frame, w, h, w, 1, n)
			st.WriteFrame(frame)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	good := testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", w, h)
	good.Next(t, 10*time.Second)

	// The slow viewer: gortsplib's client with a tiny receive buffer and a
	// packet callback that blocks, so it stops reading from its socket.
	block := make(chan struct{})
	c, desc := rtspClient(t, url(srv, "/cam"), gortsplib.ProtocolTCP,
		func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				conn.(*net.TCPConn).SetReadBuffer(4096)
			}
			return conn, err
		})
	defer func() {
		close(block) // the client's reader must return before Close
		c.Close()
	}()
	var once sync.Once
	c.OnPacketRTP(desc.Medias[0], desc.Medias[0].Formats[0], func(*rtp.Packet) {
		once.Do(func() { <-block })
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}

	var longest time.Duration
	prevN := testsrc.ReadNumber(good.Next(t, 5*time.Second), w, h, w)
	prevT := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for st.Stats().SlowViewers == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the viewer that never reads was not disconnected in 30 s: %+v", st.Stats())
		}
		n := testsrc.ReadNumber(good.Next(t, 5*time.Second), w, h, w)
		// In order, and a frame may be missing only when the encoder
		// dropped it (a loaded machine), not because of the slow viewer.
		if n == prevN {
			longest = max(longest, time.Since(prevT))
			prevT = time.Now()
			continue // the last picture again, as an IDR for the joining slow viewer
		}
		if n < prevN || uint64(n-prevN-1) > st.Stats().Dropped {
			t.Fatalf("the good viewer got frame %d after %d (%d dropped by the encoder)", n, prevN, st.Stats().Dropped)
		}
		longest = max(longest, time.Since(prevT))
		prevN, prevT = n, time.Now()
	}
	t.Logf("slow viewer disconnected; the good viewer's longest gap between frames was %v", longest)
	// A generous bound: this is a shared 2-core machine; the gap measured
	// alone (41 ms) is bench material (docs/streaming.md).
	if longest > time.Second {
		t.Errorf("the good viewer's longest gap between frames was %v while the slow one was queued", longest)
	}
	if s := st.Stats(); s.Viewers != 1 {
		t.Errorf("stats %+v: want the good viewer left", s)
	}
}

// TestMidStreamSizeChangeKeepsViewerDecoding: a viewer already playing
// with ffmpeg keeps decoding when the producer changes the frame size.
func TestMidStreamSizeChangeKeepsViewerDecoding(t *testing.T) {
	testkit.Need(t, "ffmpeg")
	srv := newServer(t, framecast.Config{})
	st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.Gray, Width: 320, Height: 240})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the writer stops: cleanups run last first
	var size atomic.Int32
	size.Store(320)
	writeUntil(t, func() error {
		// Around the change a frame may have the other size: refused.
		w := int(size.Load())
		st.WriteFrame(make([]byte, w*w*3/4))
		return nil
	})
	stderr := &testkit.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := testkit.Command(ctx, "ffmpeg", "-nostdin", "-v", "info", "-rtsp_transport", "tcp", "-i", url(srv, "/cam"),
		"-vf", "showinfo", "-f", "null", "-")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFor := func(what string, n int) {
		deadline := time.Now().Add(15 * time.Second)
		for strings.Count(stderr.String(), what) < n {
			if time.Now().After(deadline) {
				t.Fatalf("ffmpeg did not decode %d frames with %q: %s", n, what, stderr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("s:320x240", 10)
	if err := st.SetFormat(framecast.Format{PixelFormat: framecast.Gray, Width: 640, Height: 480}); err != nil {
		t.Fatal(err)
	}
	size.Store(640)
	waitFor("s:640x480", 30)
}

// TestBitrateSetIsBitrateKept measures what the encoder sends over 10 s of
// textured moving frames (a camera-like picture, which needs the bits) with
// a 1000 kbit/s target. Simple pictures (the test pattern) come out below
// the target: the encoder does not pad.
func TestBitrateSetIsBitrateKept(t *testing.T) {
	if testing.Short() {
		t.Skip("measures 10 s")
	}
	const w, h = 640, 360
	srv := newServer(t, framecast.Config{Encoder: framecast.EncoderConfig{BitrateKbps: 1000}})
	st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.Gray, Width: w, Height: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the writer stops: cleanups run last first
	texture := make([]byte, 2*w*h)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range texture {
		texture[i] = byte(64 + r.IntN(128))
	}
	frame := make([]byte, w*h)
	n := 0
	writeUntil(t, func() error {
		for y := range h {
			off := (y*2*w + 3*n) % (len(texture) - w)
			copy(frame[y*w:(y+1)*w], texture[off:off+w])
		}
		n++
		return st.WriteFrame(frame)
	})
	remove, err := srv.AddSink("/cam", func([][]byte, time.Duration, time.Time) {})
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	time.Sleep(2 * time.Second) // past the start of rate control
	before := st.Stats()
	start := time.Now()
	time.Sleep(10 * time.Second) // the measurement window
	after := st.Stats()
	kbps := float64(after.BytesSent-before.BytesSent) * 8 / 1000 / time.Since(start).Seconds()
	t.Logf("measured %.0f kbit/s over 10 s for a 1000 kbit/s target (%d frames encoded, %d dropped)",
		kbps, after.FramesEncoded-before.FramesEncoded, after.Dropped-before.Dropped)
	if kbps < 850 || kbps > 1150 {
		t.Fatalf("measured %.0f kbit/s, want 1000 ±15%%", kbps)
	}
}

// TestAViewerAfterASkippedStretchStartsAtTheLatestPicture: while nobody
// watches, frames are skipped, not encoded. A viewer that joins then must
// start at the latest of them, not at the last frame encoded before the
// stretch: that one is old. The producer writes 200 frames a second, so
// that the stream's repeat timer or the producer's next frame often comes
// between the join and the encoder's answer; either once made the encoder
// encode that old frame again as the viewer's IDR (a push's recording
// started with a frame 10 older than the next; here 3 runs in 6 failed).
func TestAViewerAfterASkippedStretchStartsAtTheLatestPicture(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.Gray, Width: w, Height: h, FPS: 200})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := produceGrayEvery(t, st, w, h, 0, 5*time.Millisecond)
	t.Cleanup(func() { p.stop() })
	for i := range 6 {
		before := p.next.Load() // frames before it were written, and skipped after the first join
		dec := testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", w, h)
		n := testsrc.ReadNumber(dec.Next(t, 20*time.Second), w, h, w)
		dec.Stop()
		t.Logf("join %d: frame %d written before it, its first picture frame %d", i, before-1, n)
		if i > 0 && n+1 < before {
			t.Errorf("join %d: first picture is frame %d, but frame %d had been written before the viewer started: want it or a later one, not one from before the skipped stretch",
				i, n, before-1)
		}
		waitFor(t, 10*time.Second, "the viewer gone", func() bool { return st.Stats().Viewers == 0 })
		skipped := st.Stats().Skipped
		waitFor(t, 10*time.Second, "40 frames skipped", func() bool { return st.Stats().Skipped >= skipped+40 })
	}
}
