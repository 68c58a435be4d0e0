package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/ingest"
	"github.com/framecast/framecast/internal/rtsp"
	"github.com/framecast/framecast/internal/yuv"
	"github.com/framecast/framecast/publisher"
)

// These benchmarks are the hot paths of framecast, measured with -benchmem
// by the harness (make bench): a frame read from the ingest socket, a frame
// through the whole Go API pipeline, and an encoded frame fanned out to N
// viewers. Conversion and encoding alone are internal/yuv's BenchmarkConvert
// and internal/x264's BenchmarkEncode.

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// synthFrames draws n frames of the synthetic picture, stamped.
func synthFrames(w, h, n int) [][]byte {
	s := NewSynth(w, h)
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, s.FrameSize())
		s.Draw(out[i], i)
		Stamp(out[i], w, h, uint32(i), time.Now())
	}
	return out
}

// BenchmarkFanOut is the fan-out write path: one encoded 720p frame (a GOP
// of real access units in turn) packetised and written to N viewers playing
// over TCP, until every viewer has read it. ns/op is the time to deliver a
// frame to all N; allocs/op are the server's (the viewers allocate nothing).
func BenchmarkFanOut(b *testing.B) {
	aus, sps, pps, err := EncodeGOP(1280, 720, 1935, 60, 60)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("tcp/viewers=%d", n), func(b *testing.B) {
			srv, err := rtsp.Listen(rtsp.Config{Address: "127.0.0.1:0", Logger: discard})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			m, err := srv.Mount("/bench", sps, pps)
			if err != nil {
				b.Fatal(err)
			}
			d := newDelivery()
			var viewers []*rawViewer
			defer func() {
				for _, v := range viewers {
					v.conn.Close()
				}
			}()
			for range n {
				v, err := dialViewer(srv.Addr().String(), "/bench")
				if err != nil {
					b.Fatal(err)
				}
				viewers = append(viewers, v)
				go v.count(d.frame)
			}
			for m.Viewers() < n {
				time.Sleep(time.Millisecond)
			}
			now := time.Now()
			i := 0
			write := func() {
				d.expect(int64(n * (i + 1)))
				if err := m.WriteAccessUnit(aus[i%len(aus)], time.Duration(i)*time.Second/30, now); err != nil {
					b.Fatal(err)
				}
				if !d.wait(5 * time.Second) {
					b.Fatalf("frame %d: %d of %d deliveries", i, d.got.Load(), n*(i+1))
				}
				i++
			}
			for range len(aus) { // warm up: a whole GOP
				write()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				write()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/viewer")
		})
	}
}

// BenchmarkIngestRead is the ingest read path alone: FRAME messages of
// bgr24 pixels written by ingest.Writer (the Go client's writev) into a Unix
// socket and read by the server's ingest.Reader, one frame per op.
func BenchmarkIngestRead(b *testing.B) {
	for _, sz := range [][2]int{{1280, 720}, {1920, 1080}} {
		w, h := sz[0], sz[1]
		b.Run(fmt.Sprintf("bgr24/%dx%d", w, h), func(b *testing.B) {
			l, err := net.Listen("unix", filepath.Join(b.TempDir(), "ingest.sock"))
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			client, err := net.Dial("unix", l.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			server, err := l.Accept()
			if err != nil {
				b.Fatal(err)
			}
			defer server.Close()
			pix := make([]byte, w*h*3)
			go func() {
				wr := ingest.NewWriter(client)
				for wr.WriteFrame(pix, 0, false) == nil {
				}
				client.Close()
			}()
			r := ingest.NewReader(server)
			if err := r.SetFormat(ingest.Format{PixelFormat: yuv.BGR24, Width: uint32(w), Height: uint32(h), FPSNum: 30, FPSDen: 1}); err != nil {
				b.Fatal(err)
			}
			if _, err := r.Next(); err != nil { // the first frame sizes the buffer
				b.Fatal(err)
			}
			b.SetBytes(int64(len(pix)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := r.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIngestServer is a frame through the whole ingest: publisher's
// WriteFrame to a framecast server listening on a Unix socket, whose
// producer goroutine reads and checks it (nobody watches, so nothing is
// converted or encoded). Both ends are in this process.
func BenchmarkIngestServer(b *testing.B) {
	w, h := 1280, 720
	srv, err := framecast.NewServer(framecast.Config{RTSPAddress: "127.0.0.1:0", DisableUDP: true,
		StatusInterval: -1, Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	addr := "unix://" + filepath.Join(b.TempDir(), "ingest.sock")
	if _, err := srv.ListenIngest(addr); err != nil {
		b.Fatal(err)
	}
	pub, err := publisher.Dial(context.Background(), addr, "/bench",
		publisher.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30})
	if err != nil {
		b.Fatal(err)
	}
	frames := synthFrames(w, h, 2)
	for _, f := range frames {
		if err := pub.WriteFrame(f); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(w * h * 3))
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if err := pub.WriteFrame(frames[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.StopTimer()
	if err := pub.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWriteFrame is a frame through the Go API pipeline: WriteFrame
// converts bgr24 to I420 in the caller's goroutine while the stream's
// goroutine encodes the previous frame and packetises it (WhenFull=Block, so
// every frame is encoded; no viewer, AlwaysEncode). ns/op is the pipeline's
// period on this machine; allocs/op cover conversion, encoding and RTP.
func BenchmarkWriteFrame(b *testing.B) {
	for _, sz := range [][2]int{{1280, 720}, {1920, 1080}} {
		w, h := sz[0], sz[1]
		b.Run(fmt.Sprintf("bgr24/%dx%d", w, h), func(b *testing.B) {
			srv, err := framecast.NewServer(framecast.Config{RTSPAddress: "127.0.0.1:0", DisableUDP: true,
				AlwaysEncode: true, WhenFull: framecast.Block, StatusInterval: -1, Logger: discard})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			st, err := srv.Publish("/bench", framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			frames := synthFrames(w, h, RingLen)
			for _, f := range frames[:4] {
				if err := st.WriteFrame(f); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if err := st.WriteFrame(frames[i%len(frames)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
