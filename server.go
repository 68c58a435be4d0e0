// Package framecast publishes frames made by a program as live H.264 RTSP
// streams. A Server listens for RTSP viewers (ffplay, VLC, GStreamer, OpenCV,
// NVRs); a program publishes a Stream on a path and writes raw frames to it;
// framecast converts them with libyuv, encodes them with libx264 and sends
// them to every viewer of rtsp://host:8554/path.
//
//	srv, err := framecast.NewServer(framecast.Config{})
//	st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.BGR24, Width: 640, Height: 480})
//	for { st.WriteFrame(pixels) }
package framecast

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/framecast/framecast/internal/pathname"
	"github.com/framecast/framecast/internal/rtsp"
)

// Config configures a Server. The zero value serves RTSP on :8554 with UDP
// on ports 8000 and 8001.
type Config struct {
	// RTSPAddress is the RTSP listen address; "" means ":8554".
	RTSPAddress string
	// UDPRTPAddress and UDPRTCPAddress are the UDP addresses for RTP and
	// RTCP (an even port and the next); "" means ":8000" and ":8001".
	UDPRTPAddress, UDPRTCPAddress string
	// DisableUDP turns the UDP unicast transport off, whatever Transports
	// says.
	DisableUDP bool
	// Transports are the RTP transports viewers may use: "udp" (unicast),
	// "tcp" (interleaved in the RTSP connection) and "multicast" (see
	// ParseTransports). Empty means udp and tcp, and multicast too when
	// MulticastIPRange is set. A viewer that asks for a transport that is
	// off is answered 461 Unsupported Transport (ffmpeg then tries its next
	// one, if it was allowed any).
	Transports []string
	// MulticastIPRange is the IPv4 range of multicast groups, one per path;
	// "" means 224.1.0.0/16 when Transports lists multicast. RTP and RTCP go
	// to MulticastRTPPort and MulticastRTCPPort (an even port and the next;
	// 0 means 8002 and 8003) on every multicast-capable interface.
	MulticastIPRange                    string
	MulticastRTPPort, MulticastRTCPPort int
	// TLSCert and TLSKey are PEM files of a certificate and its key: the
	// server then speaks RTSPS only (rtsps://host:port/path, TLS on the RTSP
	// port). RTP goes inside the TLS connection with the tcp transport, and
	// as SRTP with udp and multicast (GStreamer speaks it; ffmpeg always
	// uses TCP for rtsps://). See docs/serving.md.
	TLSCert, TLSKey string
	// Auth says who may read (RTSP) and publish (ingest over TCP) each
	// path: a path takes its own entry's credentials for a role, else the
	// "*" entry's, else none (anyone may). NewServer warns when the RTSP
	// listener is reachable from other hosts and paths are open to
	// viewers; ListenIngest does the same for TCP ingest and producers.
	Auth []PathAuth
	// MaxViewers and MaxViewersPerPath bound the RTSP viewers in total and
	// per path; a viewer beyond them is refused with 503 Service
	// Unavailable, naming the limit, and the others go on. MaxProducers
	// bounds the paths being published (by Publish and ingest alike); a
	// producer beyond it gets ErrTooManyProducers or the ingest error
	// too-many-producers. 0 means no limit.
	MaxViewers, MaxViewersPerPath, MaxProducers int
	// IngestHelloTimeout is how long an ingest connection has to complete
	// its HELLO (and its token's check): one that has not is sent the fatal
	// error bad-hello and closed. 0 means 5 s; < 0, no limit. See
	// docs/serving.md, "Limits and abuse", for this and the three below.
	IngestHelloTimeout time.Duration
	// MaxIngestUnauthenticated and MaxIngestUnauthenticatedPerIP bound the
	// ingest connections that have not completed HELLO, per listener and
	// per remote IP address (TCP only); a connection beyond them is sent
	// the fatal error server-busy and closed at once. 0 means 64 and 8; < 0,
	// no limit.
	MaxIngestUnauthenticated, MaxIngestUnauthenticatedPerIP int
	// MaxIngestFrameMemory bounds the bytes all ingest connections together
	// hold in buffers for the frames they receive (each holds at most one
	// frame of its format, and none after 5 s without input); a frame that
	// would need more is refused with the fatal error server-busy. 0 means
	// 512 MiB; < 0, no limit.
	MaxIngestFrameMemory int64
	// Encoder is the default encoder configuration of every stream.
	Encoder EncoderConfig
	// IDROnJoin asks the encoder for an IDR when a viewer starts playing, so
	// the viewer gets a picture at once instead of at the next GOP. Requests
	// are coalesced to at most one per IDRInterval.
	DisableIDROnJoin bool
	// IDRInterval is the least time between two IDRs forced by joins; 0
	// means 500 ms.
	IDRInterval time.Duration
	// WhenFull says what a write does when the encoder is behind and the
	// queue between them is full: DropOldest (the default) or Block.
	WhenFull WhenFull
	// Idle says what viewers get while a path's producer stalls or is gone:
	// IdleRepeat (the default) encodes the last frame again every
	// IdleInterval (0 means 1 s) with fresh timestamps; IdleNone sends
	// nothing. Viewers stay connected either way.
	Idle         IdlePolicy
	IdleInterval time.Duration
	// AlwaysEncode encodes frames while nobody watches. By default a stream
	// with no viewers skips conversion and encoding (CPU near zero), and
	// the first viewer's IDR starts it again.
	AlwaysEncode bool
	// Linger is how long a path stays after its producer left: viewers
	// stay connected and get the last picture (repeated, see Idle) so that
	// a restarted producer keeps them; then the path is removed, its
	// encoder and mount freed and its viewers disconnected. 0 means 30 s;
	// a negative value removes the path as soon as its producer leaves.
	// Lingering paths count against MaxProducers.
	Linger time.Duration
	// KeepPaths are paths never removed once published (for example the
	// streams declared in a config file): they linger forever.
	KeepPaths []string
	// Audio is the audio track of every path's stream (AudioNone: video
	// only), and PathAudio the track of the paths it names instead.
	Audio     Audio
	PathAudio map[string]Audio
	// StatusInterval is how often a status line is logged per stream (fps
	// in and out, bitrate, viewers, dropped); 0 means 10 s, < 0 never.
	StatusInterval time.Duration
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
}

