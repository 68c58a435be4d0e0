package rtsp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/framecast/framecast/internal/listen"
)

// listen is gortsplib's Listen hook: the RTSP listener accepts through a
// listen.Listener, so that running out of descriptors (EMFILE) is retried
// instead of stopping gortsplib's accept loop, and the server, for good.
// Each connection it accepts must send its first request within
// FirstRequestTimeout (firstRequestConn). Its connections write the RTP
// packets of an access unit in one write (coalescingConn).
//
// With a tunnel server (router.go), the connections go through a router
// to the main server or to it: listen is the main server's hook, and
// listenTunnel the tunnel server's.
func (s *Server) listen(network, address string) (net.Listener, error) {
	if err := s.open(network, address); err != nil {
		return nil, err
	}
	l := s.firstRequest(newCoalescingListener(s.ln, s.videos))
	if !s.routed {
		return l, nil
	}
	s.router = newRouter(l)
	return s.router.main, nil
}

func (s *Server) listenTunnel(string, string) (net.Listener, error) {
	if s.router == nil {
		return nil, errors.New("rtsp: the tunnel server has no router")
	}
	return s.router.tunnel, nil
}

// listenTLS is gortsplib's TLSListen hook, listen for RTSPS: the first
// request's deadline covers the TLS handshake and applies to the RTSP
// inside it, and the packets of an access unit are coalesced before TLS
// (one TLS record per 16 KiB instead of one per packet).
func (s *Server) listenTLS(network, address string, config *tls.Config) (net.Listener, error) {
	if err := s.open(network, address); err != nil {
		return nil, err
	}
	return s.firstRequest(newCoalescingListener(tls.NewListener(s.ln, config), s.videos)), nil
}

func (s *Server) open(network, address string) error {
	f := s.cfg.Listen
	if f == nil {
		f = net.Listen
	}
	l, err := f(network, address)
	if err != nil {
		return err
	}
	s.ln = listen.Wrap(l, listen.Options{Name: "rtsp", Logger: s.log})
	return nil
}

func (s *Server) firstRequest(l net.Listener) net.Listener {
	d := s.cfg.FirstRequestTimeout
	if d <= 0 {
		d = DefaultFirstRequestTimeout
	}
	return &firstRequestListener{Listener: l, timeout: d}
}

// watch starts the goroutine that waits for gortsplib to stop and reports
// why on Err unless Close stopped it. Close waits for it.
func (s *Server) watch() {
	s.fatal = make(chan error, 1)
	s.watched = make(chan struct{})
	go func() {
		defer close(s.watched)
		err := s.gs.Wait()
		s.mu.RLock()
		closed := s.closed
		s.mu.RUnlock()
		if !closed {
			s.fatal <- fmt.Errorf("rtsp server on %s stopped: %w", s.ln.Addr(), err)
		}
	}()
}

// Err returns a channel that receives, once, the error that stopped the
// server on its own: its listener failed for good (a temporary accept
// error such as EMFILE is retried, not reported) or gortsplib stopped. The
// server no longer takes viewers then, though Close is still to be called.
// Nothing is sent when Close stops the server.
func (s *Server) Err() <-chan error { return s.fatal }

// AcceptRetries returns how many accepts of the RTSP listener failed with a
// temporary error (out of descriptors, for example) and were retried.
func (s *Server) AcceptRetries() uint64 { return s.ln.Retries() }
