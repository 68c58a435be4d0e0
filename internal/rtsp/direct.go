package rtsp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/rtpsender"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"golang.org/x/sys/unix"
)

// Over plain TCP and unicast UDP a mount writes its access units to its
// viewers itself. gortsplib hands a stream's packets to its viewers one at
// a time: for every packet and every viewer it allocates, queues, wakes
// the viewer's writer goroutine and marshals into the viewer's buffer,
// which at 1000 viewers was most of framecast's fan-out CPU and keeps
// every viewer's write queue and writer stack in use. So each mount has a
// second ServerStream, direct, with the same description, that plain TCP
// and UDP viewers set up (OnSetup) and gortsplib never gets an RTP packet
// of: it answers their requests and sends the RTCP sender reports of
// rtpsender.Senders the mount feeds. The mount marshals each packet once
// more with the direct stream's SSRC and writes a viewer's whole access
// unit, viewer after viewer in the order they came, from the goroutine
// that writes the access unit: over TCP its video and the audio due with
// it, interleaved as RFC 2326 §10.12 frames with the channels of the
// viewer's SETUP responses, in one writev; over UDP, to the client ports
// of those responses at the address of its RTSP connection (where
// gortsplib sends), in one UDP_SEGMENT sendmsg per media from the
// server's RTP socket (gsoConn.sendAU).
//
// Nothing waits for a viewer: every write to a direct connection, the
// mount's and gortsplib's (responses, sender reports), is tried without
// blocking, and what the socket does not take is kept, in order, for a
// goroutine of the connection's to write (drain). A viewer with more than
// directBacklogMax bytes kept is too slow: it is disconnected, as
// gortsplib disconnects a viewer whose write queue is full. Datagrams the
// RTP socket has no room for are dropped and counted, as gortsplib's full
// queue of a UDP viewer drops them. A viewer's first video is an IDR's,
// after its PLAY (and each PLAY after a PAUSE) has been answered.
//
// RTSPS and tunnelled viewers, and multicast, go through gortsplib as
// before (coalescingConn, gsoConn), as do all with Config.DisableDirectTCP
// and DisableDirectUDP. Over plain RTSP, tunnels have a gortsplib server
// of their own, so that the others' write queue can be small (router.go).

// directBacklogMax bounds the bytes a direct connection keeps unwritten:
// a 4K IDR is about 1 MB.
const directBacklogMax = 2 << 20

// directIOVMax is the most iovecs one writev takes (IOV_MAX).
const directIOVMax = 1024

// errTooSlow is a direct viewer's error when it keeps more than
// directBacklogMax bytes unwritten.
var errTooSlow = errors.New("viewer too slow: more than 2 MiB unwritten")

// directConn is the state of a coalescingConn whose viewer its mount
// writes to, guarded by the connection's mu.
type directConn struct {
	timeout   time.Duration  // for what drain writes
	onPlaying func()         // called once the PLAY's response is written
	playing   bool           // the mount writes to it
	backlog   []byte         // bytes not written yet, for drain
	draining  bool           // drain runs: only it writes to the socket
	err       error          // why drain failed
	setups    []setupChannel // the latest SETUP answers' channels, at most directSetupsKept
}

// directScratch is what writing an access unit to a connection builds:
// one for all the viewers of a stream, which it writes one after the
// other, rather than one grown to an IDR's size for each.
type directScratch struct {
	iov  []unix.Iovec // of writevNow
	hdrs []byte       // interleaved headers
	bufs [][]byte
}

// startDirect makes c a direct connection: from now on its writes do not
// block. It reports false for a connection that cannot be one (not plain
// TCP).
func (c *coalescingConn) startDirect(timeout time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.direct != nil {
		return true
	}
	if c.raw == nil || c.buf != nil || c.vec != nil {
		return false
	}
	c.direct = &directConn{timeout: timeout}
	return true
}

// playNext makes the next successful response c writes the PLAY's: f is
// called after it, and the mount writes to c from then on, until pause.
func (c *coalescingConn) playNext(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.direct != nil {
		c.direct.onPlaying = f
	}
}

// pause stops the mount's writes to c until its next PLAY.
func (c *coalescingConn) pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.direct != nil {
		c.direct.playing, c.direct.onPlaying = false, nil
	}
}

// setupChannel is the interleaved channel (TCP) or the client's RTP port
// (UDP) a SETUP's answer gave a session.
type setupChannel struct {
	session string
	channel int
}

// directSetupsKept bounds the SETUP answers a connection remembers: a
// session sets up a media or two.
const directSetupsKept = 8

// channels returns the interleaved channels (or, over UDP, the client's
// RTP ports) of session's SETUP answers on c, in order.
func (c *coalescingConn) channels(session string) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.direct == nil {
		return nil
	}
	var out []int
	for _, s := range c.direct.setups {
		if s.session == session {
			out = append(out, s.channel)
		}
	}
	return out
}

