package main

// The harness runs each system under test in its own process, so that /proc
// accounts for it alone: it starts itself again with a role as the first
// argument. The roles print what the harness needs on stdout, one
// "KEY value" line each, and their counters as "STATS {json}" when they end.

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/bench"
	"github.com/framecast/framecast/internal/gcpercent"
	"github.com/framecast/framecast/internal/rtsp"
	"github.com/framecast/framecast/internal/x264"
	"github.com/framecast/framecast/internal/yuv"
	"github.com/framecast/framecast/publisher"
)

// roles are the subcommands the harness runs in child processes.
var roles = map[string]func(args []string) error{
	"role-framecast": roleFramecast,
	"role-pushcost":  rolePushCost,
	"role-x264":      roleX264,
	"role-gopub":     roleGoPublisher,
	"role-ring":      roleRing,
	"role-rtsp":      roleRTSP,
	"role-hls":       roleHLS,
}

// roleRTSP is framecast's fan-out alone: internal/rtsp serving one GOP of
// encoded 720p access units in a loop at 30 fps, with its write queue size,
// UDP segmentation offload and the mount's own writes to TCP and UDP
// viewers as knobs (framecast.Config exposes none). It is not part of make bench; it measures what the queue size
// does to viewers dropped as slow, and what UDP_SEGMENT saves.
func roleRTSP(args []string) error {
	fs := flag.NewFlagSet("role-rtsp", flag.ContinueOnError)
	queue := fs.Int("queue", 0, "packets queued per viewer (a power of two); 0: internal/rtsp's default")
	gso := fs.Bool("gso", true, "send a UDP viewer's access unit in one UDP_SEGMENT send (false: a datagram per packet)")
	direct := fs.Bool("direct", true, "write plain TCP viewers from the mount (false: through gortsplib's write queue)")
	directUDP := fs.Bool("direct-udp", true, "write UDP viewers from the mount (false: through gortsplib's write queue)")
	memProfile := fs.String("memprofile", "", "write a heap profile to this file at each SIGUSR1")
	if err := fs.Parse(args); err != nil {
		return err
	}
	defer heapProfileOnSignal(*memProfile)()
	aus, sps, pps, err := bench.EncodeGOP(1280, 720, size720.bitrate(), gop, gop)
	if err != nil {
		return err
	}
	rtp, rtcp, err := udpPair()
	if err != nil {
		return err
	}
	srv, err := rtsp.Listen(rtsp.Config{Address: "127.0.0.1:0", UDPRTPAddress: rtp, UDPRTCPAddress: rtcp,
		WriteQueueSize: *queue, DisableGSO: !*gso, DisableDirectTCP: !*direct, DisableDirectUDP: !*directUDP, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	defer srv.Close()
	m, err := srv.Mount("/bench", sps, pps)
	if err != nil {
		return err
	}
	fmt.Printf("RTSP rtsp://%s/bench\n", srv.Addr())
	ctx, cancel := untilSignal()
	defer cancel()
	p := newPacer(30)
	for n := 0; ctx.Err() == nil; n++ {
		p.wait(n)
		if err := m.WriteAccessUnit(aus[n%len(aus)], time.Duration(n)*time.Second/30, time.Now()); err != nil {
			return err
		}
	}
	printStats(map[string]uint64{"slow_viewers": m.SlowViewers()})
	return nil
}

// roleRing writes the ring file of a size, for trying producers by hand.
func roleRing(args []string) error {
	fs := flag.NewFlagSet("role-ring", flag.ContinueOnError)
	var c common
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.parse(); err != nil {
		return err
	}
	return bench.WriteRing(c.ring, c.w, c.h)
}

// common are the flags every producer role takes.
type common struct {
	size    string
	w, h    int
	ring    string
	rate    float64
	bitrate int
	gop     int
	threads int
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.size, "size", "1280x720", "frame size")
	fs.StringVar(&c.ring, "ring", "", "ring file of bgr24 frames")
	fs.Float64Var(&c.rate, "rate", 30, "frames per second to send; 0: as fast as taken")
	fs.IntVar(&c.bitrate, "bitrate", 0, "kbit/s")
	fs.IntVar(&c.gop, "gop", 60, "frames between IDRs")
	fs.IntVar(&c.threads, "threads", 0, "x264 threads; 0: x264 chooses")
}

func (c *common) parse() error {
	if _, err := fmt.Sscanf(c.size, "%dx%d", &c.w, &c.h); err != nil {
		return fmt.Errorf("size %q: %w", c.size, err)
	}
	return nil
}

// pacer waits for frame n's deadline at rate frames per second (0: never).
type pacer struct {
	period time.Duration
	t0     time.Time
}

func newPacer(rate float64) *pacer {
	p := &pacer{t0: time.Now()}
	if rate > 0 {
		p.period = time.Duration(float64(time.Second) / rate)
	}
	return p
}

func (p *pacer) wait(n int) {
	if p.period == 0 {
		return
	}
	if d := time.Until(p.t0.Add(time.Duration(n) * p.period)); d > 0 {
		time.Sleep(d)
	}
}

// untilSignal returns a context cancelled by SIGTERM or SIGINT.
func untilSignal() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

func printStats(v any) {
	b, _ := json.Marshal(v)
	fmt.Printf("STATS %s\n", b)
}

// roleFramecast runs a framecast server on 127.0.0.1. With -api it publishes
// /bench itself through the Go API; with -ingest it listens for a producer.
func roleFramecast(args []string) error {
	fs := flag.NewFlagSet("role-framecast", flag.ContinueOnError)
	var c common
	c.register(fs)
	api := fs.Bool("api", false, "publish /bench through the Go API")
	ingestURL := fs.String("ingest", "", "ingest address to listen on (unix:///PATH or tcp://HOST:PORT)")
	block := fs.Bool("block", false, "writes wait for the encoder (WhenFull=Block) instead of dropping")
	udp := fs.Bool("udp", true, "serve RTP over UDP too")
	idrOnJoin := fs.Bool("idr-on-join", true, "force an IDR when a viewer joins")
	i420 := fs.Bool("yuv420p", false, "with -api: send the ring converted to yuv420p beforehand (no conversion in the loop, no stamps)")
	alwaysEncode := fs.Bool("always-encode", true, "encode while nobody watches (false: the server's default, frames kept unconverted until a viewer comes)")
	memProfile := fs.String("memprofile", "", "write a heap profile to this file at each SIGUSR1")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.parse(); err != nil {
		return err
	}
	defer heapProfileOnSignal(*memProfile)()
	stopCPU, err := cpuProfileTo(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopCPU()
	gcpercent.Apply() // as framecast serve runs
	cfg := framecast.Config{
		RTSPAddress:      "127.0.0.1:0",
		DisableUDP:       !*udp,
		AlwaysEncode:     *alwaysEncode,
		DisableIDROnJoin: !*idrOnJoin,
		StatusInterval:   -1,
		Logger:           slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Encoder:          framecast.EncoderConfig{BitrateKbps: c.bitrate, GOP: c.gop, Threads: c.threads},
	}
	if *block {
		cfg.WhenFull = framecast.Block
	}
	if *udp {
		var err error
		if cfg.UDPRTPAddress, cfg.UDPRTCPAddress, err = udpPair(); err != nil {
			return err
		}
	}
	srv, err := framecast.NewServer(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Printf("RTSP rtsp://%s/bench\n", srv.Addr())
	ctx, cancel := untilSignal()
	defer cancel()
	go answerStats(srv, "/bench")
	if *ingestURL != "" {
		if _, err := srv.ListenIngest(*ingestURL); err != nil {
			return err
		}
		fmt.Println("INGEST", *ingestURL)
		<-ctx.Done()
		if st, ok := streamStats(srv, "/bench"); ok {
			printStats(map[string]uint64{"frames_in": st.FramesIn, "encoded": st.FramesEncoded,
				"dropped": st.Dropped, "skipped": st.Skipped, "refused": st.Refused})
		}
		return nil
	}
	if !*api {
		return fmt.Errorf("role-framecast: want -api or -ingest")
	}
	ring, err := bench.ReadRing(c.ring, c.w, c.h)
	if err != nil {
		return err
	}
	pf := framecast.BGR24
	if *i420 {
		if ring, err = toYUV420P(ring, c.w, c.h); err != nil {
			return err
		}
		pf = framecast.YUV420P
	}
	st, err := srv.Publish("/bench", framecast.Format{PixelFormat: pf, Width: c.w, Height: c.h, FPS: 30})
	if err != nil {
		return err
	}
	fmt.Println("PUBLISHING")
	p := newPacer(c.rate)
	n := 0
	for ctx.Err() == nil {
		p.wait(n)
		f := ring[n%len(ring)]
		if !*i420 {
			bench.Stamp(f, c.w, c.h, uint32(n), time.Now())
		}
		if err := st.WriteFrame(f); err != nil {
			return err
		}
		n++
	}
	s := st.Stats()
	st.Close()
	printStats(s)
	return nil
}

// answerStats answers each "stats" line on stdin with a STREAM line: the
// counters of path's stream (streamLine), so that the harness can take
// them at both ends of a window. It returns at the end of stdin.
func answerStats(srv *framecast.Server, path string) {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "stats" {
			st, ok := streamStats(srv, path)
			fmt.Println(streamLine(path, st, ok))
		}
	}
}

// streamStats are the counters of path's stream, if it has one.
func streamStats(srv *framecast.Server, path string) (framecast.StreamStats, bool) {
	for _, info := range srv.Streams() {
		if info.Path == path {
			return info.Stats, true
		}
	}
	return framecast.StreamStats{}, false
}

// streamLine is the STREAM line of a stream's counters (parseStreamLine
// reads it back):
//
//	STREAM path=/bench frames_in=300 encoded=290 dropped=10 skipped=0 refused=0 viewers=1 slow_viewers=0
//	STREAM path=/bench none
func streamLine(path string, st framecast.StreamStats, ok bool) string {
	if !ok {
		return fmt.Sprintf("STREAM path=%s none", path)
	}
	return fmt.Sprintf("STREAM path=%s frames_in=%d encoded=%d dropped=%d skipped=%d refused=%d viewers=%d slow_viewers=%d",
		path, st.FramesIn, st.FramesEncoded, st.Dropped, st.Skipped, st.Refused, st.Viewers, st.SlowViewers)
}

// toYUV420P converts bgr24 frames to packed yuv420p frames, outside the
// Go heap.
func toYUV420P(ring [][]byte, w, h int) ([][]byte, error) {
	img := yuv.NewI420(w, h)
	out := make([][]byte, len(ring))
	size := yuv.YUV420P.FrameSize(w, h, 0)
	all, err := bench.OffHeap(size * len(ring)) // off the Go heap, as the ring is (bench.ReadRing)
	if err != nil {
		return nil, err
	}
	for i, f := range ring {
		if err := yuv.Convert(img, f, yuv.BGR24, 0); err != nil {
			return nil, err
		}
		b := all[i*size : i*size : (i+1)*size]
		for y := range h {
			b = append(b, img.Y[y*img.StrideY:y*img.StrideY+w]...)
		}
		for y := range (h + 1) / 2 {
			b = append(b, img.U[y*img.StrideU:y*img.StrideU+(w+1)/2]...)
		}
		for y := range (h + 1) / 2 {
			b = append(b, img.V[y*img.StrideV:y*img.StrideV+(w+1)/2]...)
		}
		out[i] = b
	}
	return out, nil
}

// udpPair finds an even UDP port on 127.0.0.1 whose next port is free too.
func udpPair() (rtp, rtcp string, err error) {
	for range 100 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return "", "", err
		}
		port := c.LocalAddr().(*net.UDPAddr).Port &^ 1
		c.Close()
		a, errA := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		b, errB := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port+1))
		if errA == nil {
			a.Close()
		}
		if errB == nil {
			b.Close()
		}
		if errA == nil && errB == nil {
			return fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1), nil
		}
	}
	return "", "", fmt.Errorf("no free UDP port pair on 127.0.0.1")
}

