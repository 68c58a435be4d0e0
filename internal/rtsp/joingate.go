package rtsp

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
)

// A viewer that starts playing in the middle of a GOP gets P-frames that
// refer to pictures it never had. The encoder answers a join with an IDR at
// once, but at most one per Config.IDRInterval (framecast.Config): a
// viewer joining soon after another waits for its IDR, and gortsplib may
// make a session active between two packets of an access unit. GStreamer's
// decoder shows those P-frames as a grey picture with smears, ffmpeg drops
// them. So the connection wrappers (coalescingConn for TCP and RTSPS,
// gsoConn for UDP) hold back a new viewer's video packets until the first
// packet of an IDR access unit: the viewer's first picture is whole.
// Multicast viewers share their packets and are not held back.
//
// The wrappers see bytes, not mounts: a packet's SSRC (gortsplib's, one per
// mount's video) finds its mount's mountVideo in the server's videoRegistry,
// and its sequence number says whether it begins an IDR.

// mountVideo is what the connection wrappers know of one mount's video:
// which RTP sequence numbers begin an IDR access unit, and the latest
// packets as sent (sentPackets, for coalescingConn). Every packet written
// sets or clears its IDR bit, so a mark is never older than 65536 packets,
// far more than any viewer's write queue holds.
type mountVideo struct {
	bits     [1 << 16 / 64]atomic.Uint64
	withheld atomic.Uint64 // packets held back from viewers before their first IDR
	sent     sentPackets
}

// mark records whether the packet with sequence number seq begins an IDR.
// It is called before the packet is written.
func (b *mountVideo) mark(seq uint16, idrStart bool) {
	w, bit := &b.bits[seq/64], uint64(1)<<(seq%64)
	switch {
	case idrStart:
		w.Or(bit)
	case w.Load()&bit != 0:
		w.And(^bit)
	}
}

// begins reports whether the packet with sequence number seq begins an IDR.
func (b *mountVideo) begins(seq uint16) bool {
	return b.bits[seq/64].Load()&(1<<(seq%64)) != 0
}

// videoRegistry finds a mount's mountVideo by the SSRC of its video.
type videoRegistry struct {
	mu sync.RWMutex
	// A nil value is an SSRC two mounts drew: packets with it are not
	// held back, as before there was a gate.
	bySSRC map[uint32]*mountVideo
}

func newVideoRegistry() *videoRegistry {
	return &videoRegistry{bySSRC: make(map[uint32]*mountVideo)}
}

func (r *videoRegistry) add(ssrc uint32, b *mountVideo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, taken := r.bySSRC[ssrc]; taken {
		b = nil
	}
	r.bySSRC[ssrc] = b
}

func (r *videoRegistry) remove(ssrc uint32, b *mountVideo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bySSRC[ssrc] == b {
		delete(r.bySSRC, ssrc)
	}
}

func (r *videoRegistry) lookup(ssrc uint32) *mountVideo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.bySSRC[ssrc]
}

// joinGate holds back one viewer's video until its first IDR. The zero
// value holds back every SSRC in the registry; the SSRCs let through since
// are kept in open, which a viewer's first packet of each SSRC decides
// (one or two, for its video and audio), so that the registry is looked up
// only then and while the viewer waits for its IDR.
type joinGate struct {
	open []openSSRC
}

// openSSRC is an SSRC a joinGate lets through, with its mount's video (nil
// for an SSRC that is not one).
type openSSRC struct {
	ssrc  uint32
	video *mountVideo
}

// close holds the viewer's video back again until an IDR.
func (g *joinGate) close() { g.open = g.open[:0] }

// pass reports whether the RTP (or SRTP) packet pkt, header first, may go
// to the viewer, and counts it on its mount when not. It returns the
// packet's mount video too, nil when the SSRC is none.
func (g *joinGate) pass(reg *videoRegistry, pkt []byte) (bool, *mountVideo) {
	if len(pkt) < 12 || reg == nil {
		return true, nil
	}
	ssrc := binary.BigEndian.Uint32(pkt[8:12])
	for _, s := range g.open {
		if s.ssrc == ssrc {
			return true, s.video
		}
	}
	b := reg.lookup(ssrc)
	if b != nil && !b.begins(binary.BigEndian.Uint16(pkt[2:4])) {
		b.withheld.Add(1)
		return false, nil
	}
	g.open = append(g.open, openSSRC{ssrc, b})
	return true, b
}

// udpPorts are the addresses a UDP viewer's RTP goes to, one per media it
// set up (its IP and the client_port of each SETUP), kept as the session's
// user data: at PAUSE, gsoConn closes their gates, so that the viewer's
// first packet when it plays again is an IDR's. Over TCP the PLAY's
// response does that (coalescingConn).
type udpPorts struct {
	mu    sync.Mutex // SETUPs of one session can come from several connections
	addrs []netip.AddrPort
}

// rememberUDPPorts adds the RTP address of a UDP SETUP to its session's
// udpPorts. A Transport header it cannot read adds nothing: gortsplib has
// accepted it, and the viewer then has no gate closed at PAUSE.
func rememberUDPPorts(ss *gortsplib.ServerSession, remote net.Addr, req *base.Request) {
	ta, ok := remote.(*net.TCPAddr)
	if !ok {
		return
	}
	var ths headers.Transports
	if err := ths.Unmarshal(req.Header["Transport"]); err != nil {
		return
	}
	for _, th := range ths {
		if th.Protocol != headers.TransportProtocolUDP || th.ClientPorts == nil {
			continue
		}
		p, _ := ss.UserData().(*udpPorts)
		if p == nil {
			p = &udpPorts{}
			ss.SetUserData(p)
		}
		p.mu.Lock()
		p.addrs = append(p.addrs, unmapped(netip.AddrPortFrom(ta.AddrPort().Addr(), uint16(th.ClientPorts[0]))))
		p.mu.Unlock()
		return
	}
}

// udpPortsOf returns the RTP addresses of ss, none when it is not a UDP viewer.
func udpPortsOf(ss *gortsplib.ServerSession) []netip.AddrPort {
	p, _ := ss.UserData().(*udpPorts)
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.addrs)
}
