// Package rtsp serves encoded H.264 streams to RTSP viewers through gortsplib.
// It is the fan-out step of framecast's pipeline (source → convert → encode →
// fan-out): the encoder hands each access unit to a Mount once; the Mount
// writes it to its viewers over plain TCP and unicast UDP itself, one
// writev or UDP_SEGMENT sendmsg per viewer (direct.go), and gortsplib
// writes it to the others (multicast, RTSPS, tunnels), with RTCP sender
// reports for all.
package rtsp

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"

	"github.com/framecast/framecast/internal/listen"
)

// DefaultWriteQueueSize is the number of RTP packets queued per viewer when
// Config.WriteQueueSize is 0. An access unit's packets go into the queue at
// once, so it must hold the largest: a 4K IDR at framecast's own bitrate is
// several hundred packets, more than gortsplib's default of 256, which
// dropped every 4K TCP viewer as too slow at its first IDR. 1024 holds an
// IDR of 1.4 MB; each slot costs a viewer 16 bytes. Plain TCP and UDP
// viewers, written to by their mount, use a queue only for RTCP: over
// plain RTSP their gortsplib server's is directWriteQueueSize, and
// tunnelled viewers have this one on a server of their own (router.go).
const DefaultWriteQueueSize = 1024

// Config configures a Server.
type Config struct {
	// Address is the RTSP TCP listen address, e.g. ":8554".
	Address string
	// UDPRTPAddress and UDPRTCPAddress are the UDP listen addresses for RTP
	// and RTCP (an even port and the next one). Both empty disables UDP.
	UDPRTPAddress  string
	UDPRTCPAddress string
	// DisableTCP refuses RTP over the RTSP connection (interleaved) with 461
	// Unsupported Transport.
	DisableTCP bool
	// MulticastIPRange (e.g. "224.1.0.0/16") enables UDP multicast: each
	// path gets the next group of the range, and RTP and RTCP go to
	// MulticastRTPPort and MulticastRTCPPort (an even port and the next).
	// Empty disables multicast.
	MulticastIPRange                    string
	MulticastRTPPort, MulticastRTCPPort int
	// TLSConfig makes the server speak RTSPS (RTSP over TLS) only; UDP then
	// carries SRTP, and TCP-interleaved RTP is inside the TLS connection.
	TLSConfig *tls.Config
	// MaxViewers and MaxViewersPerPath bound the viewer sessions, in total
	// and per path; beyond them SETUP is answered 503 Service Unavailable.
	// 0 means no limit.
	MaxViewers, MaxViewersPerPath int
	// ReadCredentials returns the credentials that may read path; none
	// means anyone may. It must be safe for concurrent use.
	ReadCredentials func(path string) []Credential
	// OnAuthFailure is called when a viewer presents wrong credentials.
	OnAuthFailure func(remote net.Addr, path, user string)
	// DisableGSO sends each RTP packet to a UDP viewer in a datagram of its
	// own, instead of an access unit's packets in one UDP_SEGMENT send.
	DisableGSO bool
	// DisableDirectTCP makes plain TCP viewers go through gortsplib's
	// write queue, as RTSPS and tunnelled ones do, rather than be written
	// to by their mount (direct.go). For measuring.
	DisableDirectTCP bool
	// DisableDirectUDP does the same for UDP viewers: gortsplib queues
	// their packets for the RTP socket (gsoConn). For measuring.
	DisableDirectUDP bool
	// WriteQueueSize is the number of packets queued per viewer that
	// gortsplib writes to (a power of two); 0 means DefaultWriteQueueSize.
	WriteQueueSize int
	Logger         *slog.Logger
	// Listen opens the RTSP TCP listener; nil means net.Listen. Accept
	// goes through a listen.Listener either way.
	Listen func(network, address string) (net.Listener, error)
	// FirstRequestTimeout is the time a new connection has to send its
	// first whole request (RTSP, or the HTTP request that opens a tunnel;
	// over RTSPS, the TLS handshake included) before it is closed; 0 means
	// DefaultFirstRequestTimeout. Later requests have gortsplib's idle
	// timeout (60 s).
	FirstRequestTimeout time.Duration
}

