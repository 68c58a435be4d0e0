package rtsp

import (
	"bytes"
	"net"
	"sync"
)

// Viewers that their mount writes to (direct.go) need no write queue of
// gortsplib's but for RTCP, while RTSP over HTTP or WebSocket still goes
// through it, and must hold a 4K IDR whole (DefaultWriteQueueSize, 16 KiB
// a viewer, made when it plays). gortsplib's queue size is its server's.
// So, over plain RTSP, a Server runs two gortsplib servers on one
// listener: the main one, for every viewer over RTSP, with a queue of
// directWriteQueueSize, and the tunnel one, for tunnels, with the full
// queue. A router hands each accepted connection to one of them by its
// first bytes: an HTTP request's (GET or POST: a tunnel's GET or POST,
// or a WebSocket's GET) or an RTSP one's.

// directWriteQueueSize is the write queue of the main gortsplib server's
// viewers when tunnels have a server of their own: their RTP goes around
// it, and their RTCP sender reports come two every 2 s.
const directWriteQueueSize = 16

// routerPendingMax bounds the connections whose first bytes the router
// waits for at once (each has FirstRequestTimeout to send them), so that
// silent connections hold neither memory nor others without bound. Past
// it a connection goes to the main server unread: a tunnel opens there
// too, but with the main server's queue of directWriteQueueSize, which an
// access unit of more packets overflows (the viewer is then dropped as
// too slow).
var routerPendingMax = 1024 // a variable for tests

// tunnelPeek is how many first bytes tell an HTTP request from an RTSP
// one: "GET " and "POST" begin the first; no RTSP method does.
const tunnelPeek = 4

// isHTTP reports whether head begins an HTTP request that opens a tunnel.
func isHTTP(head []byte) bool {
	return bytes.HasPrefix(head, []byte("GET ")) || bytes.HasPrefix(head, []byte("POST"))
}

// router accepts the connections of l, firstRequestConns, and hands each
// to main or tunnel. Its goroutine, and one per connection while its first
// bytes are awaited, stop when l is closed (by main's Close); wait waits
// for them.
type router struct {
	l            net.Listener
	main, tunnel *routedListener
	done         chan struct{} // closed when l's Accept failed for good
	err          error         // why, read after done

	mu      sync.Mutex
	pending map[net.Conn]struct{} // awaiting their first bytes
	wg      sync.WaitGroup
}

// routedListener is the listener of one of the router's gortsplib servers.
type routedListener struct {
	r      *router
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	main   bool // its Close closes the router's listener
}

func newRouter(l net.Listener) *router {
	r := &router{l: l, done: make(chan struct{}), pending: map[net.Conn]struct{}{}}
	r.main = &routedListener{r: r, conns: make(chan net.Conn), closed: make(chan struct{}), main: true}
	r.tunnel = &routedListener{r: r, conns: make(chan net.Conn), closed: make(chan struct{})}
	r.wg.Go(r.run)
	return r
}

func (r *router) run() {
	defer func() {
		r.mu.Lock()
		for c := range r.pending {
			c.Close() // its peek returns
		}
		r.mu.Unlock()
	}()
	for {
		c, err := r.l.Accept()
		if err != nil {
			r.err = err
			close(r.done)
			return
		}
		fc, ok := c.(*firstRequestConn)
		r.mu.Lock()
		full := len(r.pending) >= routerPendingMax
		if ok && !full {
			r.pending[c] = struct{}{}
		}
		r.mu.Unlock()
		if !ok || full {
			r.deliver(r.main, c)
			continue
		}
		r.wg.Go(func() { r.route(fc) })
	}
}

// route reads c's first bytes and hands it on; a connection that sends
// fewer before its first request's deadline is closed, as it would be.
func (r *router) route(c *firstRequestConn) {
	head, err := c.peek(tunnelPeek)
	r.mu.Lock()
	delete(r.pending, c)
	r.mu.Unlock()
	if err != nil {
		c.Close()
		return
	}
	to := r.main
	if isHTTP(head) {
		to = r.tunnel
	}
	r.deliver(to, c)
}

// deliver hands c to l's server, or closes it if l or the router is
// closed.
func (r *router) deliver(l *routedListener, c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.closed:
		c.Close()
	case <-r.done:
		c.Close()
	}
}

// wait waits for the router's goroutines, once its listener is closed.
func (r *router) wait() { r.wg.Wait() }

func (l *routedListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.r.done:
		return nil, l.r.err
	}
}

// Close stops l's Accept; the main one's closes the router's listener too.
func (l *routedListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.closed)
		if l.main {
			err = l.r.l.Close()
		}
	})
	return err
}

func (l *routedListener) Addr() net.Addr { return l.r.l.Addr() }