// rememberSetup records the channel of p if it is a successful answer to
// a TCP SETUP (the only answers with a Transport header and interleaved
// channels), or the client's RTP port of a UDP SETUP's (the port gortsplib
// sends that media to), as gortsplib wrote it.
func (d *directConn) rememberSetup(p []byte) {
	if !bytes.HasPrefix(p, []byte("RTSP/1.0 200 ")) || !bytes.Contains(p, []byte("\r\nTransport: ")) {
		return
	}
	var res base.Response
	if err := res.Unmarshal(bufio.NewReader(bytes.NewReader(p))); err != nil {
		return
	}
	var th headers.Transport
	var sh headers.Session
	if th.Unmarshal(res.Header["Transport"]) != nil || sh.Unmarshal(res.Header["Session"]) != nil {
		return
	}
	var ch int
	switch {
	case th.InterleavedIDs != nil:
		ch = th.InterleavedIDs[0]
	case th.ClientPorts != nil:
		ch = th.ClientPorts[0]
	default:
		return
	}
	if len(d.setups) == directSetupsKept {
		d.setups = slices.Delete(d.setups, 0, 1)
	}
	d.setups = append(d.setups, setupChannel{sh.Session, ch})
}

// writeDirectLocked is Write for a direct connection; c.mu is held.
func (c *coalescingConn) writeDirectLocked(p []byte) (int, error) {
	d := c.direct
	d.rememberSetup(p)
	if f := d.onPlaying; f != nil && bytes.HasPrefix(p, []byte("RTSP/1.0 200 ")) {
		d.onPlaying = nil
		defer func() {
			d.playing = true
			f()
		}()
	}
	if err := c.sendLocked([][]byte{p}, nil); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeAU writes one access unit's packets to c, video on channel vch and
// audio on ach (none when ach < 0), if c is playing; it reports whether it
// did and the bytes it wrote or kept, or why c cannot be written to. s is
// scratch, its caller's alone while writeAU runs.
func (c *coalescingConn) writeAU(s *directScratch, vch byte, video [][]byte, ach int, audio [][]byte) (bool, int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.direct
	if d == nil || !d.playing {
		return false, 0, nil
	}
	if d.err != nil {
		return false, 0, d.err
	}
	if ach < 0 {
		audio = nil
	}
	n := len(video) + len(audio)
	if cap(s.hdrs) < 4*n {
		s.hdrs = make([]byte, 4*n)
	}
	hdrs := s.hdrs[:4*n]
	bufs := s.bufs[:0]
	total := 0
	add := func(i int, ch byte, p []byte) {
		h := hdrs[4*i : 4*i+4]
		h[0], h[1], h[2], h[3] = '$', ch, byte(len(p)>>8), byte(len(p))
		bufs = append(bufs, h, p)
		total += 4 + len(p)
	}
	for i, p := range video {
		add(i, vch, p)
	}
	for i, p := range audio {
		add(len(video)+i, byte(ach), p)
	}
	err := c.sendLocked(bufs, &s.iov)
	clear(bufs) // no reference to the mount's packets stays
	s.bufs = bufs[:0]
	if err != nil {
		return false, 0, err
	}
	return true, total, nil
}

// sendLocked writes bufs, in order after anything kept, without blocking:
// what the socket does not take now is kept for drain. iov is scratch for
// writevNow; nil allocates it.
func (c *coalescingConn) sendLocked(bufs [][]byte, iov *[]unix.Iovec) error {
	d := c.direct
	if d.err != nil {
		return d.err
	}
	if d.draining {
		return c.keepLocked(bufs, 0)
	}
	n, err := c.writevNow(bufs, iov)
	if err != nil {
		d.err = err
		return err
	}
	if err := c.keepLocked(bufs, n); err != nil {
		return err
	}
	if len(d.backlog) > 0 {
		d.draining = true
		go c.drain()
	}
	return nil
}

// keepLocked adds bufs, but for their first skip bytes, to the backlog.
func (c *coalescingConn) keepLocked(bufs [][]byte, skip int) error {
	d := c.direct
	for _, b := range bufs {
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		b, skip = b[skip:], 0
		if len(d.backlog)+len(b) > directBacklogMax {
			d.err = errTooSlow
			d.backlog = nil
			return errTooSlow
		}
		d.backlog = append(d.backlog, b...)
	}
	return nil
}

// writevNow writes bufs with writev without waiting for the socket, and
// returns the bytes written: fewer than all when its buffer is full. The
// iovecs are built in scratch (nil: a new slice).
func (c *coalescingConn) writevNow(bufs [][]byte, scratch *[]unix.Iovec) (int, error) {
	if scratch == nil {
		scratch = new([]unix.Iovec)
	}
	written := 0
	for len(bufs) > 0 {
		k := min(len(bufs), directIOVMax)
		iov, want := (*scratch)[:0], 0
		for _, b := range bufs[:k] {
			if len(b) == 0 {
				continue
			}
			v := unix.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
			want += len(b)
		}
		bufs = bufs[k:]
		if len(iov) == 0 {
			continue
		}
		var n int
		var errno syscall.Errno
		err := c.raw.Write(func(fd uintptr) bool {
			for {
				r, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
				if e == unix.EINTR {
					continue
				}
				n, errno = int(r), e
				return true // never wait for the socket
			}
		})
		clear(iov)
		*scratch = iov[:0]
		switch {
		case err != nil:
			return written, err
		case errno == unix.EAGAIN:
			return written, nil
		case errno != 0:
			return written, os.NewSyscallError("writev", errno)
		}
		written += n
		if n < want {
			return written, nil
		}
	}
	return written, nil
}

// drain writes c's backlog, waiting for the socket, until none is left; a
// connection it cannot write to within the timeout is closed. It runs
// while c has a backlog, started by the write that made it.
func (c *coalescingConn) drain() {
	for {
		c.mu.Lock()
		d := c.direct
		b := d.backlog
		d.backlog = nil
		if len(b) == 0 || d.err != nil {
			d.draining = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.deadline.SetWriteDeadline(c.Conn, time.Now().Add(d.timeout)) //nolint:errcheck
		_, err := c.Conn.Write(b)
		c.mu.Lock()
		if err != nil && d.err == nil { // the first error is the cause: errTooSlow stays
			d.err = fmt.Errorf("write to a slow viewer: %w", err)
			d.backlog = nil
		}
		c.mu.Unlock()
		if err != nil {
			c.Conn.Close()
			return
		}
	}
}

// directViewer is one viewer a mount writes to: over TCP on its
// connection, or over UDP to its RTP ports from the server's RTP socket.
type directViewer struct {
	ss      *gortsplib.ServerSession
	conn    *coalescingConn // its RTSP connection
	video   byte            // interleaved channels (TCP)
	audio   int             // -1 without audio
	udp     *gsoConn        // the RTP socket for a viewer over UDP; nil over TCP
	videoTo netip.AddrPort  // its RTP addresses over UDP
	audioTo netip.AddrPort  // not valid without audio
	started bool            // has had its first IDR
	bytes   uint64          // written to it
}

// directStream is a mount's direct stream and what it writes to its
// viewers.
type directStream struct {
	stream    *gortsplib.ServerStream
	videoSSRC uint32
	audioSSRC uint32
	videoSR   *rtpsender.Sender
	audioSR   *rtpsender.Sender // nil without audio
	mu        sync.Mutex        // guards viewers; never taken under a conn's mu
	viewers   []*directViewer   // in the order they played
	video     [][]byte          // the access unit's video packets, the mount's
	audio     [][]byte
	bytes     uint64        // written to viewers, guarded by mu
	batch     *gsoBatch     // scratch of the writes to UDP viewers, guarded by mu
	scratch   directScratch // of the writes to TCP viewers, guarded by mu
}

func newDirectStream(gs *gortsplib.Server, desc *description.Session, video, audio *description.Media) (*directStream, error) {
	st := &gortsplib.ServerStream{Server: gs, Desc: desc}
	if err := st.Initialize(); err != nil {
		return nil, err
	}
	d := &directStream{stream: st, batch: newGSOBatch()}
	d.videoSSRC = localSSRC(st, video)
	sender := func(m *description.Media, rate int) *rtpsender.Sender {
		s := &rtpsender.Sender{ClockRate: rate, Period: senderReportPeriod,
			WritePacketRTCP: func(p rtcp.Packet) { st.WritePacketRTCP(m, p) }} //nolint:errcheck
		s.Initialize()
		return s
	}
	d.videoSR = sender(video, video.Formats[0].ClockRate())
	if audio != nil {
		d.audioSSRC = localSSRC(st, audio)
		d.audioSR = sender(audio, audio.Formats[0].ClockRate())
	}
	return d, nil
}

// senderReportPeriod is the period of the direct stream's RTCP sender
// reports. With gortsplib's own period, 10 s, about one in ten of 1000
// viewers (gortsplib's client) joining at 100/s got nothing for 4.5 s
// after the last joins, in four of nine runs, though every packet was
// written to their sockets on time; with 4 s and 1 s, in three runs each,
// none did. The cause is not known; a report every 2 s costs a viewer 26
// bytes a second.
var senderReportPeriod = 2 * time.Second // a variable for tests

func (d *directStream) close() {
	d.videoSR.Close()
	if d.audioSR != nil {
		d.audioSR.Close()
	}
	d.stream.Close()
}

// begin starts an access unit: it reports whether any viewer is on the
// direct stream, and empties what a failed write of the last one left.
func (d *directStream) begin() bool {
	d.video, d.audio = d.video[:0], d.audio[:0]
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.viewers) > 0
}

// addVideo and addAudio add pkt, with the direct stream's SSRC, to the access
// unit, and count it for the sender reports.
func (d *directStream) addVideo(pkt *rtp.Packet, ntp time.Time) error {
	return marshalInto(&d.video, d.videoSR, d.videoSSRC, pkt, ntp)
}

func (d *directStream) addAudio(pkt *rtp.Packet, ntp time.Time) error {
	return marshalInto(&d.audio, d.audioSR, d.audioSSRC, pkt, ntp)
}

func marshalInto(to *[][]byte, sr *rtpsender.Sender, ssrc uint32, pkt *rtp.Packet, ntp time.Time) error {
	pkt.SSRC = ssrc
	b, err := pkt.Marshal()
	if err != nil {
		return err
	}
	sr.ProcessPacket(pkt, ntp, true)
	*to = append(*to, b)
	return nil
}

// active reports whether any viewer is on the direct stream.
func (d *directStream) active() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.viewers) > 0
}