// Server is an RTSP server with one Mount per path.
type Server struct {
	cfg    Config
	log    *slog.Logger
	gs     *gortsplib.Server
	gt     *gortsplib.Server // the tunnel server, nil unless routed (router.go)
	routed bool              // tunnels have a server of their own
	router *router           // set by listen when routed
	adm    admission
	videos *videoRegistry // the mounts' video, for the connection wrappers (joingate.go)
	udp    *gsoConn       // the UDP viewers' RTP socket, nil without UDP; set by listenPacket in Listen

	ln      *listen.Listener // the RTSP listener: lifecycle.go
	fatal   chan error       // Err
	watched chan struct{}    // closed when the Wait watcher returns

	mu     sync.RWMutex
	mounts map[string]*Mount
	closed bool
}

// Listen starts an RTSP server. It returns an error when an address cannot be bound.
func Listen(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mounts: make(map[string]*Mount), videos: newVideoRegistry(), adm: admission{
		sessions: make(map[*gortsplib.ServerSession]string),
		perPath:  make(map[string]int),
	}}
	// Tunnels get a server of their own (router.go) unless every viewer
	// goes through gortsplib's queue anyway (RTSPS, DisableDirectTCP or
	// DisableDirectUDP), or the listener is the caller's (its connections
	// may not be TCP ones a mount can write to).
	s.routed = cfg.TLSConfig == nil && cfg.Listen == nil && !cfg.DisableDirectTCP && !cfg.DisableDirectUDP
	queue := cmp.Or(cfg.WriteQueueSize, DefaultWriteQueueSize)
	mainQueue := queue
	if s.routed {
		mainQueue = directWriteQueueSize
	}
	main := &handler{Server: s}
	s.gs = &gortsplib.Server{
		Handler:           main,
		RTSPAddress:       cfg.Address,
		UDPRTPAddress:     cfg.UDPRTPAddress,
		UDPRTCPAddress:    cfg.UDPRTCPAddress,
		MulticastIPRange:  cfg.MulticastIPRange,
		MulticastRTPPort:  cfg.MulticastRTPPort,
		MulticastRTCPPort: cfg.MulticastRTCPPort,
		TLSConfig:         cfg.TLSConfig,
		WriteQueueSize:    mainQueue,
		Listen:            s.listen,
		ListenPacket:      s.listenPacket,
	}
	main.gs = s.gs
	if cfg.TLSConfig != nil {
		s.gs.TLSListen = s.listenTLS
	}
	if cfg.MulticastIPRange == "" {
		s.gs.MulticastRTPPort, s.gs.MulticastRTCPPort = 0, 0
	}
	if err := s.gs.Start(); err != nil {
		return nil, fmt.Errorf("rtsp listen %s: %w", cfg.Address, err)
	}
	if s.routed {
		tunnel := &handler{Server: s, tunnel: true}
		s.gt = &gortsplib.Server{Handler: tunnel, RTSPAddress: cfg.Address, WriteQueueSize: queue, Listen: s.listenTunnel}
		tunnel.gs = s.gt
		if err := s.gt.Start(); err != nil {
			s.gs.Close()
			s.router.wait()
			return nil, fmt.Errorf("rtsp tunnel server: %w", err)
		}
	}
	s.watch()
	return s, nil
}

// Addr is the address the RTSP listener is bound to.
func (s *Server) Addr() net.Addr {
	return s.gs.NetListener().Addr()
}

// ErrClosed is returned by Mount when the server is closed.
var ErrClosed = errors.New("rtsp server closed")

