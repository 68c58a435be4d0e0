package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/source/pattern"
	"github.com/framecast/framecast/internal/source/rawreader"
	"github.com/framecast/framecast/internal/web"
)

var errHelp = errors.New("help shown")

// listFlag is a flag that may be given several times.
type listFlag struct {
	vals []string
	set  bool // given on the command line: the default is dropped
}

func (l *listFlag) String() string { return strings.Join(l.vals, ",") }

func (l *listFlag) Set(v string) error {
	if !l.set {
		l.vals, l.set = nil, true
	}
	if v != "" && v != "none" {
		l.vals = append(l.vals, v)
	}
	return nil
}

type serveFlags struct {
	ingest                 listFlag
	push                   listFlag
	rtsp, udpRTP, udpRTCP  string
	noUDP                  bool
	testsrc, stdin         string
	size                   string
	pixFmt                 framecast.PixelFormat
	fps                    float64
	bitrate, gop, threads  int
	crf                    float64
	preset, tune, profile  string
	idrOnJoin              bool
	whenFull               framecast.WhenFull
	audio                  framecast.Audio
	idle                   framecast.IdlePolicy
	alwaysEncode           bool
	status                 time.Duration
	linger                 time.Duration
	helloTimeout           time.Duration
	maxUnauth, maxUnauthIP int
	maxIngestMiB           int
	logLevel               string
	config                 string
	http                   string
	exitWithParent         bool

	transports, multicastRange          string
	multicastRTP, multicastRTCP         int
	tlsCert, tlsKey                     string
	maxViewers, maxPerPath, maxProducer int
	auth                                []framecast.PathAuth // from the config file only

	metricsAuth []framecast.Credentials // /metrics's, from the config file only
}

