package rtsp

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// gsoMaxSegments and gsoMaxBytes bound one batch: Linux takes at most 64
// segments in one UDP_SEGMENT send, of at most 64 KiB in all.
const (
	gsoMaxSegments = 64
	gsoMaxBytes    = 65000
)

// gsoPoolMax is the size a buffer of copied packets starts at and the
// largest kept for reuse: a P frame's at 720p and 2 Mbit/s fits. Larger
// ones (up to gsoMaxBytes) are left to the garbage collector, so that the
// pool does not hold an IDR's worth per viewer between IDRs. Most packets
// are not copied but sent from their mount's sentPackets.
const gsoPoolMax = 16 << 10

// gsoStale is how long a batch may wait for its access unit's last packet
// before the next write sends it anyway (a viewer gone mid-frame).
const gsoStale = time.Second

// gsoConn is the RTP socket of the server's UDP viewers. gortsplib writes
// each RTP packet to a viewer with one WriteTo; gsoConn holds a viewer's
// packets until the one with the RTP marker bit (the end of an access
// unit) and sends them with one sendmsg and UDP generic segmentation
// offload (UDP_SEGMENT): the kernel then carries the frame through its
// stack once and cuts it into the same datagrams at the end. Segments
// must all have the first one's size but the last, so a larger or a
// second short packet sends what is held first. Where the kernel or the
// interface refuses UDP_SEGMENT, gsoConn falls back for good to one
// datagram per packet.
//
// A viewer's packets are written by its session's goroutine, one after the
// other, to the address gortsplib keeps for the session (the same
// *net.UDPAddr each time, its key); the map of viewers is
// guarded by mu, and no lock is held while sending. A packet its mount
// still has in its sentPackets (all but a viewer hundreds of packets
// behind) is held as a reference to the mount's copy, and the batch goes
// out as the iovecs of one sendmsg; only other packets are copied. Per
// packet, gsoConn does no more than a map lookup and a lookup of the
// mount's copy: the clock is read, the
// address converted and stale batches looked for once per batch, and
// gortsplib's write deadline before every packet is passed on only when
// it moves (lazyDeadline). Spent batches go back to a pool, which holds as
// many as the viewers use at once and gives them back to the garbage
// collector when fewer are: with a fixed bound of 32, 400 viewers
// allocated a fresh 8 KiB batch, grown by copying, for most frames (about
// 100 MB/s of garbage; 400 UDP viewers cost +0.17–0.19 cores per 100,
// +0.10–0.14 pooled, measured).
//
// Each viewer address also has a join gate: its video packets are dropped
// until the first packet of an IDR (joinGate). An address is forgotten
// when it has had no packet for gateIdle; beyond gsoMaxViewers addresses
// (sessions coming and going faster than that), a new one is neither
// held back nor batched, each packet sent as it comes.
type gsoConn struct {
	*net.UDPConn
	off      atomic.Bool // UDP_SEGMENT refused or disabled: one datagram per packet
	now      func() time.Time
	deadline lazyDeadline
	videos   *videoRegistry // for the join gates and sentPackets; nil lets every packet through
	raw      syscall.RawConn
	family   int // the socket's, AF_INET or AF_INET6

	mu      sync.Mutex
	viewers map[*net.UDPAddr]*udpViewer
	pool    sync.Pool // of *gsoBatch, spent
	bufs    bufPool   // for the packets a batch copies
	swept   time.Time // when viewers were last looked through for stale batches
}

// udpViewer is what gsoConn keeps of one viewer address.
type udpViewer struct {
	joinGate
	batch *gsoBatch // packets held, nil between access units
	last  time.Time // when its latest batch began
}

// gateIdle is how long a viewer address is kept without packets:
// gortsplib's session timeout, past which a UDP viewer that sends no
// keepalive is gone. A viewer still there after a longer silence (a paused
// producer, with --idle none) has its packets held back again until an
// IDR.
const gateIdle = 60 * time.Second

// gsoMaxViewers bounds the viewer addresses a gsoConn keeps (about 100
// bytes each).
var gsoMaxViewers = 1 << 16 // a variable for tests