// Mount returns the mount for path ("/cam"), creating it with the given
// H.264 parameter sets if it does not exist. An existing mount keeps its viewers
// and takes the new parameter sets.
func (s *Server) Mount(path string, sps, pps []byte) (*Mount, error) {
	return s.MountWith(path, sps, pps, MountConfig{})
}

// MountWith is Mount with c for a new mount; an existing mount keeps the
// configuration it was made with.
func (s *Server) MountWith(path string, sps, pps []byte, c MountConfig) (*Mount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if m, ok := s.mounts[path]; ok {
		m.SetParams(sps, pps)
		return m, nil
	}
	m, err := newMount(s.gs, s.gt, s.videos, path, sps, pps, c)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", path, err)
	}
	m.log = s.log
	s.mounts[path] = m
	return m, nil
}

func (s *Server) lookup(path string) *Mount {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mounts[path]
}

// Close disconnects every viewer and stops the server. It returns when all
// of gortsplib's goroutines have stopped.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	mounts := s.mounts
	s.mounts = nil
	s.mu.Unlock()
	// gortsplib first: a stream closed while a session sets up is a data
	// race in gortsplib (a SETUP writes the session's transport after it
	// joins the stream, without the stream's lock, and Close reads it).
	if s.gt != nil {
		s.gt.Close()
	}
	s.gs.Close() // and the router's listener
	if s.router != nil {
		s.router.wait()
	}
	for _, m := range mounts {
		m.close()
	}
	<-s.watched
}

// handler implements gortsplib's server callbacks, for the main server or
// the tunnel server.
type handler struct {
	*Server
	gs     *gortsplib.Server // the server it handles
	tunnel bool              // the tunnel server's: its viewers are on the mounts' tunnel streams
}

// queued is m's stream on h's server whose packets gortsplib queues for
// its viewers.
func (h *handler) queued(m *Mount) *gortsplib.ServerStream {
	if h.tunnel {
		return m.tunnel
	}
	return m.stream
}

func notFound(path string) *base.Response {
	return &base.Response{
		StatusCode: base.StatusNotFound,
		Header:     base.Header{"Content-Type": base.HeaderValue{"text/plain"}},
		Body:       []byte(fmt.Sprintf("no stream is published on %s\n", path)),
	}
}

func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res := h.checkPath(ctx.Conn, ctx.Request, ctx.Path, true); res != nil {
		return res, nil, nil
	}
	if res, err := h.authorize(ctx.Conn, ctx.Request, ctx.Path); res != nil {
		return res, nil, err
	}
	m := h.lookup(ctx.Path)
	if m == nil {
		h.log.Info("describe of unknown path", "path", ctx.Path, "remote", ctx.Conn.NetConn().RemoteAddr())
		return notFound(ctx.Path), nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, h.queued(m), nil
}

// OnSetup checks, in this order, that the path is canonical, the
// credentials, that the path is served, the transport and the viewer limits.
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res := h.checkPath(ctx.Conn, ctx.Request, ctx.Path, false); res != nil {
		return res, nil, nil
	}
	if res, err := h.authorize(ctx.Conn, ctx.Request, ctx.Path); res != nil {
		return res, nil, err
	}
	m := h.lookup(ctx.Path)
	if m == nil {
		return notFound(ctx.Path), nil, nil
	}
	if res := h.checkTransport(ctx.Transport); res != nil {
		return res, nil, nil
	}
	if res := h.admit(ctx.Session, ctx.Path); res != nil {
		return res, nil, nil
	}
	if ctx.Transport != nil && ctx.Transport.Protocol == gortsplib.ProtocolUDP {
		rememberUDPPorts(ctx.Session, ctx.Conn.NetConn().RemoteAddr(), ctx.Request)
	}
	m.gate.enter(ctx.Session)
	if ex, ok := ctx.Conn.UserData().(*exchange); ok {
		ex.gate, ex.session = &m.gate, ctx.Session // left when the SETUP is answered
	}
	return &base.Response{StatusCode: base.StatusOK}, h.streamFor(m, ctx), nil
}