// add makes v one of the viewers written to (once its PLAY is answered).
func (d *directStream) add(v *directViewer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.removeLocked(v.ss)
	d.viewers = append(d.viewers, v)
}

// remove stops writing to ss. It reports whether ss was a viewer of d
// found too slow, by the mount's write or by one of gortsplib's (a sender
// report).
func (d *directStream) remove(ss *gortsplib.ServerSession) (slow bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, v := range d.viewers {
		if v.ss == ss {
			slow = errors.Is(v.conn.directErr(), errTooSlow)
		}
	}
	d.removeLocked(ss)
	return slow
}

func (d *directStream) removeLocked(ss *gortsplib.ServerSession) {
	d.viewers = slices.DeleteFunc(d.viewers, func(v *directViewer) bool { return v.ss == ss })
}

// write writes the access unit in d.video and d.audio to every viewer and
// empties them; withheld counts the video packets of viewers waiting for
// their first IDR, and dropped the packets to UDP viewers that the RTP
// socket had no room for. A viewer that cannot be written to has its
// session closed; it stays until OnSessionClose removes it (and counts it
// if it was too slow), writing nothing meanwhile.
func (d *directStream) write(idr bool, withheld, dropped func(uint64)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, v := range d.viewers {
		if !v.started && !idr {
			withheld(uint64(len(d.video)))
			continue
		}
		var ok bool
		var n int
		var err error
		if v.udp != nil {
			ok, n, err = d.sendUDP(v, dropped)
		} else {
			ok, n, err = v.conn.writeAU(&d.scratch, v.video, d.video, v.audio, d.audio)
		}
		d.bytes += uint64(n)
		v.bytes += uint64(n)
		switch {
		case err != nil:
			v.ss.Close()
		case ok:
			v.started = true
		case !v.started:
			withheld(uint64(len(d.video)))
		}
	}
	clear(d.video)
	clear(d.audio)
	d.video, d.audio = d.video[:0], d.audio[:0]
}

