package rtsp

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// coalesceLimit bounds the bytes a coalescingConn copies before it writes
// them: an access unit larger than this (an IDR, and many a P frame of
// 720p at 2 Mbit/s, 8 KiB on average) goes out in several writes. Every
// viewer holds up to this much at once while an access unit is fanned out,
// and the buffers stay in the pool until a GC or two: 8 KiB keeps it to
// about 10 KiB per viewer (measured, docs/benchmarks.md) for one or two
// writes per frame instead of one per packet. Over plain TCP (with
// Config.DisableDirectTCP) most packets are not copied but written from
// their mount's sentPackets.
const coalesceLimit = 8 << 10

// coalesceStart is the capacity a new buffer starts with; it grows up to
// coalesceLimit (and the packet that ends it) as access units need.
const coalesceStart = 2 << 10

// coalesceMaxPackets bounds the packets one writev of a coalescingConn
// carries (two iovecs each: the interleaved header and the packet); a
// larger access unit goes out in several.
const coalesceMaxPackets = 32

// coalescingListener makes every connection it accepts a coalescingConn.
// Its connections share the buffers they hold bytes in: a connection takes
// one at the first packet of an access unit and gives it back at the last,
// so a viewer holds no buffer between frames.
type coalescingListener struct {
	net.Listener
	bufs   *bufPool       // copied packets
	held   *sync.Pool     // of *heldPackets
	videos *videoRegistry // for the connections' join gates and sentPackets
}

func newCoalescingListener(l net.Listener, videos *videoRegistry) *coalescingListener {
	return &coalescingListener{Listener: l, videos: videos,
		bufs: &bufPool{start: coalesceStart, max: 2 * coalesceLimit},
		held: &sync.Pool{New: func() any { return new(heldPackets) }},
	}
}

func (l *coalescingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &coalescingConn{Conn: c, bufs: l.bufs, held: l.held, videos: l.videos}
	if tc, ok := c.(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			cc.raw = raw
		}
		// Buffers.WriteTo makes one writev system call of a TCP
		// connection's buffers (and one write per buffer of a
		// connection that is not, a TLS one: those copy).
		cc.writev = func(b *net.Buffers) error {
			_, err := b.WriteTo(tc)
			return err
		}
	}
	return cc, nil
}

// coalescingConn writes the RTP packets of one access unit to a viewer in
// one write instead of one write (a system call, and over RTSPS a TLS
// record) per packet. gortsplib writes an RTP packet interleaved in the
// RTSP connection (RFC 2326 §10.12: '$', channel, 16-bit length, packet) in
// one Write call, and the packets of an access unit one after the other,
// the last with the RTP marker bit set. coalescingConn holds such a
// packet and returns; it writes what it holds, with the packet, at a packet
// with the marker bit, at an RTCP packet, and before it would hold more
// than coalesceLimit bytes copied or coalesceMaxPackets packets. Anything
// else (RTSP responses, the HTTP answer of a tunnel, a Write that is not
// exactly one interleaved packet) is written at once, after what is held.
// Nothing is held past the last packet of an access unit, so coalescing
// adds no latency and needs no timer.
//
// Over plain TCP gortsplib writes a viewer no RTP: its mount does, through
// the connection's direct state (direct.go), and every write then goes
// there. What follows is for RTSPS, and for plain TCP with
// Config.DisableDirectTCP.
//
// gortsplib marshals every viewer's packet into a buffer of the viewer's,
// which it reuses, so a held packet must be copied; but over plain TCP a
// packet its mount still has in its sentPackets (all of them, but for a
// viewer hundreds of packets behind) is held as a reference to the mount's
// copy, shared by every viewer, and what is held goes out in one writev:
// a viewer copies only the 4-byte interleaved header.
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

	bufs *bufPool
	held *sync.Pool
	// writev writes buffers in one system call; nil when Conn cannot, and
	// then every held packet is copied into buf.
	writev func(*net.Buffers) error

	mu     sync.Mutex   // gortsplib writes responses and packets from different goroutines
	buf    *[]byte      // copied packets, nil when none
	vec    *heldPackets // with writev, every held packet in order; nil when none
	gate   joinGate
	videos *videoRegistry

	deadline lazyDeadline

	raw    syscall.RawConn // plain TCP only
	direct *directConn     // non-nil once the mount writes to it (direct.go)
}