// streamFor is the stream a SETUP of m joins: its direct stream, written
// by the mount (direct.go), over TCP or unicast UDP with a plain RTSP
// connection; gortsplib's otherwise. A session keeps the stream of its
// first SETUP.
func (h *handler) streamFor(m *Mount, ctx *gortsplib.ServerHandlerOnSetupCtx) *gortsplib.ServerStream {
	if h.tunnel {
		return m.tunnel
	}
	if st := ctx.Session.Stream(); st == m.stream || st == m.direct.stream {
		return st
	}
	if ctx.Transport == nil || ctx.Conn.Transport().Tunnel != gortsplib.TunnelNone { // a WebSocket tunnel frames what it carries
		return m.stream
	}
	switch ctx.Transport.Protocol {
	case gortsplib.ProtocolTCP:
		if h.cfg.DisableDirectTCP {
			return m.stream
		}
	case gortsplib.ProtocolUDP:
		if h.cfg.DisableDirectUDP || h.udp == nil || ctx.Transport.Profile != headers.TransportProfileAVP {
			return m.stream
		}
	default:
		return m.stream
	}
	if cc := coalescingOf(ctx.Conn.NetConn()); cc != nil && cc.startDirect(h.gs.WriteTimeout) {
		return m.direct.stream
	}
	return m.stream
}

