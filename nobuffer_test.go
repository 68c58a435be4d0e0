package framecast_test

import (
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/internal/testsrc"
)

// The nobuffer tests' stream: grayW x grayH gray frames stamped with their
// numbers at 30 fps, encoded at once, an IDR every grayGOP frames.
const grayW, grayH, grayGOP = 320, 240, 300

// grayGOPStream publishes /cam and starts its producer, which the test
// stops.
func grayGOPStream(t *testing.T) (*framecast.Server, *framecast.Stream, *grayProducer) {
	t.Helper()
	srv := newServer(t, framecast.Config{AlwaysEncode: true, Encoder: framecast.EncoderConfig{GOP: grayGOP}})
	st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.Gray, Width: grayW, Height: grayH, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return srv, st, produceGray(t, st, grayW, grayH, 0)
}

// TestFFmpegNobufferViewerGetsPictureWithinAFewFramesOfJoining: ffmpeg
// with -fflags nobuffer drops the frames it probed, the join's IDR among
// them (28 frames at 30 fps); the follow-up IDR is its first picture, a
// few dozen frames after it joined, not the next IDR of the GOP (300
// frames here, 10 s). The bound counts frames, not time, so a loaded
// machine does not fail it.
func TestFFmpegNobufferViewerGetsPictureWithinAFewFramesOfJoining(t *testing.T) {
	srv, _, p := grayGOPStream(t)
	defer p.stop()
	for i := range 2 {
		joined := p.next.Load()
		start := time.Now()
		dec := testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", grayW, grayH, "-fflags", "nobuffer")
		n := testsrc.ReadNumber(dec.Next(t, 20*time.Second), grayW, grayH, grayW)
		d := time.Since(start)
		dec.Stop()
		t.Logf("join %d at frame %d: first picture frame %d, %v after ffmpeg started", i, joined, n, d)
		// The follow-up comes 30 frames after the join's IDR; frames the
		// encoder dropped under load only add to the count.
		if n < joined || n-joined > grayGOP/3 {
			t.Errorf("join %d at frame %d: first picture is frame %d, want one within %d frames of the join (a GOP is %d)",
				i, joined, n, grayGOP/3, grayGOP)
		}
		// Past the rate limit of forced IDRs before the next join.
		time.Sleep(time.Second) // pacing between joins, not synchronisation
	}
}

