package rtsp

import (
	"net"
	"sync/atomic"
	"time"
)

// DefaultFirstRequestTimeout is the time a new RTSP connection has to send
// its first request when Config.FirstRequestTimeout is 0.
const DefaultFirstRequestTimeout = 5 * time.Second

// firstRequestListener makes every connection it accepts a firstRequestConn.
type firstRequestListener struct {
	net.Listener
	timeout time.Duration
}

func (l *firstRequestListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newFirstRequestConn(c, time.Now().Add(l.timeout)), nil
}

// firstRequestConn is a connection that must have sent a whole first
// request by a deadline. gortsplib reads a new connection's first bytes
// without a deadline, and then skips bytes that do not start a request for
// as long as its idle timeout (60 s) whenever they come: silence, garbage
// or a request that never ends would hold the connection for a minute, or
// for ever. Until the server first writes to the connection (an RTSP
// response, or the HTTP answer that opens a tunnel: either comes only once a
// request has been read), no read deadline set on it goes past the first
// request's, so gortsplib's read fails then and it closes the connection.
// From the first write on it is the connection it wraps.
type firstRequestConn struct {
	net.Conn
	deadline time.Time
	answered atomic.Bool
	head     []byte // read by peek, not yet by Read
}

func newFirstRequestConn(c net.Conn, deadline time.Time) *firstRequestConn {
	// For gortsplib's first read, which sets no deadline. A connection
	// whose deadline cannot be set is closed by its first read.
	c.SetReadDeadline(deadline) //nolint:errcheck
	return &firstRequestConn{Conn: c, deadline: deadline}
}

// peek reads the connection's first n bytes, before its first request's
// deadline, and keeps them for Read. It is called before the connection
// is handed on, by one goroutine.
func (c *firstRequestConn) peek(n int) ([]byte, error) {
	for len(c.head) < n {
		if c.head == nil {
			c.head = make([]byte, 0, n)
		}
		k, err := c.Conn.Read(c.head[len(c.head):n])
		c.head = c.head[:len(c.head)+k]
		if err != nil {
			return c.head, err
		}
	}
	return c.head, nil
}

func (c *firstRequestConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		if c.head = c.head[n:]; len(c.head) == 0 {
			c.head = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *firstRequestConn) Write(p []byte) (int, error) {
	if !c.answered.Load() {
		c.answered.Store(true)
	}
	return c.Conn.Write(p)
}

func (c *firstRequestConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.bound(t))
}

func (c *firstRequestConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(c.bound(t))
}

// bound is t, or the first request's deadline if t is later and nothing
// was answered yet.
func (c *firstRequestConn) bound(t time.Time) time.Time {
	if !c.answered.Load() && (t.IsZero() || t.After(c.deadline)) {
		return c.deadline
	}
	return t
}

// silent reports whether nothing was ever written to the connection: it
// sent no request that was answered.
func (c *firstRequestConn) silent() bool { return !c.answered.Load() }
