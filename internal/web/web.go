// Package web serves framecast over HTTP: a page that lists every stream with
// a live preview, a JSON API (/api/v1/streams, snapshots as JPEG), WebRTC
// previews negotiated WHEP-style, HLS (/PATH/index.m3u8, package hls) and
// Prometheus metrics. It sits beside the
// RTSP fan-out in framecast's flow (source → convert → encode → fan-out): the
// preview reuses each stream's encoded H.264 through Server.AddSink, so a
// browser costs no second encode.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/hls"
	"github.com/framecast/framecast/internal/listen"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configures a Server. The zero value serves WebRTC previews on
// loopback ICE candidates only, at most 16 at once.
type Options struct {
	// RTSPPort is the port shown in the RTSP URLs of the page and the API;
	// 0 means the port of srv.Addr(). Their host is the RTSP listener's
	// address when it is bound to one, else the host the page was asked
	// for, so that the URL works from where the page is viewed.
	RTSPPort int
	// ICEAddresses are the local IP addresses offered to browsers as ICE
	// host candidates; nil means 127.0.0.1 only. No STUN or TURN server is
	// ever asked.
	ICEAddresses []net.IP
	// MaxPreviews bounds the WebRTC previews open at once, those still
	// connecting included; beyond it a new one is answered 503. 0 means 16.
	MaxPreviews int
	// MaxPreviewsPerAddress bounds the previews open at once from one
	// remote IP address (the HTTP client's: behind a reverse proxy, the
	// proxy's), so that one client cannot take every slot; beyond it a new
	// one is answered 429. 0 means 4; a negative value means no bound but
	// MaxPreviews.
	MaxPreviewsPerAddress int
	// ConnectTimeout closes a preview whose browser has not connected (ICE
	// and DTLS up) this long after its offer, and frees its slot: an offer
	// that never connects holds one no longer. 0 means 4 s, ample for ICE
	// over host candidates.
	ConnectTimeout time.Duration
	// Authorize, when set, says whether a request may see path: its entry
	// in the page and the API, its snapshot and its preview. A refused
	// request is answered 401 with a Basic challenge (a browser then asks
	// for a user and password), and the list leaves the path out. nil lets
	// every request see every path, which suits the default loopback
	// listener; framecast's RTSP read credentials (Config.Auth) do not
	// apply here unless Authorize checks them. /metrics leaves out the
	// series of the paths Authorize refuses the scrape, unless
	// MetricsCredentials let it in.
	Authorize func(r *http.Request, path string) bool
	// MetricsCredentials, when set, are the Basic credentials /metrics
	// asks for (any one of them; a Pass may be "sha256:" and the hex
	// SHA-256 of the password, as in framecast.Credentials): without them
	// it answers 401, with them it shows every path. Unset, /metrics
	// answers anyone, with the series of the paths Authorize lets the
	// request see (and the Go runtime's and the process's).
	MetricsCredentials []framecast.Credentials
	// SnapshotTimeout bounds the wait for a stream's picture; 0 means 5 s.
	SnapshotTimeout time.Duration
	// HLS configures the HLS muxers (/PATH/index.m3u8): idle time, limits,
	// segment and part durations. The zero value takes hls's defaults.
	HLS hls.Config
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Server is framecast's HTTP server. Its methods are safe for concurrent use.
type Server struct {
	fc   *framecast.Server
	opts Options
	log  *slog.Logger
	mux  http.Handler // routes, behind refuseAliases
	api  *webrtc.API
	reg  *prometheus.Registry

	rates *rates
	hls   *hls.Server // HLS muxers, one per path watched over HLS

	metricsCreds []credential  // MetricsCredentials, parsed
	refused      refusedCounts // previews refused, by reason
	unconnected  atomic.Uint64 // previews closed for not connecting in time

	mu      sync.Mutex
	closed  bool
	https   map[*http.Server]struct{}
	peers   map[string]*peer // WebRTC previews by id
	counted map[string]*pathCounters

	done chan struct{}  // closed by Close
	wg   sync.WaitGroup // the rate sampler and every peer's goroutines
}

// pathCounters are what the previews of one path have done, kept after
// they close so that the metrics are counters.
type pathCounters struct {
	bytes, dropped, previews atomic.Uint64
}

// New makes a Server for srv's streams. It starts one goroutine, which
// samples the streams' counters once a second for the rates the page shows;
// Close stops it.
func New(srv *framecast.Server, opts Options) (*Server, error) {
	if opts.MaxPreviews <= 0 {
		opts.MaxPreviews = 16
	}
	if opts.MaxPreviewsPerAddress == 0 {
		opts.MaxPreviewsPerAddress = 4
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 4 * time.Second
	}
	if opts.SnapshotTimeout <= 0 {
		opts.SnapshotTimeout = 5 * time.Second
	}
	if len(opts.ICEAddresses) == 0 {
		opts.ICEAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{
		fc: srv, opts: opts, log: opts.Logger,
		https: make(map[*http.Server]struct{}), peers: make(map[string]*peer),
		counted: make(map[string]*pathCounters), done: make(chan struct{}),
	}
	creds, err := parseCredentials(opts.MetricsCredentials)
	if err != nil {
		return nil, fmt.Errorf("web: metrics credentials: %w", err)
	}
	s.metricsCreds = creds
	api, err := newWebRTCAPI(opts.ICEAddresses, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s.api = api
	reg, err := newRegistry(s)
	if err != nil {
		return nil, fmt.Errorf("web: metrics: %w", err)
	}
	s.reg = reg
	s.hls = s.newHLS(opts.HLS)
	reg.MustRegister(hlsCollector{s})
	s.rates = newRates()
	s.mux = refuseAliases(s.withHLS(s.routes()))
	s.wg.Add(1)
	go s.sampleRates()
	return s, nil
}

// Handler is the server's HTTP handler, for tests or to mount it in another
// server. After Close it refuses new previews.
func (s *Server) Handler() http.Handler { return s.mux }

// ListenAndServe listens on addr (e.g. "127.0.0.1:8080") and serves until
// Close. It returns at once with an error when addr cannot be bound.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", addr, err)
	}
	return s.Serve(ln)
}

// Serve serves HTTP on ln until Close, which closes ln; it then returns
// nil. Called after Close, it closes ln and returns ErrClosed.
func (s *Server) Serve(ln net.Listener) error {
	hs := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.https[hs] = struct{}{}
	s.mu.Unlock()
	s.log.Info("http listening", "address", ln.Addr().String())
	s.warnIfOpen(ln.Addr())
	// net/http retries EMFILE too, but logs each retry; this counts them
	// and warns once per interval, like the RTSP and ingest listeners.
	ln = listen.Wrap(ln, listen.Options{Name: "http", Logger: s.log})
	err := hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("http serve %s: %w", ln.Addr(), err)
}

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("web server closed")

// Close stops serving: it closes the listeners, ends the requests in
// flight (after at most a second), closes every WebRTC preview and returns
// when every goroutine the server started has stopped. It does not close
// the framecast.Server.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	https := s.https
	s.https = nil
	peers := make([]*peer, 0, len(s.peers))
	for _, p := range s.peers {
		peers = append(peers, p)
	}
	s.mu.Unlock()
	close(s.done)
	// First, so that HLS requests waiting in a muxer are answered.
	s.hls.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for hs := range https {
		if err := hs.Shutdown(ctx); err != nil {
			hs.Close()
		}
	}
	for _, p := range peers {
		p.close()
	}
	s.wg.Wait()
	return nil
}

// streamInfo returns what Streams says about path.
func (s *Server) streamInfo(path string) (framecast.StreamInfo, bool) {
	for _, in := range s.fc.Streams() {
		if in.Path == path {
			return in, true
		}
	}
	return framecast.StreamInfo{}, false
}