// gsoBatch is one viewer's packets held until they are sent together.
// A packet its mount kept (sentPackets) is held as a reference to the
// mount's copy, shared by every viewer; any other is copied into copied.
// The packets go out as the iovecs of one sendmsg.
type gsoBatch struct {
	to    netip.AddrPort // unmapped: an IPv4 socket takes no v4-in-v6 address
	segs  [gsoMaxSegments][]byte
	n     int // segments
	bytes int // in all segments
	seg   int // size of every segment but the last
	short bool
	since time.Time

	copied *[]byte // segments not kept by their mount; nil when none

	// What sendmsg takes, kept with the batch so that sending allocates
	// nothing.
	msg     unix.Msghdr
	iov     [gsoMaxSegments]unix.Iovec
	sa      [unix.SizeofSockaddrInet6]byte // a RawSockaddrInet4 or RawSockaddrInet6
	oob     [32]byte                       // unix.CmsgSpace(2) is 24 on 64-bit Linux, 16 on 32-bit
	errc    syscall.Errno
	sent    func(fd uintptr) bool // rawSend, for RawConn.Write
	sentNow func(fd uintptr) bool // rawSendNow
}

// newGSOBatch returns an empty batch.
func newGSOBatch() *gsoBatch {
	b := &gsoBatch{}
	b.sent, b.sentNow = b.rawSend, b.rawSendNow
	return b
}

// reset empties b for a new batch to to, and drops its references to
// packets.
func (b *gsoBatch) reset(to netip.AddrPort, now time.Time) {
	clear(b.segs[:b.n])
	clear(b.iov[:b.n])
	b.to, b.n, b.bytes, b.seg, b.short, b.since = to, 0, 0, 0, false, now
}

// add holds the packet p, kept as the mount's copy shared when not nil,
// and else copied into b.copied, which is then set.
func (b *gsoBatch) add(p, shared []byte) {
	if shared == nil {
		shared = appendCopy(b.copied, p)
	}
	if b.n == 0 {
		b.seg = len(p)
	}
	b.segs[b.n] = shared
	b.n++
	b.bytes += len(p)
	b.short = len(p) < b.seg
}

func newGSOConn(c *net.UDPConn, videos *videoRegistry) *gsoConn {
	g := &gsoConn{UDPConn: c, videos: videos, now: time.Now, viewers: map[*net.UDPAddr]*udpViewer{},
		bufs: bufPool{start: gsoPoolMax, max: gsoPoolMax}}
	// A socket whose family cannot be read sends a datagram per packet.
	raw, err := c.SyscallConn()
	if err == nil {
		cerr := raw.Control(func(fd uintptr) {
			g.family, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		})
		err = cmp.Or(cerr, err)
	}
	g.raw = raw
	g.off.Store(err != nil)
	return g
}

// SetWriteDeadline sets the socket's write deadline to t unless the one
// set is within deadlineSlack of it (lazyDeadline).
func (c *gsoConn) SetWriteDeadline(t time.Time) error {
	return c.deadline.SetWriteDeadline(c.UDPConn, t)
}

// SetDeadline sets both deadlines.
func (c *gsoConn) SetDeadline(t time.Time) error { return c.deadline.SetDeadline(c.UDPConn, t) }

// WriteTo sends p to addr, or holds it until its access unit ends.
func (c *gsoConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.UDPConn.WriteTo(p, addr)
	}
	// Once UDP_SEGMENT is refused every packet ends its batch: what a
	// viewer has held goes first, in order.
	end := len(p) < 2 || p[1]&0x80 != 0 || c.off.Load()
	to := unmapped(ua.AddrPort())
	var sendBuf [2]*gsoBatch // a batch cut short and this one, mostly: no allocation
	send := sendBuf[:0]
	c.mu.Lock()
	v := c.viewers[ua]
	if v == nil {
		if len(c.viewers) >= gsoMaxViewers {
			c.mu.Unlock()
			return c.UDPConn.WriteTo(p, addr)
		}
		v = &udpViewer{last: c.now()}
		c.viewers[ua] = v
	}
	pass, mv := v.pass(c.videos, p)
	if !pass {
		c.mu.Unlock()
		return len(p), nil
	}
	b := v.batch
	if b != nil && (len(p) > b.seg || b.short || b.n == gsoMaxSegments || b.bytes+len(p) > gsoMaxBytes) {
		v.batch = nil
		send = append(send, b)
		b = nil
	}
	// A packet alone (audio, a small frame, every packet without
	// UDP_SEGMENT) goes out as it is, after what the viewer held.
	alone := b == nil && end
	if b == nil {
		now := c.now()
		v.last = now
		send = c.sweep(now, send)
		if !alone {
			if b, _ = c.pool.Get().(*gsoBatch); b == nil {
				b = newGSOBatch()
			}
			b.reset(to, now)
			v.batch = b
		}
	}
	if !alone {
		var shared []byte
		if mv != nil {
			shared = mv.sent.find(p)
		}
		if shared == nil && b.copied == nil {
			b.copied = c.bufs.get()
		}
		b.add(p, shared)
		if end {
			v.batch = nil
			send = append(send, b)
		}
	}
	c.mu.Unlock()
	var err error
	for _, s := range send {
		// An error sending another viewer's stale batch is not this
		// write's.
		if e := c.send(s); e != nil && s.to == to && err == nil {
			err = e
		}
	}
	if alone {
		if _, e := c.UDPConn.WriteToUDPAddrPort(p, to); e != nil && err == nil { // no allocation, unlike WriteTo
			err = e
		}
	}
	for _, s := range send {
		if s.copied != nil {
			c.bufs.put(s.copied)
			s.copied = nil
		}
		s.reset(netip.AddrPort{}, time.Time{}) // no reference to a mount's packets stays in the pool
		c.pool.Put(s)
	}
	return len(p), err
}