func newServeFlagSet(f *serveFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&f.rtsp, "rtsp", ":8554", "RTSP listen `address`")
	fs.StringVar(&f.udpRTP, "udp-rtp", ":8000", "UDP `address` for RTP to viewers (an even port)")
	fs.StringVar(&f.udpRTCP, "udp-rtcp", ":8001", "UDP `address` for RTCP (the RTP port + 1)")
	fs.BoolVar(&f.noUDP, "no-udp", false, "serve RTP over TCP (interleaved) only")
	f.ingest.vals = []string{"tcp://127.0.0.1:8555"}
	fs.Var(&f.ingest, "ingest", "listen for producers (socket protocol, docs/ingest-protocol.md) at `URL`: tcp://HOST:PORT or unix:///PATH; repeatable; none to disable")
	fs.Var(&f.push, "push", "also publish PATH to a media server, as `PATH=URL`: rtsp[s]://HOST[:PORT]/PATH (?transport=udp for UDP), rtmp[s]://HOST[:PORT]/APP/KEY, or srt://HOST:PORT?streamid=ID (MPEG-TS, caller; passphrase=, latency=ms); e.g. /cam=rtmp://nginx/live/cam; repeatable")
	fs.StringVar(&f.testsrc, "testsrc", "", "serve a moving test pattern on `path` (e.g. /test)")
	fs.StringVar(&f.stdin, "stdin", "", "serve raw frames read from standard input on `path` (ffmpeg -f rawvideo)")
	fs.StringVar(&f.size, "size", "1280x720", "frame size `WxH` of --testsrc and --stdin")
	fs.Float64Var(&f.fps, "fps", 30, "frame `rate` of --testsrc and --stdin")
	fs.TextVar(&f.pixFmt, "pix-fmt", framecast.BGR24, "pixel `format` of --stdin frames: bgr24, rgb24, bgra, rgba, gray, yuv420p, nv12, yuyv422")
	fs.IntVar(&f.bitrate, "bitrate", 0, "H.264 bitrate in `kbit/s` (constant bitrate); 0 picks one from size and fps, unless --crf")
	fs.Float64Var(&f.crf, "crf", 0, "x264 constant rate `factor` (quality-based bitrate) when --bitrate is 0")
	fs.IntVar(&f.gop, "gop", 0, "`frames` between IDR frames; 0 means 2 s worth")
	fs.StringVar(&f.preset, "preset", "ultrafast", "x264 `preset` (ultrafast … placebo)")
	fs.StringVar(&f.tune, "tune", "zerolatency", "x264 `tune` (zerolatency, film, animation, … or none)")
	fs.StringVar(&f.profile, "profile", "high", "H.264 `profile`: baseline, main or high")
	fs.IntVar(&f.threads, "threads", 0, "x264 encoder `threads`; 0 lets x264 choose")
	fs.BoolVar(&f.idrOnJoin, "idr-on-join", true, "send an IDR when a viewer starts playing, so it sees a picture at once")
	fs.TextVar(&f.audio, "audio", framecast.AudioNone, "audio `track` beside the video of every path: none, or silent (silent AAC-LC, 48 kHz stereo, for YouTube and NVRs that want one; per stream in YAML)")
	fs.TextVar(&f.whenFull, "when-full", framecast.DropOldest, "when the encoder is behind: drop-oldest (newest frame wins, drops counted) or block the producer")
	fs.TextVar(&f.idle, "idle", framecast.IdleRepeat, "while a producer stalls or is gone: repeat (the last frame once a second) or none")
	fs.DurationVar(&f.linger, "linger", 30*time.Second, "how long a path whose producer left keeps its viewers, repeating its last picture, before it is removed (`duration`; 0: removed at once); the config's streams are never removed")
	fs.BoolVar(&f.alwaysEncode, "always-encode", false, "encode while nobody watches (by default a stream without viewers skips encoding)")
	fs.DurationVar(&f.status, "status-interval", 10*time.Second, "how often to log a status line per stream (`duration`; 0 never)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&f.transports, "transports", "udp,tcp", "RTP `transports` viewers may use: udp, tcp, multicast, comma-separated")
	fs.StringVar(&f.multicastRange, "multicast-range", "224.1.0.0/16", "IPv4 `range` of multicast groups, one per path (with --transports …,multicast)")
	fs.IntVar(&f.multicastRTP, "multicast-rtp-port", 8002, "multicast RTP `port` (even)")
	fs.IntVar(&f.multicastRTCP, "multicast-rtcp-port", 8003, "multicast RTCP `port` (the RTP port + 1)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate `file`: serve rtsps:// (with --tls-key)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key `file` of --tls-cert")
	fs.IntVar(&f.maxViewers, "max-viewers", 0, "most RTSP viewers in total (`n`); more get 503; 0 no limit")
	fs.IntVar(&f.maxPerPath, "max-viewers-per-path", 0, "most RTSP viewers of one path (`n`); 0 no limit")
	fs.DurationVar(&f.helloTimeout, "ingest-hello-timeout", 5*time.Second, "an ingest connection that has not sent HELLO (and a valid token) within this `duration` is closed; < 0 no limit")
	fs.IntVar(&f.maxUnauth, "max-ingest-pending", 64, "most ingest connections per listener that have not completed HELLO (`n`); < 0 no limit")
	fs.IntVar(&f.maxUnauthIP, "max-ingest-pending-per-ip", 8, "most such connections from one IP address (`n`); < 0 no limit")
	fs.IntVar(&f.maxIngestMiB, "max-ingest-memory", 512, "most memory all ingest connections together hold for frames being received (`MiB`); < 0 no limit")
	fs.IntVar(&f.maxProducer, "max-producers", 0, "most producers at once (`n`); 0 no limit")
	fs.StringVar(&f.http, "http", "127.0.0.1:8080", "serve the web page (streams, live previews), HLS at /PATH/index.m3u8, /api/v1 and /metrics at `address`; none to disable")
	fs.BoolVar(&f.exitWithParent, "exit-with-parent", false, "shut down when the process that started framecast exits: when its parent process changes or, without --stdin, when standard input (a pipe the parent holds) reaches its end; for programs that run framecast as their child")
	fs.StringVar(&f.config, "config", "", "read settings and streams from a YAML `file` (see framecast.example.yml); flags override it")
	return fs
}