func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	if res := h.checkPlayPath(ctx); res != nil {
		return res, nil
	}
	m := h.lookup(ctx.Path)
	if m == nil {
		return notFound(ctx.Path), nil
	}
	m.gate.leave(ctx.Session) // left already, unless the SETUP's answer was missed
	if ctx.Session.Stream() == m.direct.stream {
		if res := h.playDirect(m, ctx); res != nil {
			return res, nil
		}
	} else {
		m.viewerJoined(ctx.Session)
	}
	h.log.Info("viewer playing", "path", ctx.Path, "remote", ctx.Conn.NetConn().RemoteAddr(),
		"transport", ctx.Session.Transport().Protocol)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnPause lets a viewer pause (ffplay's space key sends PAUSE): gortsplib
// stops sending to it, and it no longer counts as a viewer until it plays
// again, when it is answered as a joining viewer (an IDR at once, and
// nothing before it). The stream is live: it resumes at the present.
func (h *handler) OnPause(ctx *gortsplib.ServerHandlerOnPauseCtx) (*base.Response, error) {
	if h.udp != nil {
		h.udp.closeGates(udpPortsOf(ctx.Session))
	}
	m := h.lookup(ctx.Session.Path())
	if m != nil && ctx.Session.Stream() == m.direct.stream {
		h.stopDirect(m, ctx.Session)
		if cc := coalescingOf(ctx.Conn.NetConn()); cc != nil {
			cc.pause()
		}
	}
	if m != nil && m.viewerLeft(ctx.Session) {
		h.log.Info("viewer paused", "path", m.path, "remote", ctx.Conn.NetConn().RemoteAddr(), "viewers", m.Viewers())
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.release(ctx.Session)
	m := h.lookup(ctx.Session.Path())
	if m != nil {
		m.gate.leave(ctx.Session)
		h.stopDirect(m, ctx.Session)
	}
	if m != nil && m.viewerLeft(ctx.Session) {
		h.log.Info("viewer left", "path", m.path, "viewers", m.Viewers(), "reason", ctx.Error)
	}
}

// OnStreamWriteError is called when a viewer's write queue is full. Over
// TCP the viewer does not read as fast as the stream goes: it is
// disconnected, so it neither grows memory nor slows the encoder or other
// viewers. Over UDP nothing waits for the viewer (the datagrams go out
// whether or not it reads them), so a full queue means the server fell
// behind sending, on a machine short of CPU: the packet is dropped and
// counted, as UDP loses packets, and the viewer stays, as gst-rtsp-server's
// and mediamtx's do.
func (h *handler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	m := h.lookup(ctx.Session.Path())
	if t := ctx.Session.Transport(); t != nil && t.Protocol != gortsplib.ProtocolTCP {
		if m == nil {
			return
		}
		m.droppedUDP(1, "queue", h.gs.WriteQueueSize, "error", ctx.Error)
		return
	}
	ctx.Session.Close()
	if m != nil && m.dropSlow(ctx.Session) {
		remote := ""
		if conns := ctx.Session.Conns(); len(conns) > 0 {
			remote = conns[0].NetConn().RemoteAddr().String()
		}
		h.log.Warn("viewer too slow, disconnected", "path", m.path, "remote", remote,
			"queue", h.gs.WriteQueueSize, "slow_viewers", m.SlowViewers(), "error", ctx.Error)
	}
}

// Unmount removes m from the server and disconnects its viewers: its path
// is no longer served (DESCRIBE answers 404) until Mount creates it again.
func (s *Server) Unmount(m *Mount) {
	s.mu.Lock()
	if s.mounts[m.path] == m {
		delete(s.mounts, m.path)
	}
	s.mu.Unlock()
	m.OnViewerJoin(nil)
	m.close()
}

// playDirect makes the mount write to the viewer playing in ctx once the
// PLAY is answered: over TCP on the channels its SETUPs were answered
// with, over UDP to the client ports they were answered with, at the
// address of its connection (as gortsplib sends). It returns an error
// response when those are not known.
func (h *handler) playDirect(m *Mount, ctx *gortsplib.ServerHandlerOnPlayCtx) *base.Response {
	cc := coalescingOf(ctx.Conn.NetConn())
	var sh headers.Session
	if cc == nil || sh.Unmarshal(ctx.Request.Header["Session"]) != nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}
	}
	medias, channels := ctx.Session.Medias(), cc.channels(sh.Session)
	if len(channels) != len(medias) {
		h.log.Warn("play without the channels of its setups", "path", m.path, "medias", len(medias), "channels", len(channels))
		return &base.Response{StatusCode: base.StatusInternalServerError}
	}
	v := &directViewer{ss: ctx.Session, conn: cc, audio: -1}
	var ip netip.Addr
	if t := ctx.Session.Transport(); t != nil && t.Protocol == gortsplib.ProtocolUDP {
		ta, ok := cc.RemoteAddr().(*net.TCPAddr)
		if !ok || h.udp == nil {
			return &base.Response{StatusCode: base.StatusInternalServerError}
		}
		v.udp, ip = h.udp, ta.AddrPort().Addr()
	}
	for i, md := range medias {
		var to netip.AddrPort
		if v.udp != nil {
			to = unmapped(netip.AddrPortFrom(ip, uint16(channels[i])))
		}
		switch {
		case md == m.media && v.udp != nil:
			v.videoTo = to
		case md == m.media:
			v.video = byte(channels[i])
		case m.audio != nil && md == m.audio.Media && v.udp != nil:
			v.audioTo = to
		case m.audio != nil && md == m.audio.Media:
			v.audio = channels[i]
		}
	}
	m.direct.add(v)
	ss := ctx.Session
	cc.playNext(func() { m.viewerJoined(ss) })
	return nil
}

// stopDirect stops the mount's writes to ss, and counts and logs it as
// too slow if it was.
func (h *handler) stopDirect(m *Mount, ss *gortsplib.ServerSession) {
	if m.direct.remove(ss) && m.dropSlow(ss) {
		h.log.Warn("viewer too slow, disconnected", "path", m.path, "backlog_max", directBacklogMax,
			"slow_viewers", m.SlowViewers())
	}
}

// coalescingOf is the coalescingConn under a gortsplib connection's
// net.Conn, nil for one that is not (an HTTP tunnel's).
func coalescingOf(c net.Conn) *coalescingConn {
	if f, ok := c.(*firstRequestConn); ok {
		c = f.Conn
	}
	cc, _ := c.(*coalescingConn)
	return cc
}