// sweep, at most once per gsoStale/2, takes the batches that viewers gone
// in the middle of a frame left, to be sent, and forgets the viewers that
// had no packet for gateIdle. It is called with c.mu held.
func (c *gsoConn) sweep(now time.Time, send []*gsoBatch) []*gsoBatch {
	if now.Sub(c.swept) <= gsoStale/2 {
		return send
	}
	c.swept = now
	for k, s := range c.viewers {
		switch {
		case s.batch != nil && now.Sub(s.batch.since) > gsoStale:
			send = append(send, s.batch)
			s.batch = nil
		case s.batch == nil && now.Sub(s.last) > gateIdle:
			delete(c.viewers, k)
		}
	}
	return send
}

// closeGates holds the video to the viewers at addrs back again until an
// IDR (joinGate), for viewers that paused.
func (c *gsoConn) closeGates(addrs []netip.AddrPort) {
	if len(addrs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.viewers {
		if slices.Contains(addrs, unmapped(k.AddrPort())) {
			v.close()
		}
	}
}

// unmapped is ap with an IPv4 address as itself, not mapped in IPv6: an
// IPv4 socket takes no v4-in-v6 address, and it is how viewers' addresses
// compare.
func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// held is the number of viewers with packets held.
func (c *gsoConn) held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.viewers {
		if v.batch != nil {
			n++
		}
	}
	return n
}

// send writes one batch to addr: one datagram, or its segments in one
// UDP_SEGMENT sendmsg.
func (c *gsoConn) send(b *gsoBatch) error {
	addr := b.to
	if b.n == 1 {
		_, err := c.UDPConn.WriteToUDPAddrPort(b.segs[0], addr) // no allocation, unlike WriteTo
		return err
	}
	if !c.off.Load() {
		err := c.sendmsg(b)
		if err == nil || !refused(err) {
			return err
		}
		c.off.Store(true)
	}
	var err error
	for _, p := range b.segs[:b.n] {
		if _, e := c.UDPConn.WriteToUDPAddrPort(p, addr); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// sendmsg sends the segments of b with one sendmsg system call, their
// size in a UDP_SEGMENT control message. The standard library's
// WriteMsgUDP takes one buffer; this takes b's as they are.
func (c *gsoConn) sendmsg(b *gsoBatch) error {
	return c.sendmsgOf(b, 0, b.n, b.sent)
}

// sendmsgOf sends the segments from up to to of b with one sendmsg and
// send (rawSend or rawSendNow): as one datagram if they are one, else with
// UDP_SEGMENT.
func (c *gsoConn) sendmsgOf(b *gsoBatch, from, to int, send func(fd uintptr) bool) error {
	for i, p := range b.segs[from:to] {
		b.iov[from+i].Base = &p[0]
		b.iov[from+i].SetLen(len(p))
	}
	salen, err := c.sockaddr(&b.sa, b.to)
	if err != nil {
		return err
	}
	b.msg = unix.Msghdr{Name: &b.sa[0], Namelen: salen, Iov: &b.iov[from]}
	b.msg.SetIovlen(to - from)
	if to-from > 1 {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b.oob[0]))
		h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
		h.SetLen(unix.CmsgLen(2))
		binary.NativeEndian.PutUint16(b.oob[unix.CmsgLen(0):], uint16(b.seg))
		b.msg.Control = &b.oob[0]
		b.msg.SetControllen(unix.CmsgSpace(2))
	}
	b.errc = 0
	if err := c.raw.Write(send); err != nil {
		return err
	}
	if b.errc != 0 {
		return &net.OpError{Op: "sendmsg", Net: "udp", Addr: net.UDPAddrFromAddrPort(b.to), Err: os.NewSyscallError("sendmsg", b.errc)}
	}
	return nil
}

