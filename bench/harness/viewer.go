package main

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/framecast/framecast/bench"
	"github.com/framecast/framecast/internal/testsrc"
	"github.com/framecast/framecast/internal/yuv"
)

// A viewer is a real player decoding the stream into raw I420 on a pipe the
// harness reads: it reads each frame's stamps (frame number, send time) and
// checks the picture against the frame that was sent, so that a broken
// picture (a P frame decoded without its reference, concealed) is not taken
// for a frame.
const (
	// viewerFFmpeg is ffmpeg with the low-delay flags of the benchmark:
	// no input buffering, low-delay decoding (no frame threads), no
	// probing beyond the SDP's SPS/PPS.
	viewerFFmpeg = "ffmpeg"
	// viewerFFmpegBuffered is the same without -fflags nobuffer, which
	// makes ffmpeg discard the packets it reads while probing (a joiner's
	// first IDR among them).
	viewerFFmpegBuffered = "ffmpeg-buffered"
	// viewerGStreamer is rtspsrc with no jitter buffer latency, avdec_h264
	// on one thread, and no clock sync: a player that adds no delay of
	// its own, so the server's part shows.
	viewerGStreamer = "gstreamer"
)

func viewerArgv(kind, url string) []string {
	ff := func(flags ...string) []string {
		a := append([]string{"ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error"}, flags...)
		return append(a, "-rtsp_transport", "tcp", "-i", url,
			"-fps_mode", "passthrough", "-an", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-")
	}
	switch kind {
	case viewerFFmpeg:
		return ff("-fflags", "nobuffer", "-flags", "low_delay", "-analyzeduration", "0", "-probesize", "32")
	case viewerFFmpegBuffered:
		return ff("-flags", "low_delay", "-analyzeduration", "0", "-probesize", "32")
	case viewerGStreamer:
		return []string{"gst-launch-1.0", "-q", "rtspsrc", "location=" + url, "latency=0", "protocols=tcp",
			"!", "rtph264depay", "!", "avdec_h264", "max-threads=1", "!", "videoconvert",
			"!", "video/x-raw,format=I420", "!", "fdsink", "sync=false"}
	}
	panic("unknown viewer " + kind)
}

// viewerCommand shows a viewer's command line in the docs.
func viewerCommand(kind string) string {
	return strings.Join(viewerArgv(kind, "URL"), " ")
}

// decoded is one frame a viewer decoded.
type decoded struct {
	at   time.Time
	num  uint32
	age  int  // ms from the producer's send stamp to at
	good bool // the picture is the frame sent, not a concealed one
}

// reference holds the luma of the ring's frames as framecast converts them,
// to check decoded pictures against.
type reference struct {
	sz   size
	luma [][]byte
}

func newReference(ring [][]byte, sz size) (*reference, error) {
	r := &reference{sz: sz}
	img := yuv.NewI420(sz.W, sz.H)
	for _, f := range ring {
		if err := yuv.Convert(img, f, yuv.BGR24, 0); err != nil {
			return nil, err
		}
		y := make([]byte, sz.W*sz.H)
		for row := range sz.H {
			copy(y[row*sz.W:(row+1)*sz.W], img.Y[row*img.StrideY:])
		}
		r.luma = append(r.luma, y)
	}
	return r, nil
}

// badBlocks is the share of 32x32 blocks of a decoded luma plane whose mean
// absolute difference from frame n's reference is above 40: a picture
// decoded right differs by a few levels (compression; the seed recipe's
// BT.709 conversion), a concealed block by far more. The stamp rows are
// left out: they differ from frame to frame.
func (r *reference) badBlocks(luma []byte, n uint32) float64 {
	ref := r.luma[int(n)%len(r.luma)]
	w, h := r.sz.W, r.sz.H
	stampTop := h - 2*testsrc.StampBlock(w)
	const bs = 32
	bad, all := 0, 0
	for by := 0; by+bs <= stampTop; by += bs {
		for bx := 0; bx+bs <= w; bx += bs {
			sum := 0
			for y := by; y < by+bs; y += 4 {
				for x := bx; x < bx+bs; x += 4 {
					d := int(luma[y*w+x]) - int(ref[y*w+x])
					if d < 0 {
						d = -d
					}
					sum += d
				}
			}
			all++
			if sum > 40*(bs/4)*(bs/4) {
				bad++
			}
		}
	}
	return float64(bad) / float64(all)
}

// viewer is a running player.
type viewer struct {
	kind   string
	cmd    *exec.Cmd
	start  time.Time
	first  chan struct{} // closed at the first good frame
	done   chan struct{} // closed when the output ends
	stderr *tail

	mu     sync.Mutex
	frames []decoded
}

func startViewer(kind, url string, ref *reference) (*viewer, error) {
	v := &viewer{kind: kind, first: make(chan struct{}), done: make(chan struct{}), stderr: &tail{}}
	argv := viewerArgv(kind, url)
	v.cmd = exec.Command(argv[0], argv[1:]...)
	v.cmd.Stderr = v.stderr
	out, err := v.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	v.start = time.Now()
	if err := v.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", kind, err)
	}
	go v.read(bufio.NewReaderSize(out, 1<<20), ref)
	return v, nil
}

func (v *viewer) read(r io.Reader, ref *reference) {
	defer close(v.done)
	w, h := ref.sz.W, ref.sz.H
	buf := make([]byte, w*h*3/2) // I420: the luma plane first
	firstGood := false
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		now := time.Now()
		luma := buf[:w*h]
		d := decoded{at: now, num: bench.ReadRow(luma, w, h, bench.RowNumber),
			age: bench.AgeMillis(bench.ReadRow(luma, w, h, bench.RowSent), now)}
		d.good = ref.badBlocks(luma, d.num) < 0.01
		v.mu.Lock()
		v.frames = append(v.frames, d)
		v.mu.Unlock()
		if d.good && !firstGood {
			firstGood = true
			close(v.first)
		}
	}
}

// waitFirst returns the time from starting the viewer to its first good
// frame, and how many broken pictures it output before.
func (v *viewer) waitFirst(timeout time.Duration) (time.Duration, int, error) {
	select {
	case <-v.first:
		v.mu.Lock()
		defer v.mu.Unlock()
		for i, d := range v.frames {
			if d.good {
				return d.at.Sub(v.start), i, nil
			}
		}
		panic("first closed without a good frame")
	case <-v.done:
		return 0, 0, fmt.Errorf("%s ended before a good frame (%d broken): %s", v.kind, v.count(), v.stderr)
	case <-time.After(timeout):
		return 0, 0, fmt.Errorf("%s: no good frame within %v (%d broken): %s", v.kind, timeout, v.count(), v.stderr)
	}
}

func (v *viewer) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.frames)
}

// since returns the frames decoded at or after t.
func (v *viewer) since(t time.Time) []decoded {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []decoded
	for _, d := range v.frames {
		if !d.at.Before(t) {
			out = append(out, d)
		}
	}
	return out
}

func (v *viewer) pid() int { return v.cmd.Process.Pid }

func (v *viewer) stop() {
	v.cmd.Process.Kill()
	v.cmd.Wait()
	<-v.done
}