const serveUsage = `Usage: framecast serve [flags]

Runs an RTSP server. Each source (--testsrc, --stdin) is served on its path:
watch it at rtsp://HOST:PORT/PATH with ffplay, VLC, GStreamer or OpenCV.
SIGINT or SIGTERM stops it cleanly. It runs with Go's garbage collector
target at 25 % of the live heap (GOGC=25; set GOGC to choose another), which
keeps memory per viewer about a quarter lower than Go's default of 100.

Flags:
`

func parseSize(s string) (w, h int, err error) {
	ws, hs, ok := strings.Cut(s, "x")
	if ok {
		w, err = strconv.Atoi(ws)
		if err == nil {
			h, err = strconv.Atoi(hs)
		}
	}
	if !ok || err != nil || w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("invalid --size %q: want WIDTHxHEIGHT, e.g. 1280x720", s)
	}
	if w%2 != 0 || h%2 != 0 || w > 8192 || h > 8192 {
		return 0, 0, fmt.Errorf("invalid --size %q: width and height must be even and at most 8192", s)
	}
	return w, h, nil
}

func serve(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	var f serveFlags
	fs := newServeFlagSet(&f)
	fs.SetOutput(io.Discard)
	var file *fileConfig
	if path := configFlag(args); path != "" {
		var err error
		if file, err = loadConfig(path); err != nil {
			return err
		}
		file.apply(&f)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, serveUsage)
			printFlags(stdout, fs)
			return errHelp
		}
		return fmt.Errorf("%v (see framecast serve --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see framecast serve --help)", fs.Arg(0))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("invalid --log-level %q: want debug, info, warn or error", f.logLevel)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if f.exitWithParent {
		var stop func()
		ctx, stop = watchParent(ctx, stdin, f.stdin == "", log)
		defer stop()
	}
	w, h, err := parseSize(f.size)
	if err != nil {
		return err
	}
	if f.fps <= 0 || f.fps > 1000 {
		return fmt.Errorf("invalid --fps %g: want more than 0 and at most 1000", f.fps)
	}
	if f.status == 0 {
		f.status = -1
	}
	type pushSpec struct{ path, url string }
	var pushes []pushSpec
	for _, p := range f.push.vals {
		path, url, err := framecast.ParsePushSpec(p)
		if err != nil {
			return fmt.Errorf("invalid --push %q: %w", p, err)
		}
		pushes = append(pushes, pushSpec{path, url})
	}
	// The sources: the file's streams, then --testsrc and --stdin.
	var sources []streamFile
	if file != nil {
		sources = append(sources, file.Streams...)
	}
	if f.testsrc != "" {
		sources = append(sources, streamFile{Path: f.testsrc, Source: "testsrc"})
	}
	if f.stdin != "" {
		sources = append(sources, streamFile{Path: f.stdin, Source: "stdin"})
	}
	paths, stdins := map[string]bool{}, 0
	var keep []string // the declared paths are never removed
	pathAudio := map[string]framecast.Audio{}
	for _, src := range sources {
		if paths[src.Path] {
			return fmt.Errorf("two sources on path %s", src.Path)
		}
		paths[src.Path] = true
		keep = append(keep, src.Path)
		if src.Audio != nil {
			pathAudio[src.Path] = src.Audio.v
		}
		if src.Source == "stdin" {
			stdins++
		}
	}
	if stdins > 1 {
		return errors.New("only one stream can read standard input")
	}
	if len(sources) == 0 && len(f.ingest.vals) == 0 {
		return errors.New("nothing to serve: give --ingest URL, --testsrc PATH or --stdin PATH (see framecast serve --help)")
	}
	transports, err := framecast.ParseTransports(f.transports)
	if err != nil {
		return fmt.Errorf("invalid --transports: %w", err)
	}
	srv, err := framecast.NewServer(framecast.Config{
		Transports:        transports,
		MulticastIPRange:  f.multicastRange,
		MulticastRTPPort:  f.multicastRTP,
		MulticastRTCPPort: f.multicastRTCP,
		TLSCert:           f.tlsCert,
		TLSKey:            f.tlsKey,
		Auth:              f.auth,
		MaxViewers:        f.maxViewers,
		MaxViewersPerPath: f.maxPerPath,
		MaxProducers:      f.maxProducer,
		RTSPAddress:       f.rtsp,
		UDPRTPAddress:     f.udpRTP,
		UDPRTCPAddress:    f.udpRTCP,
		DisableUDP:        f.noUDP,
		Encoder: framecast.EncoderConfig{
			BitrateKbps: f.bitrate, CRF: f.crf, GOP: f.gop,
			Preset: f.preset, Tune: f.tune, Profile: f.profile, Threads: f.threads,
		},
		DisableIDROnJoin: !f.idrOnJoin,
		WhenFull:         f.whenFull,
		Audio:            f.audio,
		PathAudio:        pathAudio,
		Idle:             f.idle,
		AlwaysEncode:     f.alwaysEncode,
		Linger:           lingerOf(f.linger),

		IngestHelloTimeout:            f.helloTimeout,
		MaxIngestUnauthenticated:      f.maxUnauth,
		MaxIngestUnauthenticatedPerIP: f.maxUnauthIP,
		MaxIngestFrameMemory:          ingestMemory(f.maxIngestMiB),
		KeepPaths:                     keep,
		StatusInterval:                f.status,
		Logger:                        log,
	})
	if err != nil {
		return err
	}
	// The server owns what is attached below and stops it in order: the
	// sources first, RTSP last (framecast.Server.Shutdown).
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if serr := srv.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("shutdown did not finish in %v: %w", shutdownTimeout, serr)
		}
	}()
	host := urlHost(srv.Addr())
	base := "rtsp://" + host
	if f.tlsCert != "" {
		base = "rtsps://" + host
	}
	fmt.Fprintf(stdout, "framecast: RTSP server on %s\n", srv.Addr())
	var ingestURLs []string
	for _, u := range f.ingest.vals {
		a, err := srv.ListenIngest(u)
		if err != nil {
			return err
		}
		if strings.HasPrefix(u, "tcp://") {
			u = "tcp://" + a.String()
		}
		ingestURLs = append(ingestURLs, u)
		fmt.Fprintf(stdout, "framecast: ingest on %s\n", u)
	}

	if f.http != "" && f.http != "none" {
		ln, err := net.Listen("tcp", f.http)
		if err != nil {
			return fmt.Errorf("http listen: %w", err)
		}
		ws, err := web.New(srv, web.Options{
			Logger:             log,
			MetricsCredentials: f.metricsAuth,
			// The page and its previews open no path RTSP keeps closed.
			Authorize: func(r *http.Request, path string) bool {
				user, pass, _ := r.BasicAuth()
				return srv.CheckRead(path, user, pass)
			},
		})
		if err != nil {
			ln.Close()
			return err
		}
		// A consumer: it closes after the sources and pushes, before the
		// paths its previews are sinks of. Serve failing ends the server.
		if err := srv.Attach(framecast.StageConsumer, ws); err != nil {
			ln.Close()
			return err
		}
		if err := srv.Go(framecast.StageConsumer, func(context.Context) error { return ws.Serve(ln) }); err != nil {
			ln.Close()
			return err
		}
		fmt.Fprintf(stdout, "framecast: web page on http://%s/\n", ln.Addr())
	}
	for _, p := range pushes {
		t, err := srv.Push(p.path, p.url)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "framecast: pushing %s to %s\n", p.path, t.URL())
	}
	for _, src := range sources {
		if src.Source == "ingest" {
			continue // published by its producer
		}
		format, err := src.format(w, h, f.fps, f.pixFmt)
		if err != nil {
			return err
		}
		c, what, err := startSource(srv, src, format, stdin, log)
		if err != nil {
			return err
		}
		if err := srv.Attach(framecast.StageSource, c); err != nil {
			return err
		}
		printWatch(stdout, base, src.Path, what)
	}
	if len(ingestURLs) > 0 {
		fmt.Fprintf(stdout, `
Push frames from your program to %[1]s; watch them at %[2]s/cam:
  Python: PYTHONPATH=clients/python python3 examples/python/synthetic.py --address %[1]s --path /cam
          (from framecast import Publisher; pub = Publisher("/cam", address="%[1]s"); pub.write(frame))
  Go:     publisher.Dial(ctx, "%[1]s", "/cam", publisher.Format{…}) (package github.com/framecast/framecast/publisher)
  A pipe: ffmpeg … -f rawvideo -pix_fmt bgr24 - | framecast serve --stdin /cam --size WxH --fps N --pix-fmt bgr24
`, ingestURLs[0], base)
	}
	// A listener gone for good ends the process, non-zero: never run on deaf.
	select {
	case <-ctx.Done():
	case <-srv.Done():
		return srv.Wait() // the server logged it at error
	}
	log.Info("shutting down")
	return nil
}