// sendUDP sends the access unit to the UDP viewer v, if it is playing; it
// reports whether it did and the bytes sent.
func (d *directStream) sendUDP(v *directViewer, dropped func(uint64)) (bool, int, error) {
	if !v.conn.playingNow() {
		return false, 0, nil
	}
	n, lost, err := v.udp.sendAU(d.batch, v.videoTo, d.video)
	if err == nil && v.audioTo.IsValid() && len(d.audio) > 0 {
		var an, alost int
		an, alost, err = v.udp.sendAU(d.batch, v.audioTo, d.audio)
		n, lost = n+an, lost+alost
	}
	if lost > 0 {
		dropped(uint64(lost))
	}
	return err == nil, n, err
}

// playingNow reports whether c's viewer plays: its PLAY has been answered.
func (c *coalescingConn) playingNow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.direct != nil && c.direct.playing && c.direct.err == nil
}

// directErr is why writes to c fail, nil if they do not.
func (c *coalescingConn) directErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.direct == nil {
		return nil
	}
	return c.direct.err
}

// sentTo is the bytes written to each viewer.
func (d *directStream) sentTo() map[*gortsplib.ServerSession]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[*gortsplib.ServerSession]uint64, len(d.viewers))
	for _, v := range d.viewers {
		out[v.ss] = v.bytes
	}
	return out
}

// bytesOut is the bytes written to the viewers.
func (d *directStream) bytesOut() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bytes
}