// roleX264 is the x264 ceiling: libx264 alone, through framecast's own
// wrapper with the settings a stream uses, on the ring pre-converted to I420.
// It encodes for -seconds (after -warmup) and prints the rate.
func roleX264(args []string) error {
	fs := flag.NewFlagSet("role-x264", flag.ContinueOnError)
	var c common
	c.register(fs)
	seconds := fs.Float64("seconds", 3, "how long to measure")
	warmup := fs.Float64("warmup", 1, "how long to encode before measuring")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.parse(); err != nil {
		return err
	}
	ring, err := bench.ReadRing(c.ring, c.w, c.h)
	if err != nil {
		return err
	}
	pics := make([]*x264.Picture, len(ring))
	for i, f := range ring {
		bench.Stamp(f, c.w, c.h, uint32(i), time.Now())
		img := yuv.NewI420(c.w, c.h)
		if err := yuv.Convert(img, f, yuv.BGR24, 0); err != nil {
			return err
		}
		pics[i] = &x264.Picture{Y: img.Y, U: img.U, V: img.V, StrideY: img.StrideY, StrideU: img.StrideU, StrideV: img.StrideV}
	}
	enc, err := x264.Open(x264.Params{Width: c.w, Height: c.h, FPSNum: 30, FPSDen: 1, BitrateKbps: c.bitrate, GOP: c.gop, Threads: c.threads})
	if err != nil {
		return err
	}
	defer enc.Close()
	p := newPacer(c.rate)
	start := time.Now()
	measureFrom := start.Add(time.Duration(*warmup * float64(time.Second)))
	end := measureFrom.Add(time.Duration(*seconds * float64(time.Second)))
	var bytes int64
	n, counted := 0, 0
	var t0 time.Time
	var cpu0 time.Duration
	for {
		now := time.Now()
		if now.After(end) {
			break
		}
		if t0.IsZero() && now.After(measureFrom) {
			t0, counted, bytes = now, 0, 0
			cpu0 = selfCPU()
		}
		p.wait(n)
		au, _, err := enc.Encode(pics[n%len(pics)], int64(n)*3000, false)
		if err != nil {
			return err
		}
		for _, nal := range au {
			bytes += int64(len(nal))
		}
		n++
		counted++
	}
	secs := time.Since(t0).Seconds()
	printStats(map[string]float64{"fps": float64(counted) / secs, "kbps": float64(bytes) * 8 / 1000 / secs,
		"cores": (selfCPU() - cpu0).Seconds() / secs})
	return nil
}

