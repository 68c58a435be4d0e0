// Package hls serves framecast's streams as HLS: Low-Latency HLS with fMP4
// parts and segments (gohlslib's muxer) that also plays as plain HLS. It is
// a transport beside the RTSP fan-out in framecast's flow (source → convert
// → encode → fan-out): a muxer takes the H.264 access units a stream has
// already encoded, through a Source such as framecast.Server.AddSink, so
// HLS costs no second encode; with Config.SilentAudio, it adds a silent
// AAC-LC track timed by them. Muxers are made on demand, one per path, when
// a playlist is first asked for, and closed after a time without requests.
// The package knows nothing of framecast's server: it takes access units
// and answers HTTP requests.
package hls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sink receives a stream's encoded access units: NAL units without start
// codes, valid only during the call, and the presentation time, which never
// goes backwards. It runs on the stream's encoder goroutine and does not
// block.
type Sink = func(au [][]byte, pts time.Duration, capture time.Time)

// Source attaches sink to path's access units, starting with an IDR (with
// SPS and PPS in-band), until remove is called. framecast.Server.AddSink is
// one.
type Source func(path string, sink Sink) (remove func(), err error)

// Defaults of Config.
const (
	DefaultIdleTimeout        = 30 * time.Second
	DefaultMaxMuxers          = 16
	DefaultSegmentCount       = 7 // Low-Latency HLS's least
	DefaultSegmentMinDuration = time.Second
	DefaultPartMinDuration    = 200 * time.Millisecond
	DefaultSegmentMaxSize     = 32 << 20
	DefaultStartTimeout       = 15 * time.Second
	DefaultQueueLen           = 64
	DefaultMaxRequests        = 256
)

