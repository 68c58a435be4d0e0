package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/framecast/framecast"
	"github.com/framecast/framecast/bench"
	"github.com/framecast/framecast/internal/hls"
	"github.com/framecast/framecast/internal/web"
)

// roleHLS measures HLS latency: the time from a frame's send stamp to the
// frame decoded by a Low-Latency HLS client (gohlslib's, which follows the
// preload hints and blocking reloads as LL-HLS players do, its access
// units piped into ffmpeg decoding with the benchmark's low-delay flags),
// and by ffmpeg reading the playlist itself (plain HLS: whole segments,
// what ffmpeg and VLC do). framecast and the web server run in this
// process, the stream published through the Go API with stamped frames.
// make bench runs it with a short window (see env.hlsLatency); by hand:
//
//	go run ./bench/harness role-hls [-size 1280x720] [-warmup 5s] [-measure 20s]
//
// It prints a line per client; one that fails is reported, and the next
// is measured all the same:
//
//	HLS_LATENCY client=ll-hls size=1280x720 first_frame_ms=5516 frames=300 p50_ms=308 p95_ms=312 max_ms=341
//	HLS_LATENCY client=ffmpeg error="..."
func roleHLS(args []string) error {
	fs := flag.NewFlagSet("role-hls", flag.ContinueOnError)
	size := fs.String("size", "1280x720", "frame size WxH")
	fps := fs.Float64("fps", 30, "frame rate")
	warmup := fs.Duration("warmup", 5*time.Second, "time after the first frame before measuring")
	window := fs.Duration("measure", 20*time.Second, "measurement window of each client")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var w, h int
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil {
		return fmt.Errorf("-size %q: want WxH", *size)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := framecast.NewServer(framecast.Config{RTSPAddress: "127.0.0.1:0", DisableUDP: true, StatusInterval: -1, Logger: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	// Each client gets a new muxer: the previous one closes after 5 s
	// without requests (more than a plain HLS player's reload interval,
	// the 2 s segment).
	ws, err := web.New(srv, web.Options{Logger: log, HLS: hls.Config{IdleTimeout: 5 * time.Second}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go ws.Serve(ln)
	defer ws.Close()
	st, err := srv.Publish("/bench", framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: *fps})
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, cancel := untilSignal()
	defer cancel()
	go func() {
		synth := bench.NewSynth(w, h)
		frame := make([]byte, synth.FrameSize())
		p := newPacer(*fps)
		for n := 0; ctx.Err() == nil; n++ {
			p.wait(n)
			synth.Draw(frame, n)
			bench.Stamp(frame, w, h, uint32(n), time.Now())
			if err := st.WriteFrame(frame); err != nil {
				return
			}
		}
	}()
	url := "http://" + ln.Addr().String() + "/bench/index.m3u8"
	fmt.Println("HLS", url)

	var failed []error
	for _, c := range []struct {
		name string
		run  func(ctx context.Context, url string, w, h int, out chan<- decoded) error
	}{
		{hlsClientLL, decodeLLHLS},
		{hlsClientFFmpeg, decodePlainHLS},
	} {
		err := waitNoHLSSession(ctx, "http://"+ln.Addr().String()+"/metrics")
		var first time.Duration
		var ages []float64
		if err == nil {
			first, ages, err = measureHLS(ctx, c.run, url, w, h, *warmup, *window)
		}
		if err == nil && len(ages) == 0 {
			err = errors.New("no frame decoded in the window")
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// Say so, and measure the next client all the same.
			fmt.Printf("HLS_LATENCY client=%s error=%q\n", c.name, err.Error())
			failed = append(failed, fmt.Errorf("%s: %w", c.name, err))
			continue
		}
		slices.Sort(ages)
		fmt.Printf("HLS_LATENCY client=%s size=%dx%d first_frame_ms=%d frames=%d p50_ms=%.0f p95_ms=%.0f max_ms=%.0f\n",
			c.name, w, h, first.Milliseconds(), len(ages), quantile(ages, 0.5), quantile(ages, 0.95), ages[len(ages)-1])
	}
	return errors.Join(failed...)
}

// waitNoHLSSession waits until the metrics at url say no HLS muxer is open.
func waitNoHLSSession(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		res, err := http.Get(url)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(b), "\nframecast_hls_sessions_open 0\n") {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("the previous client's HLS session did not close")
}

// measureHLS runs one client: the time to its first decoded frame, then
// the ages of the frames it decodes in the window after the warm-up.
func measureHLS(parent context.Context, run func(context.Context, string, int, int, chan<- decoded) error,
	url string, w, h int, warmup, window time.Duration) (time.Duration, []float64, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	out := make(chan decoded, 64)
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- run(ctx, url, w, h, out) }()
	var first time.Duration
	var ages []float64
	var from, until time.Time
	timeout := time.NewTimer(30*time.Second + warmup + window)
	defer timeout.Stop()
	for {
		select {
		case d := <-out:
			if first == 0 {
				first = d.at.Sub(start)
				from = d.at.Add(warmup)
				until = from.Add(window)
			}
			if d.at.After(until) {
				cancel()
				<-errc
				return first, ages, nil
			}
			if d.at.After(from) {
				ages = append(ages, float64(d.age))
			}
		case err := <-errc:
			return 0, nil, fmt.Errorf("client ended: %w", err)
		case <-timeout.C:
			cancel()
			<-errc
			return 0, nil, errors.New("no frames within the time allowed")
		}
	}
}

// lowDelayDecoder starts ffmpeg decoding H.264 from its stdin (Annex-B) or
// from url into gray frames, with the benchmark's low-delay flags.
func lowDelayDecoder(ctx context.Context, input string) (*exec.Cmd, io.WriteCloser, io.ReadCloser, error) {
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-fflags", "nobuffer", "-flags", "low_delay", "-threads", "1"}
	if input == "" {
		args = append(args, "-probesize", "32", "-analyzeduration", "0", "-f", "h264", "-i", "pipe:0")
	} else {
		args = append(args, "-i", input)
	}
	args = append(args, "-fps_mode", "passthrough", "-an", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1")
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.Stderr = os.Stderr
	var stdin io.WriteCloser
	var err error
	if input == "" {
		if stdin, err = cmd.StdinPipe(); err != nil {
			return nil, nil, nil, err
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, fmt.Errorf("start ffmpeg: %w", err)
	}
	return cmd, stdin, stdout, nil
}

// readStamps reads gray frames of w x h from r and sends their stamps.
func readStamps(ctx context.Context, r io.Reader, w, h int, out chan<- decoded) {
	br := bufio.NewReaderSize(r, 1<<20)
	buf := make([]byte, w*h)
	for {
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		now := time.Now()
		d := decoded{at: now, num: bench.ReadRow(buf, w, h, bench.RowNumber),
			age: bench.AgeMillis(bench.ReadRow(buf, w, h, bench.RowSent), now), good: true}
		select {
		case out <- d:
		case <-ctx.Done():
			return
		}
	}
}

// decodePlainHLS is ffmpeg reading the playlist: plain HLS.
func decodePlainHLS(ctx context.Context, url string, w, h int, out chan<- decoded) error {
	cmd, _, stdout, err := lowDelayDecoder(ctx, url)
	if err != nil {
		return err
	}
	readStamps(ctx, stdout, w, h, out)
	return cmd.Wait()
}

// decodeLLHLS is gohlslib's client reading parts, its access units decoded
// by ffmpeg.
func decodeLLHLS(ctx context.Context, url string, w, h int, out chan<- decoded) error {
	cmd, stdin, stdout, err := lowDelayDecoder(ctx, "")
	if err != nil {
		return err
	}
	var mu sync.Mutex // the client's callbacks and Close
	buf := make([]byte, 0, 1<<20)
	quiet := func(string) {}
	c := &gohlslib.Client{URI: url, OnDownloadPrimaryPlaylist: quiet, OnDownloadStreamPlaylist: quiet,
		OnDownloadSegment: quiet, OnDownloadPart: quiet}
	c.OnTracks = func(tracks []*gohlslib.Track) error {
		for _, t := range tracks {
			if _, ok := t.Codec.(*codecs.H264); !ok {
				continue
			}
			c.OnDataH26x(t, func(_ int64, _ int64, au [][]byte) {
				mu.Lock()
				defer mu.Unlock()
				buf = buf[:0]
				for _, n := range au {
					buf = append(buf, 0, 0, 0, 1)
					buf = append(buf, n...)
				}
				stdin.Write(buf)
			})
		}
		return nil
	}
	if err := c.Start(); err != nil {
		return fmt.Errorf("hls client: %w", err)
	}
	go readStamps(ctx, stdout, w, h, out)
	select {
	case <-ctx.Done():
	case err := <-c.Wait():
		c.Close()
		stdin.Close()
		cmd.Wait()
		return fmt.Errorf("hls client: %w", err)
	}
	c.Close()
	stdin.Close()
	cmd.Wait()
	return nil
}

// The clients role-hls measures, as its lines name them.
const (
	hlsClientLL     = "ll-hls" // gohlslib's Low-Latency HLS client, decoded by ffmpeg
	hlsClientFFmpeg = "ffmpeg" // ffmpeg reading the playlist: plain HLS
)

// hlsClients are the clients in the order role-hls measures them.
var hlsClients = []string{hlsClientLL, hlsClientFFmpeg}

// hlsClientNames are how tables name the clients.
var hlsClientNames = map[string]string{
	hlsClientLL:     "LL-HLS: gohlslib's client (parts, preload hints, blocking reloads), decoded by ffmpeg",
	hlsClientFFmpeg: "plain HLS: ffmpeg reading the playlist (whole segments)",
}

// hlsSample is one line of role-hls: a client's latency, from the frame's
// send stamp to the frame decoded, or why it was not measured.
type hlsSample struct {
	Client     string  `json:"client"`
	Size       string  `json:"size,omitempty"`
	FirstFrame float64 `json:"first_frame_ms"` // from starting the client to its first decoded frame
	Frames     int     `json:"frames"`         // decoded in the window
	P50        float64 `json:"p50_ms"`
	P95        float64 `json:"p95_ms"`
	Max        float64 `json:"max_ms"`
	Error      string  `json:"error,omitempty"`
}

// hlsLatency runs role-hls at 720p30 with the plan's warm-up and window,
// and returns a sample per client.
func (e *env) hlsLatency() ([]hlsSample, error) {
	argv := []string{e.self, "role-hls", "-size", size720.String(), "-fps", "30",
		"-warmup", e.plan.HLSWarmup.String(), "-measure", e.plan.HLSMeasure.String()}
	e.logf("HLS latency: %s", strings.Join(argv[1:], " "))
	p, err := startProc("role-hls", argv, nil)
	if err != nil {
		return nil, err
	}
	// Each client: up to 30 s for the previous one's muxer to close, 30 s
	// to its first frame, then the warm-up and the window.
	timeout := 30*time.Second + time.Duration(len(hlsClients))*(time.Minute+e.plan.HLSWarmup+e.plan.HLSMeasure)
	var out []hlsSample
	var bad []error
	err = p.collect(timeout, func(line string) {
		s, ok, err := parseHLSLatency(line)
		if err != nil {
			bad = append(bad, err)
			return
		}
		if !ok {
			return
		}
		if s.Error != "" {
			e.logf("HLS latency %-6s failed: %s", s.Client, s.Error)
		} else {
			e.logf("HLS latency %-6s: p50 %.0f p95 %.0f max %.0f ms (%d frames), first frame %.0f ms",
				s.Client, s.P50, s.P95, s.Max, s.Frames, s.FirstFrame)
		}
		out = append(out, s)
	})
	return out, errors.Join(append(bad, err)...)
}

// parseHLSLatency reads a line of role-hls's output. ok is false for the
// lines that are not HLS_LATENCY lines.
func parseHLSLatency(line string) (s hlsSample, ok bool, err error) {
	rest, found := strings.CutPrefix(line, "HLS_LATENCY ")
	if !found {
		return s, false, nil
	}
	f, err := parseFields(rest)
	if err != nil {
		return s, false, fmt.Errorf("HLS_LATENCY line %q: %w", line, err)
	}
	if s.Client = f["client"]; s.Client == "" {
		return s, false, fmt.Errorf("HLS_LATENCY line %q: no client", line)
	}
	if e, found := f["error"]; found {
		s.Error = cmp.Or(e, "no error given")
		return s, true, nil
	}
	var errs []error
	s.Size = f["size"]
	s.FirstFrame = f.num("first_frame_ms", &errs)
	s.Frames = f.integer("frames", &errs)
	s.P50 = f.num("p50_ms", &errs)
	s.P95 = f.num("p95_ms", &errs)
	s.Max = f.num("max_ms", &errs)
	if err := errors.Join(errs...); err != nil {
		return s, false, fmt.Errorf("HLS_LATENCY line %q: %w", line, err)
	}
	return s, true, nil
}
