package rtsp

import (
	"bytes"
	"net"
	"sync"
	"time"
)

// coalesceLimit bounds the bytes a coalescingConn holds before it writes
// them: an access unit larger than this (an IDR, and many a P frame of
// 720p at 2 Mbit/s, 8 KiB on average) goes out in several writes. Every
// viewer holds up to this much at once while an access unit is fanned out,
// and the buffers stay in the pool until a GC or two: 8 KiB keeps it to
// about 10 KiB per viewer (measured, docs/benchmarks.md) for one or two
// writes per frame instead of one per packet.
const coalesceLimit = 8 << 10

// coalesceStart is the capacity a new buffer starts with; it grows up to
// coalesceLimit (and the packet that ends it) as access units need.
const coalesceStart = 2 << 10

// coalescingListener makes every connection it accepts a coalescingConn.
// Its connections share the buffers they hold bytes in: a connection takes
// one at the first packet of an access unit and gives it back at the last,
// so a viewer holds no buffer between frames.
type coalescingListener struct {
	net.Listener
	bufs *sync.Pool   // of *[]byte
	idr  *idrRegistry // for the connections' join gates
}

func newCoalescingListener(l net.Listener, idr *idrRegistry) *coalescingListener {
	return &coalescingListener{Listener: l, idr: idr, bufs: &sync.Pool{New: func() any {
		b := make([]byte, 0, coalesceStart)
		return &b
	}}}
}

func (l *coalescingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &coalescingConn{Conn: c, bufs: l.bufs, idr: l.idr}, nil
}

// coalescingConn writes the RTP packets of one access unit to a viewer in
// one write instead of one write (a system call, and over RTSPS a TLS
// record) per packet. gortsplib writes an RTP packet interleaved in the
// RTSP connection (RFC 2326 §10.12: '$', channel, 16-bit length, packet) in
// one Write call, and the packets of an access unit one after the other,
// the last with the RTP marker bit set. coalescingConn copies such a
// packet and returns; it writes what it holds, with the packet, at a packet
// with the marker bit, at an RTCP packet, and before it would hold more
// than coalesceLimit bytes. Anything else (RTSP responses, the HTTP answer
// of a tunnel, a Write that is not exactly one interleaved packet) is
// written at once, after what is held. Nothing is held past the last
// packet of an access unit, so coalescing adds no latency and needs no
// timer.
//
// A new connection's video packets are dropped until the first packet of
// an IDR (joinGate), and so are those after each PLAY's response (one with
// RTP-Info): a viewer's first picture is whole, after a PAUSE too. (Over
// UDP, OnPause closes the gates of the viewer's addresses.)
//
// A write error from held bytes is returned by the Write that writes them;
// the packets it held were reported written. gortsplib closes the session
// at any write error, so nothing relies on which packet failed.
type coalescingConn struct {
	net.Conn

	bufs *sync.Pool

	mu   sync.Mutex // gortsplib writes responses and packets from different goroutines
	buf  *[]byte    // held bytes, nil when none
	gate joinGate
	idr  *idrRegistry

	deadline lazyDeadline
}

// SetWriteDeadline sets the connection's write deadline to t unless the
// one set is within deadlineSlack of it (lazyDeadline): gortsplib sets one
// before every packet.
func (c *coalescingConn) SetWriteDeadline(t time.Time) error {
	return c.deadline.SetWriteDeadline(c.Conn, t)
}

// SetDeadline sets both deadlines.
func (c *coalescingConn) SetDeadline(t time.Time) error { return c.deadline.SetDeadline(c.Conn, t) }

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rtp, marker := interleavedRTP(p)
	if rtp && !c.gate.pass(c.idr, p[4:]) {
		return len(p), nil
	}
	if !rtp {
		if playResponse(p) {
			c.gate.close()
		}
		if c.buf == nil {
			return c.Conn.Write(p)
		}
		if err := c.flush(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if c.buf != nil && len(*c.buf)+len(p) > coalesceLimit {
		if err := c.flush(nil); err != nil {
			return 0, err
		}
	}
	if marker {
		if c.buf == nil {
			return c.Conn.Write(p)
		}
		if err := c.flush(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if len(p) > coalesceLimit {
		return c.Conn.Write(p)
	}
	if c.buf == nil {
		c.buf = c.bufs.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// flush writes the held bytes followed by p in one write and gives the
// buffer back. It is called with c.buf set.
func (c *coalescingConn) flush(p []byte) error {
	b := append(*c.buf, p...)
	_, err := c.Conn.Write(b)
	if cap(b) <= 2*coalesceLimit {
		*c.buf = b[:0]
		c.bufs.Put(c.buf)
	}
	c.buf = nil
	return err
}

// playResponse reports whether p is a successful response to PLAY:
// gortsplib writes a response in one Write, and a PLAY's alone has
// RTP-Info.
func playResponse(p []byte) bool {
	return bytes.HasPrefix(p, []byte("RTSP/1.0 200 ")) && bytes.Contains(p, []byte("\r\nRTP-Info: "))
}

// interleavedRTP reports whether p is exactly one interleaved RTP packet,
// and whether that packet has the marker bit set. RTCP packets (payload
// types 200–207 in the second byte, RFC 5761 §4) are not RTP here.
func interleavedRTP(p []byte) (rtp, marker bool) {
	if len(p) < 4+12 || p[0] != '$' || int(p[2])<<8|int(p[3]) != len(p)-4 {
		return false, false
	}
	if p[4]>>6 != 2 || p[5] >= 200 && p[5] <= 207 {
		return false, false
	}
	return true, p[5]&0x80 != 0
}