func urlHost(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func printWatch(w io.Writer, base, path, what string) {
	u := base + path
	fmt.Fprintf(w, `
Serving %s at %s
Watch it with:
  ffplay -rtsp_transport tcp -flags low_delay -analyzeduration 0 -probesize 32 %s
  vlc --network-caching=200 %s
  gst-launch-1.0 rtspsrc location=%s latency=100 ! rtph264depay ! avdec_h264 ! videoconvert ! autovideosink
  python3 -c 'import cv2; c = cv2.VideoCapture("%s"); ok, f = c.read(); print(ok, f.shape)'
`, what, u, u, u, u, u)
}

// format is the frame format of a testsrc or stdin source: its own size,
// rate and pixel format where the file gives them, else the flags'.
func (src streamFile) format(w, h int, fps float64, pf framecast.PixelFormat) (framecast.Format, error) {
	if src.Size != "" {
		var err error
		if w, h, err = parseSize(src.Size); err != nil {
			return framecast.Format{}, err
		}
	}
	if src.FPS != 0 {
		fps = src.FPS
	}
	if src.PixFmt != nil {
		pf = src.PixFmt.v
	}
	if src.Source == "testsrc" {
		pf = framecast.BGR24
	}
	format := framecast.Format{PixelFormat: pf, Width: w, Height: h, FPS: fps}
	if src.Encoder != nil {
		var e framecast.EncoderConfig
		src.Encoder.applyTo(&e.BitrateKbps, &e.CRF, &e.GOP, &e.Preset, &e.Tune, &e.Profile, &e.Threads)
		format.Encoder = &e
	}
	return format, nil
}

// startSource starts the source of a declared stream, a package under
// internal/source, and says what it serves. The caller attaches it to srv,
// which closes it.
func startSource(srv *framecast.Server, src streamFile, format framecast.Format, stdin io.Reader, log *slog.Logger) (framecast.Component, string, error) {
	if src.Source == "testsrc" {
		p, err := pattern.Start(srv, src.Path, format)
		if err != nil {
			return nil, "", err
		}
		return p, fmt.Sprintf("test pattern %dx%d at %g fps", format.Width, format.Height, format.FPS), nil
	}
	r, err := rawreader.Start(srv, src.Path, format, interruptible(stdin), rawreader.Options{Name: "stdin", Logger: log})
	if err != nil {
		return nil, "", err
	}
	return r, fmt.Sprintf("%s %dx%d frames from standard input", format.PixelFormat, format.Width, format.Height), nil
}

// shutdownTimeout bounds the shutdown after a signal: a component still
// running then (say, a read of a terminal, which closing cannot
// interrupt) is left behind, and serve fails.
const shutdownTimeout = 10 * time.Second

// lingerOf maps --linger to Config.Linger, where 0 means the default: a
// --linger of 0 removes paths at once.
func lingerOf(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// ingestMemory maps --max-ingest-memory (MiB, < 0 no limit) to
// Config.MaxIngestFrameMemory (bytes).
func ingestMemory(mib int) int64 {
	if mib < 0 {
		return -1
	}
	return int64(mib) << 20
}

// printFlags is flag's PrintDefaults with the flags spelled as the README
// and docs spell them, with two dashes (the flag package takes both).
func printFlags(w io.Writer, fs *flag.FlagSet) {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(w)
	fmt.Fprint(w, strings.ReplaceAll("\n"+b.String(), "\n  -", "\n  --")[1:])
}