// WhenFull is what a write does when the encoder is behind.
type WhenFull int

const (
	// DropOldest drops the oldest frame waiting for the encoder: live
	// video, the newest frame wins. Drops are counted.
	DropOldest WhenFull = iota
	// Block makes the write wait for the encoder.
	Block
)

// String is the policy's name: "drop-oldest" or "block".
func (w WhenFull) String() string {
	if w == Block {
		return "block"
	}
	return "drop-oldest"
}

// MarshalText returns the policy's name.
func (w WhenFull) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// UnmarshalText parses "drop-oldest" or "block", so that flags
// (flag.TextVar), YAML and JSON share one spelling.
func (w *WhenFull) UnmarshalText(b []byte) error {
	switch string(b) {
	case "drop-oldest":
		*w = DropOldest
	case "block":
		*w = Block
	default:
		return fmt.Errorf("unknown when-full policy %q (want drop-oldest or block)", b)
	}
	return nil
}

// ParseWhenFull parses "drop-oldest" or "block" (see UnmarshalText).
func ParseWhenFull(s string) (WhenFull, error) {
	var w WhenFull
	err := w.UnmarshalText([]byte(s))
	return w, err
}

// IdlePolicy is what viewers get while a producer is idle.
type IdlePolicy int

const (
	// IdleRepeat repeats the last frame at a low rate.
	IdleRepeat IdlePolicy = iota
	// IdleNone sends nothing until frames come again.
	IdleNone
)