// TestAJoinGetsFollowUpIDRsForPlayersThatDropTheFirst: a viewer joining a
// stream with a 300-frame GOP gets an IDR first, another as its second
// frame (ffmpeg with -fflags nobuffer and the fast-start flags probes one
// frame and drops it) and another as its 31st (ffmpeg's default probe
// reads 28 and, with -fflags nobuffer, drops them), and no other in its
// first 40 frames. Frames, not time: a loaded machine does not change it.
func TestAJoinGetsFollowUpIDRsForPlayersThatDropTheFirst(t *testing.T) {
	srv, st, p := grayGOPStream(t)
	defer p.stop()
	// A late join: the GOP's first IDR is behind, and the viewer's first
	// IDR is the one its join forces.
	waitFor(t, 20*time.Second, "10 frames encoded", func() bool { return st.Stats().FramesEncoded >= 10 })
	c, desc := rtspClient(t, url(srv, "/cam"), gortsplib.ProtocolTCP, nil)
	defer c.Close()
	var f *format.H264
	medi := desc.FindFormat(&f)
	if medi == nil {
		t.Fatal("no H.264 media in the SDP")
	}
	dec, err := f.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	const frames = 40
	idr := make(chan bool, frames)
	c.OnPacketRTP(medi, f, func(pkt *rtp.Packet) {
		au, err := dec.Decode(pkt)
		if err != nil {
			return // more packets needed
		}
		select {
		case idr <- h264.IsRandomAccess(au):
		default:
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	var got []int
	for i := range frames {
		select {
		case k := <-idr:
			if k {
				got = append(got, i)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("got %d frames in 20 s, want %d", i, frames)
		}
	}
	if want := []int{0, 1, 30}; !slices.Equal(got, want) {
		t.Errorf("IDRs at the viewer's frames %v, want %v (the join's, and the follow-ups for -fflags nobuffer)", got, want)
	}
}

// TestFFmpegFastStartNobufferViewerGetsPictureWithinAFewFramesOfJoining:
// with the fast-start flags as well (-analyzeduration 0 -probesize 32),
// ffmpeg probes and drops the join's IDR; the follow-up IDR right after it
// is its first picture, not the one 30 frames on (or the GOP's, 10 s on).
// Frames are counted from ffmpeg's start, so the bound holds ffmpeg's own
// start-up too.
func TestFFmpegFastStartNobufferViewerGetsPictureWithinAFewFramesOfJoining(t *testing.T) {
	srv, _, p := grayGOPStream(t)
	defer p.stop()
	for i := range 3 {
		joined := p.next.Load()
		start := time.Now()
		dec := testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", grayW, grayH,
			"-fflags", "nobuffer", "-flags", "low_delay", "-analyzeduration", "0", "-probesize", "32")
		n := testsrc.ReadNumber(dec.Next(t, 20*time.Second), grayW, grayH, grayW)
		d := time.Since(start)
		dec.Stop()
		t.Logf("join %d at frame %d: first picture frame %d, %v after ffmpeg started", i, joined, n, d)
		// ffmpeg's start, the join's IDR and the follow-up right after
		// it: about 6 frames; the next follow-up would be 30 after.
		if n < joined || n-joined >= 24 {
			t.Errorf("join %d at frame %d: first picture is frame %d, want one within 24 frames (800 ms at 30 fps) of starting ffmpeg",
				i, joined, n)
		}
		// Past the rate limit of forced IDRs before the next join.
		time.Sleep(time.Second) // pacing between joins, not synchronisation
	}
}

// TestGStreamerViewerGetsPictureWithinAFewFramesOfJoining: rtspsrc
// latency=0 (the usual low-latency GStreamer viewer, and OpenCV's
// GStreamer backend) gets its first picture a few frames after it starts;
// gortsplib's 1 s sleep in a GStreamer SETUP put it 30 frames (at 30 fps)
// after, plus GStreamer's own start. Frames, not time, are counted, so a
// loaded machine does not fail it, and two viewers join one after the
// other.
func TestGStreamerViewerGetsPictureWithinAFewFramesOfJoining(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{AlwaysEncode: true})
	st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.Gray, Width: w, Height: h, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := produceGray(t, st, w, h, 0)
	defer p.stop()
	for i := range 2 {
		joined := p.next.Load()
		start := time.Now()
		dec := testkit.Gst(t, url(srv, "/cam"), w, h)
		n := testsrc.ReadNumber(dec.Next(t, 20*time.Second), w, h, w)
		d := time.Since(start)
		dec.Stop()
		t.Logf("join %d at frame %d: first picture frame %d, %v after gst-launch started", i, joined, n, d)
		if n < joined || n-joined >= 24 {
			t.Errorf("join %d at frame %d: first picture is frame %d, want one within 24 frames (800 ms at 30 fps) of starting gst-launch",
				i, joined, n)
		}
		// Past the rate limit of forced IDRs before the next join.
		time.Sleep(time.Second) // pacing between joins, not synchronisation
	}
}

// TestAViewerJoiningSoonAfterAnotherSeesNoBrokenPicture: a viewer that
// starts playing while the IDR rate limit (Config.IDRInterval) holds its
// IDR back gets nothing until that IDR, not the P-frames before it: they
// refer to pictures it never had, and GStreamer showed them as a grey
// picture with smears (its stamp read 65535).
func TestAViewerJoiningSoonAfterAnotherSeesNoBrokenPicture(t *testing.T) {
	const w, h = 320, 240
	for _, proto := range []string{"tcp", "udp"} {
		t.Run(proto, func(t *testing.T) {
			srv := newServer(t, framecast.Config{AlwaysEncode: true, IDRInterval: 2 * time.Second,
				Encoder: framecast.EncoderConfig{GOP: 900}})
			st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.Gray, Width: w, Height: h, FPS: 30})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			p := produceGray(t, st, w, h, 0)
			t.Cleanup(func() { p.stop() })
			first := testkit.Gst(t, url(srv, "/cam"), w, h, "protocols="+proto)
			first.Next(t, 20*time.Second)
			// The first viewer's IDR has just been forced: the second
			// viewer's is held back for up to 2 s.
			joined := p.next.Load()
			second := testkit.Gst(t, url(srv, "/cam"), w, h, "protocols="+proto)
			n := testsrc.ReadNumber(second.Next(t, 20*time.Second), w, h, w)
			if now := p.next.Load(); n < joined || n > now {
				t.Errorf("second viewer, joined at frame %d: first picture's stamp reads %d, want a frame from %d to %d (a broken picture reads garbage)",
					joined, n, joined, now)
			}
		})
	}
}