// roleGoPublisher is a producer in its own process that sends the ring to a
// framecast server's ingest with the Go client (publisher): over the
// socket, or with -shm through the shared-memory ring (WriteFrame copies
// each frame once into a slot, as Python's write does).
func roleGoPublisher(args []string) error {
	fs := flag.NewFlagSet("role-gopub", flag.ContinueOnError)
	var c common
	c.register(fs)
	addr := fs.String("address", "", "framecast's ingest address")
	shmRing := fs.Bool("shm", false, "send frames through the shared-memory ring (required: no fall-back to the socket)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.parse(); err != nil {
		return err
	}
	ring, err := bench.ReadRing(c.ring, c.w, c.h)
	if err != nil {
		return err
	}
	ctx, cancel := untilSignal()
	defer cancel()
	var opts []publisher.Option
	if *shmRing {
		opts = append(opts, publisher.WithSharedMemory(publisher.SharedMemory{Required: true}))
	}
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	pub, err := publisher.Dial(dctx, *addr, "/bench", publisher.Format{
		PixelFormat: framecast.BGR24, Width: c.w, Height: c.h, FPS: 30,
		Encoder: &publisher.EncoderConfig{BitrateKbps: c.bitrate, GOP: c.gop},
	}, opts...)
	dcancel()
	if err != nil {
		return err
	}
	fmt.Println("PUBLISHING")
	p := newPacer(c.rate)
	n := 0
	for ctx.Err() == nil {
		p.wait(n)
		f := ring[n%len(ring)]
		bench.Stamp(f, c.w, c.h, uint32(n), time.Now())
		if err := pub.WriteFrame(f); err != nil {
			return err
		}
		n++
	}
	printStats(map[string]int{"sent": n})
	return pub.Close()
}

// selfCPU is the user+sys time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