// rawSend is the function RawConn.Write calls with the socket: false,
// to wait, while the socket's buffer is full.
func (b *gsoBatch) rawSend(fd uintptr) bool {
	_, _, e := unix.Syscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&b.msg)), 0)
	if e == unix.EAGAIN {
		return false
	}
	b.errc = e
	return true
}

// rawSendNow is rawSend that never waits: a full socket buffer is
// EAGAIN in errc.
func (b *gsoBatch) rawSendNow(fd uintptr) bool {
	for {
		_, _, e := unix.Syscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&b.msg)), 0)
		if e != unix.EINTR {
			b.errc = e
			return true
		}
	}
}

// sendAU sends pkts, one viewer's packets of an access unit for one of
// its medias, to to at once and without waiting for the socket: the
// writes of a mount to its UDP viewers (direct.go). The packets are
// grouped as WriteTo groups them, a UDP_SEGMENT sendmsg for each group,
// and are not copied; b is scratch, empty again when sendAU returns. It
// returns the bytes sent, the packets the socket's buffer had no room for
// (dropped, as UDP drops), and an error that is not that.
func (c *gsoConn) sendAU(b *gsoBatch, to netip.AddrPort, pkts [][]byte) (sent, dropped int, err error) {
	b.reset(to, time.Time{})
	flush := func() {
		n, d, e := c.sendNow(b)
		sent, dropped, err = sent+n, dropped+d, cmp.Or(err, e)
		b.reset(to, time.Time{})
	}
	for _, p := range pkts {
		if b.n > 0 && (len(p) > b.seg || b.short || b.n == gsoMaxSegments || b.bytes+len(p) > gsoMaxBytes) {
			flush()
		}
		b.add(p, p)
	}
	if b.n > 0 {
		flush()
	}
	b.reset(netip.AddrPort{}, time.Time{}) // no reference to the mount's packets stays
	return sent, dropped, err
}

// sendNow sends the segments of b without waiting for the socket: with
// UDP_SEGMENT unless it is refused, else one datagram each. It returns
// the bytes sent and the segments the socket had no room for.
func (c *gsoConn) sendNow(b *gsoBatch) (sent, dropped int, err error) {
	if b.n > 1 && !c.off.Load() {
		err := c.sendmsgOf(b, 0, b.n, b.sentNow)
		switch {
		case err == nil:
			return b.bytes, 0, nil
		case errors.Is(err, unix.EAGAIN):
			return 0, b.n, nil
		case !refused(err):
			return 0, b.n, err
		}
		c.off.Store(true)
	}
	for i, p := range b.segs[:b.n] {
		err := c.sendmsgOf(b, i, i+1, b.sentNow)
		switch {
		case err == nil:
			sent += len(p)
		case errors.Is(err, unix.EAGAIN):
			dropped++
		default:
			return sent, dropped + b.n - i, err
		}
	}
	return sent, dropped, nil
}

// sockaddr writes to into sa as the socket's family takes it (an IPv4
// address mapped into IPv6 for an IPv6 socket) and returns its length.
func (c *gsoConn) sockaddr(sa *[unix.SizeofSockaddrInet6]byte, to netip.AddrPort) (uint32, error) {
	a := to.Addr()
	if c.family == unix.AF_INET {
		if !a.Is4() {
			return 0, fmt.Errorf("send to %s from an IPv4 socket", to)
		}
		r := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*r = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&r.Port))[:], to.Port())
		return unix.SizeofSockaddrInet4, nil
	}
	r := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
	*r = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&r.Port))[:], to.Port())
	return unix.SizeofSockaddrInet6, nil
}

// refused reports whether err says the kernel or the interface does not
// take UDP_SEGMENT.
func refused(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINVAL) ||
		errors.Is(err, syscall.ENOPROTOOPT) || errors.Is(err, syscall.EOPNOTSUPP)
}

// listenPacket is gortsplib's ListenPacket hook: the RTP socket of UDP
// viewers sends each access unit with UDP_SEGMENT unless DisableGSO, and
// holds back a new viewer's video until its IDR (gsoConn); the RTCP socket
// and multicast are left as they are.
func (s *Server) listenPacket(network, address string) (net.PacketConn, error) {
	pc, err := net.ListenPacket(network, address)
	if err != nil || address != s.cfg.UDPRTPAddress {
		return pc, err
	}
	if uc, ok := pc.(*net.UDPConn); ok {
		c := newGSOConn(uc, s.videos)
		if s.cfg.DisableGSO {
			c.off.Store(true) // and not false over a socket newGSOConn already turned off
		}
		s.udp = c
		return c, nil
	}
	return pc, nil
}