// Config configures a Server; the zero value takes every default.
type Config struct {
	// IdleTimeout closes a muxer that has had no request this long, and
	// detaches it from its stream (which stops encoding if nobody else
	// watches). Requests still waiting in it (blocking playlist reloads)
	// are then answered. 0 means 30 s.
	IdleTimeout time.Duration
	// MaxMuxers bounds the muxers open at once (one per path watched over
	// HLS); a request that would open one more is answered 503 and
	// counted in Stats.Refused. 0 means 16.
	MaxMuxers int
	// MaxRequests bounds the requests in flight in one muxer (players
	// hold one or two; blocking reloads wait up to a part's duration); one
	// more is answered 503. 0 means 256.
	MaxRequests int
	// SegmentCount is the number of segments each muxer keeps, its memory
	// bound: SegmentCount segments plus the one being written. 0 means 7,
	// the least Low-Latency HLS allows.
	SegmentCount int
	// SegmentMinDuration is the least duration of a segment: a segment
	// ends at the first IDR this long after it began. With Timing, a
	// path's segments last at least its GOP. 0 means 1 s.
	SegmentMinDuration time.Duration
	// PartMinDuration is the least duration of a Low-Latency HLS part,
	// rounded up by the muxer to a whole number of frames. 0 means 200 ms.
	PartMinDuration time.Duration
	// SegmentMaxSize bounds one segment's bytes. 0 means 32 MiB.
	SegmentMaxSize uint64
	// StartTimeout bounds the wait of the first playlist requests for the
	// muxer's first segment (a GOP or two); past it they are answered 503.
	// It is at least two segment durations and a second. 0 means 15 s.
	StartTimeout time.Duration
	// QueueLen is the number of access units queued for one muxer
	// between the encoder and the muxer's goroutine. When full, access
	// units are dropped and counted up to the next IDR, which is asked
	// for. 0 means 64.
	QueueLen int
	// RequestIDR, when set, asks path's encoder for an IDR, after a drop.
	RequestIDR func(path string) error
	// Timing, when set, is path's nominal frame rate and GOP (frames
	// between IDRs), read when its muxer opens. Presentation times within
	// a quarter frame of the rate's grid are put on it, so that a
	// producer's timing jitter does not make parts of uneven length; and
	// segments last at least a GOP, so that the first one (from the IDR
	// the muxer's join asks for) is no shorter than the next: the
	// playlist's target duration must not grow (iOS refuses it).
	Timing func(path string) (fps float64, gop int)
	// Exists, when set, says whether path still has a stream; a muxer
	// checks it every second and closes when its path is gone.
	Exists func(path string) bool
	// SilentAudio, when set, says whether path's stream has a silent
	// audio track, read when its muxer opens: true adds the silent AAC-LC
	// track of package silence (48 kHz stereo), timed by the video, as an
	// audio rendition beside it.
	SilentAudio func(path string) bool
	// Logger receives the muxers' logs; nil means slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.SegmentMinDuration, DefaultSegmentMinDuration)
	def(&c.PartMinDuration, DefaultPartMinDuration)
	def(&c.StartTimeout, DefaultStartTimeout)
	if c.MaxMuxers <= 0 {
		c.MaxMuxers = DefaultMaxMuxers
	}
	if c.MaxRequests <= 0 {
		c.MaxRequests = DefaultMaxRequests
	}
	if c.SegmentCount < DefaultSegmentCount {
		c.SegmentCount = DefaultSegmentCount
	}
	if c.SegmentMaxSize == 0 {
		c.SegmentMaxSize = DefaultSegmentMaxSize
	}
	if c.QueueLen <= 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Stats are a Server's counters.
type Stats struct {
	Requests uint64 // HLS requests answered, refused ones included
	Open     int    // muxers open now
	Opened   uint64 // muxers opened
	Refused  uint64 // requests refused for MaxMuxers or MaxRequests
	Dropped  uint64 // access units dropped because a muxer was behind
}

// ErrClosed is what a request gets after Close, as 503.
var ErrClosed = errors.New("hls server closed")

// Server holds the muxers of every path. Its methods are safe for
// concurrent use.
type Server struct {
	src Source
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	closed bool
	muxers map[string]*muxer

	requests, opened, refused, dropped atomic.Uint64

	wg sync.WaitGroup // every muxer's goroutine
}

// New makes a Server taking the streams' access units from src. It starts
// no goroutine until a muxer is opened.
func New(src Source, cfg Config) *Server {
	cfg = cfg.withDefaults()
	return &Server{src: src, cfg: cfg, log: cfg.Logger, muxers: make(map[string]*muxer)}
}

// IsFile reports whether name, the last element of a URL path, is one of
// the files a muxer serves: index.m3u8 (the multivariant playlist), the
// media playlist, the init file, segments and parts (*.m3u8, *.mp4).
func IsFile(name string) bool {
	return name != "" && !strings.Contains(name, "/") && (strings.HasSuffix(name, ".m3u8") || strings.HasSuffix(name, ".mp4"))
}

// ServeHTTP answers r, a request for path's file named by the last element
// of r.URL.Path (IsFile), from path's muxer, which a playlist request opens
// when there is none. The caller has checked path and the request's
// credentials.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request, streamPath string) {
	s.requests.Add(1)
	name := path.Base(r.URL.Path)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	playlist := strings.HasSuffix(name, ".m3u8")
	m, err := s.muxer(r.Context(), streamPath, playlist)
	switch {
	case errors.Is(err, errNoMuxer):
		http.Error(w, "no HLS session on "+streamPath+": ask for "+streamPath+"/index.m3u8 first", http.StatusNotFound)
		return
	case errors.Is(err, errNoStream):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case errors.Is(err, errTooMany), errors.Is(err, ErrClosed):
		w.Header().Set("Retry-After", "5")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	case err != nil: // the request's context ended
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	m.serve(w, r, name, playlist)
}

// Errors of muxer.
var (
	errNoMuxer  = errors.New("no muxer")
	errNoStream = errors.New("no stream")
	errTooMany  = errors.New("too many HLS sessions open")
)

// muxer returns path's muxer, opening it when open is set and there is
// none.
func (s *Server) muxer(ctx context.Context, streamPath string, open bool) (*muxer, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	m := s.muxers[streamPath]
	if m == nil {
		if !open {
			s.mu.Unlock()
			return nil, errNoMuxer
		}
		if len(s.muxers) >= s.cfg.MaxMuxers {
			s.mu.Unlock()
			s.refused.Add(1)
			s.log.Debug("hls session refused", "path", streamPath, "max_muxers", s.cfg.MaxMuxers)
			return nil, fmt.Errorf("%w: at most %d paths at once", errTooMany, s.cfg.MaxMuxers)
		}
		m = newMuxer(s, streamPath)
		s.muxers[streamPath] = m
		s.wg.Add(1)
		s.mu.Unlock()
		// The source's lock is taken outside s.mu; requests for the
		// same path wait for m.started.
		m.start()
	} else {
		s.mu.Unlock()
	}
	select {
	case <-m.started:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if m.startErr != nil {
		return nil, m.startErr
	}
	return m, nil
}

// forget removes m from the muxers when it is still path's.
func (s *Server) forget(m *muxer) {
	s.mu.Lock()
	if s.muxers[m.path] == m {
		delete(s.muxers, m.path)
	}
	s.mu.Unlock()
}

// Drop closes path's muxer, if any: its stream is gone. Requests in it are
// answered; the next playlist request opens a new one.
func (s *Server) Drop(streamPath string) {
	s.mu.Lock()
	m := s.muxers[streamPath]
	s.mu.Unlock()
	if m != nil {
		m.close()
	}
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	open := len(s.muxers)
	s.mu.Unlock()
	return Stats{
		Requests: s.requests.Load(), Open: open, Opened: s.opened.Load(),
		Refused: s.refused.Load(), Dropped: s.dropped.Load(),
	}
}

// Close closes every muxer, answering the requests waiting in them, and
// returns when their goroutines have stopped. Requests after Close are
// answered 503.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	ms := make([]*muxer, 0, len(s.muxers))
	for _, m := range s.muxers {
		ms = append(ms, m)
	}
	s.mu.Unlock()
	for _, m := range ms {
		m.close()
	}
	s.wg.Wait()
}