// String is the policy's name: "repeat" or "none".
func (p IdlePolicy) String() string {
	if p == IdleNone {
		return "none"
	}
	return "repeat"
}

// MarshalText returns the policy's name.
func (p IdlePolicy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText parses "repeat" or "none".
func (p *IdlePolicy) UnmarshalText(b []byte) error {
	switch string(b) {
	case "repeat":
		*p = IdleRepeat
	case "none":
		*p = IdleNone
	default:
		return fmt.Errorf("unknown idle policy %q (want repeat or none)", b)
	}
	return nil
}

// ParseIdlePolicy parses "repeat" or "none" (see UnmarshalText).
func ParseIdlePolicy(s string) (IdlePolicy, error) {
	var p IdlePolicy
	err := p.UnmarshalText([]byte(s))
	return p, err
}

// Server serves published streams to RTSP viewers. Its methods are safe for
// concurrent use.
type Server struct {
	cfg  Config
	log  *slog.Logger
	rtsp *rtsp.Server

	mu       sync.Mutex
	paths    map[string]*pathEntry             // every served path: path.go
	sinks    map[string]map[*pathSink]struct{} // AddSink's consumers, by path
	keep     map[string]bool                   // Config.KeepPaths
	closed   bool
	opens    sync.WaitGroup // Publish calls opening an encoder
	removing sync.WaitGroup // paths being removed

	done chan struct{}  // closed by Shutdown: stops the status loop
	wg   sync.WaitGroup // the status loop
	life lifecycle      // the first fatal error: lifecycle.go

	ingest ingestState // producer listeners and connections: ingest.go
	pushes pushSet     // pushes to other servers: push.go

	access  accessRules // Config.Auth, parsed
	authLog authLog     // refused credentials, rate-limited
}

// Errors returned by Server.
var (
	ErrServerClosed = errors.New("server closed")
	ErrPathInUse    = errors.New("path already has a producer")
	ErrStreamClosed = errors.New("stream closed")
)

// withDefaults fills in what the zero values of c mean: the one place the
// server's defaults live (a stream's encoder defaults are resolveEncoder's,
// which need its format).
func (c Config) withDefaults() Config {
	if c.RTSPAddress == "" {
		c.RTSPAddress = ":8554"
	}
	if c.IDRInterval == 0 {
		c.IDRInterval = 500 * time.Millisecond
	}
	if c.IdleInterval <= 0 {
		c.IdleInterval = time.Second
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Linger == 0 {
		c.Linger = defaultLinger
	}
	ingestDefaults(&c) // ingest_limits.go
	return c
}

// NewServer starts listening for RTSP viewers. It returns an error when an
// address cannot be bound (for example, the port is already in use), or
// when the transports, the certificate, the credentials or the encoder
// settings are not valid; it binds nothing then.
func NewServer(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	tr, err := resolveTransports(&cfg)
	if err != nil {
		return nil, err
	}
	tlsConfig, err := loadTLS(&cfg)
	if err != nil {
		return nil, err
	}
	access, err := parseAuth(cfg.Auth)
	if err != nil {
		return nil, err
	}
	if err := cfg.Encoder.check(); err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	if cfg.MaxViewers < 0 || cfg.MaxViewersPerPath < 0 || cfg.MaxProducers < 0 {
		return nil, fmt.Errorf("limits must be 0 (none) or more: max viewers %d, per path %d, max producers %d",
			cfg.MaxViewers, cfg.MaxViewersPerPath, cfg.MaxProducers)
	}
	pathAudio := make(map[string]Audio, len(cfg.PathAudio))
	for p, a := range cfg.PathAudio {
		if err := pathname.Check(p); err != nil {
			return nil, fmt.Errorf("path audio: %w", err)
		}
		pathAudio[p] = a
	}
	cfg.PathAudio = pathAudio // the caller's map may change
	s := &Server{cfg: cfg, log: cfg.Logger, paths: make(map[string]*pathEntry),
		sinks: make(map[string]map[*pathSink]struct{}), keep: make(map[string]bool),
		done: make(chan struct{}), access: access, authLog: authLog{log: cfg.Logger}}
	for _, p := range cfg.KeepPaths {
		if err := pathname.Check(p); err != nil {
			return nil, fmt.Errorf("keep paths: %w", err)
		}
		s.keep[p] = true
	}
	s.rtsp, err = rtsp.Listen(rtsp.Config{
		Address:           cfg.RTSPAddress,
		UDPRTPAddress:     cfg.UDPRTPAddress,
		UDPRTCPAddress:    cfg.UDPRTCPAddress,
		DisableTCP:        !tr.tcp,
		MulticastIPRange:  cfg.MulticastIPRange,
		MulticastRTPPort:  cfg.MulticastRTPPort,
		MulticastRTCPPort: cfg.MulticastRTCPPort,
		TLSConfig:         tlsConfig,
		MaxViewers:        cfg.MaxViewers,
		MaxViewersPerPath: cfg.MaxViewersPerPath,
		ReadCredentials:   access.readCredentials,
		OnAuthFailure: func(remote net.Addr, path, user string) {
			s.authLog.failed("read", remote.String(), path, user)
		},
		Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	scheme := "rtsp"
	if tlsConfig != nil {
		scheme = "rtsps"
	}
	s.log.Debug("rtsp listening", "address", scheme+"://"+s.rtsp.Addr().String(), "transports", tr.String(),
		"multicast_range", cfg.MulticastIPRange)
	warnIfOpen(s.log, "RTSP", "watch", s.rtsp.Addr(), access.read)
	if cfg.StatusInterval > 0 {
		s.wg.Add(1)
		go s.statusLoop()
	}
	s.watch() // lifecycle.go: Wait learns of a component's fatal error
	return s, nil
}

// Addr is the address of the RTSP listener.
func (s *Server) Addr() net.Addr { return s.rtsp.Addr() }

// Publish opens a stream on path (e.g. "/cam") for frames of format f. The
// encoder is opened at once; viewers can play rtsp://host:port/path from now
// until the server closes, including while no producer is writing. A path
// has at most one producer at a time: a second Publish on it fails with
// ErrPathInUse until the first Stream is closed. The path must be
// canonical: "/" and segments of ASCII letters, digits, '.', '_', '~' or
// '-' joined by single slashes, no "." or ".." segment, no trailing slash,
// at most 255 bytes, case-sensitive (docs/serving.md, "Paths"); any other is
// refused with an error that says why.
func (s *Server) Publish(path string, f Format) (*Stream, error) {
	return s.publish(path, f, "the Go API")
}

// Close and Shutdown, which stop the server in a defined order, are in
// lifecycle.go.

// statusLoop logs one line per stream every StatusInterval.
func (s *Server) statusLoop() {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.StatusInterval)
	defer tick.Stop()
	prev := map[*Stream]StreamStats{}
	last := time.Now()
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
		}
		all, owners := s.entries()
		var streams []*Stream
		for i, st := range all {
			if owners[i] != "" {
				streams = append(streams, st)
			}
		}
		now := time.Now()
		secs := now.Sub(last).Seconds()
		last = now
		seen := map[*Stream]StreamStats{}
		for _, st := range streams {
			c, p := st.Stats(), prev[st]
			seen[st] = c
			s.log.Info("stream status", "path", st.path,
				"fps_in", round1(float64(c.FramesIn-p.FramesIn)/secs),
				"fps_out", round1(float64(c.FramesEncoded-p.FramesEncoded)/secs),
				"kbps", round1(float64(c.BytesSent-p.BytesSent)*8/1000/secs),
				"viewers", c.Viewers, "dropped", c.Dropped-p.Dropped, "dropped_total", c.Dropped,
				"slow_viewers", c.SlowViewers, "dropped_udp_packets", c.DroppedUDPPackets)
		}
		prev = seen
	}
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
