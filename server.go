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
	"net"
	"strings"
	"sync"
	"time"

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
	// DisableUDP serves RTP over TCP (interleaved) only.
	DisableUDP bool
	// Encoder is the default encoder configuration of every stream.
	Encoder EncoderConfig
	// IDROnJoin asks the encoder for an IDR when a viewer starts playing, so
	// the viewer gets a picture at once instead of at the next GOP. Requests
	// are coalesced to at most one per IDRInterval.
	DisableIDROnJoin bool
	// IDRInterval is the least time between two IDRs forced by joins; 0
	// means 500 ms.
	IDRInterval time.Duration
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Server serves published streams to RTSP viewers. Its methods are safe for
// concurrent use.
type Server struct {
	cfg  Config
	log  *slog.Logger
	rtsp *rtsp.Server

	mu      sync.Mutex
	streams map[string]*Stream
	closed  bool

	ingest ingestState // producer listeners and connections: ingest.go
}

// Errors returned by Server.
var (
	ErrServerClosed  = errors.New("server closed")
	ErrPathInUse     = errors.New("path already has a producer")
	ErrStreamClosed  = errors.New("stream closed")
	errPathMalformed = errors.New("path must start with / and contain no spaces")
)

// NewServer starts listening for RTSP viewers. It returns an error when an
// address cannot be bound (for example, the port is already in use).
func NewServer(cfg Config) (*Server, error) {
	if cfg.RTSPAddress == "" {
		cfg.RTSPAddress = ":8554"
	}
	if cfg.DisableUDP {
		cfg.UDPRTPAddress, cfg.UDPRTCPAddress = "", ""
	} else {
		if cfg.UDPRTPAddress == "" {
			cfg.UDPRTPAddress = ":8000"
		}
		if cfg.UDPRTCPAddress == "" {
			cfg.UDPRTCPAddress = ":8001"
		}
	}
	if cfg.IDRInterval == 0 {
		cfg.IDRInterval = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	rs, err := rtsp.Listen(rtsp.Config{
		Address:        cfg.RTSPAddress,
		UDPRTPAddress:  cfg.UDPRTPAddress,
		UDPRTCPAddress: cfg.UDPRTCPAddress,
		Logger:         cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, log: cfg.Logger, rtsp: rs, streams: make(map[string]*Stream)}, nil
}

// Addr is the address of the RTSP listener.
func (s *Server) Addr() net.Addr { return s.rtsp.Addr() }

// Publish opens a stream on path (e.g. "/cam") for frames of format f. The
// encoder is opened at once; viewers can play rtsp://host:port/path from now
// until the server closes, including while no producer is writing. A path
// has at most one producer at a time: a second Publish on it fails with
// ErrPathInUse until the first Stream is closed.
func (s *Server) Publish(path string, f Format) (*Stream, error) {
	return s.publish(path, f, "the Go API")
}

// publish is Publish for a producer described by owner (e.g. its remote
// address), which is named to a second producer refused on the path.
func (s *Server) publish(path string, f Format, owner string) (*Stream, error) {
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t\r\n?#") || len(path) > 255 {
		return nil, fmt.Errorf("publish %q: %w", path, errPathMalformed)
	}
	f = f.withDefaults()
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("publish %s: %w", path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrServerClosed
	}
	if other, busy := s.streams[path]; busy {
		return nil, fmt.Errorf("publish %s: %w (from %s)", path, ErrPathInUse, other.owner)
	}
	st, err := newStream(s, path, f, owner)
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", path, err)
	}
	s.streams[path] = st
	s.log.Info("stream published", "path", path, "producer", owner, "format", f.PixelFormat.String(),
		"size", fmt.Sprintf("%dx%d", f.Width, f.Height), "fps", f.FPS,
		"bitrate_kbps", st.enc.BitrateKbps, "gop", st.enc.GOP)
	return st, nil
}

func (s *Server) release(st *Stream) {
	s.mu.Lock()
	if s.streams[st.path] == st {
		delete(s.streams, st.path)
	}
	s.mu.Unlock()
}

// Close stops every stream, disconnects every viewer and stops listening. It
// returns when every goroutine the server started has stopped.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	// Producers first, so none publishes again while streams close.
	s.closeIngest()
	s.mu.Lock()
	streams := make([]*Stream, 0, len(s.streams))
	for _, st := range s.streams {
		streams = append(streams, st)
	}
	s.mu.Unlock()
	for _, st := range streams {
		st.Close()
	}
	s.rtsp.Close()
	return nil
}