// heldPackets are the packets a coalescingConn with writev holds: each an
// interleaved header copied into hdrs and the packet in its mount's
// sentPackets, or a packet copied whole into the connection's buf.
type heldPackets struct {
	iov  net.Buffers
	vecs [2*coalesceMaxPackets + 1][]byte // iov's array
	hdrs [coalesceMaxPackets][4]byte
	n    int // packets held
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
	if c.direct != nil {
		return c.writeDirectLocked(p)
	}
	rtp, marker := interleavedRTP(p)
	var shared []byte // p's packet as its mount sent it, when writev can take it from there
	if rtp {
		pass, video := c.gate.pass(c.videos, p[4:])
		if !pass {
			return len(p), nil
		}
		if video != nil && c.writev != nil {
			shared = video.sent.find(p[4:])
		}
	}
	if rtp && (c.vec != nil && c.vec.n == coalesceMaxPackets ||
		shared == nil && c.buf != nil && len(*c.buf)+len(p) > coalesceLimit) {
		if err := c.flush(nil); err != nil {
			return 0, err
		}
	}
	held := c.buf != nil || c.vec != nil
	switch {
	case !rtp && playResponse(p):
		c.gate.close()
		fallthrough
	case !rtp, marker, shared == nil && len(p) > coalesceLimit:
		if !held {
			return c.Conn.Write(p)
		}
		if err := c.flush(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if c.writev != nil && c.vec == nil {
		c.vec = c.held.Get().(*heldPackets)
		c.vec.iov = c.vec.vecs[:0]
	}
	if shared != nil {
		h := &c.vec.hdrs[c.vec.n]
		copy(h[:], p[:4])
		c.vec.iov = append(c.vec.iov, h[:], shared)
		c.vec.n++
		return len(p), nil
	}
	if c.buf == nil {
		c.buf = c.bufs.get()
	}
	cp := appendCopy(c.buf, p)
	if c.vec != nil {
		c.vec.iov = append(c.vec.iov, cp)
		c.vec.n++
	}
	return len(p), nil
}

// flush writes what is held followed by p in one write and gives the
// buffers back. It is called with something held.
func (c *coalescingConn) flush(p []byte) error {
	var err error
	if v := c.vec; v != nil {
		if p != nil {
			v.iov = append(v.iov, p)
		}
		err = c.writev(&v.iov)
		clear(v.vecs[:]) // no reference to a mount's packets stays in the pool
		v.iov, v.n = nil, 0
		c.held.Put(v)
		c.vec = nil
	} else {
		b := append(*c.buf, p...)
		_, err = c.Conn.Write(b)
		*c.buf = b
	}
	if c.buf != nil {
		c.bufs.put(c.buf)
		c.buf = nil
	}
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

// sentPacketsKept is the number of a mount's latest video packets kept in
// its sentPackets: about 370 KB at most, per mount.
const sentPacketsKept = 256

// sentPackets keeps a mount's latest video packets as gortsplib marshals
// them, so that coalescingConn can write a viewer's packets from them
// instead of copying each. A packet is found by its sequence number and
// must match the one written whole in length and in its 12-byte header
// (sequence number, timestamp, SSRC, marker): an SRTP packet, longer by its
// authentication tag, or one whose slot a later packet took, is not found.
type sentPackets struct {
	slots [sentPacketsKept]atomic.Pointer[[]byte]
}

// keep records pkt, a marshalled RTP packet that is never modified again.
func (s *sentPackets) keep(seq uint16, pkt []byte) {
	s.slots[seq%sentPacketsKept].Store(&pkt)
}

// find returns the kept packet equal to the RTP packet pkt, or nil.
func (s *sentPackets) find(pkt []byte) []byte {
	k := s.slots[binary.BigEndian.Uint16(pkt[2:4])%sentPacketsKept].Load()
	if k == nil || len(*k) != len(pkt) || !bytes.Equal((*k)[:12], pkt[:12]) {
		return nil
	}
	return *k
}

// bufPool is a pool of byte buffers for copied packets, shared by a
// listener's connections (or a socket's viewers): a buffer is taken at the
// first packet copied and given back when it is written. A new buffer has
// a capacity of start; one grown past max is left to the garbage
// collector, so that the pool does not keep an IDR's worth per viewer.
type bufPool struct {
	pool       sync.Pool // of *[]byte
	start, max int
}

func (p *bufPool) get() *[]byte {
	if b, _ := p.pool.Get().(*[]byte); b != nil {
		return b
	}
	b := make([]byte, 0, p.start)
	return &b
}

// put gives b back, emptied, unless it grew past max.
func (p *bufPool) put(b *[]byte) {
	if cap(*b) <= p.max {
		*b = (*b)[:0]
		p.pool.Put(b)
	}
}

// appendCopy appends p to *b and returns the copy. The copy stays good
// when *b grows later: the bytes it refers to are never written again.
func appendCopy(b *[]byte, p []byte) []byte {
	*b = append(*b, p...)
	return (*b)[len(*b)-len(p):]
}
