package rtsp

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"

	"github.com/framecast/framecast/internal/h264desc"
	"github.com/framecast/framecast/internal/rtptime"
)

// Mount is one served path: an H.264 media with its RTP timeline, and
// optionally a silent AAC media timed by the video. A Mount
// outlives the producers that write to it, so viewers stay connected while a
// producer restarts, and the RTP timestamps continue across producers.
type Mount struct {
	path   string
	log    *slog.Logger            // nil logs nothing
	stream *gortsplib.ServerStream // for viewers over RTSPS and multicast, and tunnels without a tunnel server
	tunnel *gortsplib.ServerStream // the tunnel server's (router.go), nil without one
	direct *directStream           // for viewers over plain TCP and UDP, written by the mount (direct.go)
	media  *description.Media
	forma  *format.H264

	// vmu guards the viewers. It is never held while writing packets, since
	// gortsplib calls back into the mount (OnStreamWriteError) from there.
	vmu     sync.Mutex
	onJoin  func()
	viewers map[*gortsplib.ServerSession]time.Time // when each started playing
	// onStream and onTunnel count the viewers playing stream and tunnel,
	// the streams gortsplib writes: a stream no one plays gets no packet.
	onStream, onTunnel atomic.Int32
	sinks              map[*sink]struct{}
	slow               uint64        // viewers disconnected because their write queue overflowed
	bytes              atomic.Uint64 // H.264 bytes written, before RTP headers

	udpDropped atomic.Uint64 // packets not queued for UDP viewers (their queue was full)
	udpLogged  atomic.Int64  // when a UDP drop was last logged, Unix nanoseconds

	gate setupGate // one session at a time between SETUP and PLAY

	// video marks the packets that begin an IDR, for the connection
	// wrappers that hold a new viewer's video back until one (joingate.go),
	// and keeps the latest packets for coalescingConn to write from; it is
	// in reg under the video's SSRC.
	video mountVideo
	reg   *videoRegistry
	ssrc  uint32

	mu       sync.Mutex // guards the RTP timeline and the packetiser
	enc      *rtph264.Encoder
	started  bool      // a frame has been written
	lastRTP  int64     // unwrapped RTP timestamp of the last frame
	lastWall time.Time // wall time the last frame was written
	base     int64     // RTP timestamp of the current producer's PTS 0
	origin   int64     // RTP timestamp of the first frame: sinks' PTS 0
	newEpoch bool      // the next frame starts a new producer timeline

	audio *h264desc.SilentAudio // nil without an audio track; guarded by mu
}

// MountConfig configures a new mount.
type MountConfig struct {
	// SilentAudio adds a silent AAC-LC track (internal/silence), so that
	// receivers that insist on audio take the stream.
	SilentAudio bool
}

func newMount(gs, gt *gortsplib.Server, reg *videoRegistry, path string, sps, pps []byte, c MountConfig) (*Mount, error) {
	desc, media, forma := h264desc.Session(sps, pps)
	var audio *h264desc.SilentAudio
	if c.SilentAudio {
		var err error
		if audio, err = h264desc.NewSilentAudio(desc); err != nil {
			return nil, err
		}
	}
	var audioMedia *description.Media
	if audio != nil {
		audioMedia = audio.Media
	}
	m := &Mount{
		path: path, media: media, forma: forma, audio: audio, newEpoch: true,
		viewers: make(map[*gortsplib.ServerSession]time.Time),
		sinks:   make(map[*sink]struct{}),
		reg:     reg,
	}
	var err error
	if m.enc, err = h264desc.NewEncoder(forma); err != nil {
		return nil, err
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	m.lastRTP = int64(binary.BigEndian.Uint32(b[:]) >> 1)
	m.stream = &gortsplib.ServerStream{Server: gs, Desc: desc}
	if err := m.stream.Initialize(); err != nil {
		return nil, err
	}
	if m.direct, err = newDirectStream(gs, desc, media, audioMedia); err != nil {
		m.stream.Close()
		return nil, err
	}
	m.ssrc = localSSRC(m.stream, media)
	reg.add(m.ssrc, &m.video)
	if gt != nil {
		m.tunnel = &gortsplib.ServerStream{Server: gt, Desc: desc}
		if err := m.tunnel.Initialize(); err != nil {
			m.tunnel = nil
			m.close()
			return nil, err
		}
		// The tunnel connections' join gates find the video by its SSRC.
		reg.add(localSSRC(m.tunnel, media), &m.video)
	}
	return m, nil
}

// localSSRC is the SSRC st sends md's format with.
func localSSRC(st *gortsplib.ServerStream, md *description.Media) uint32 {
	return st.Stats().Medias[md].Formats[md.Formats[0]].LocalSSRC
}

// Path is the mount's path, e.g. "/test".
func (m *Mount) Path() string { return m.path }

// SetParams replaces the SPS and PPS announced to viewers that join from now on.
func (m *Mount) SetParams(sps, pps []byte) {
	m.forma.SafeSetParams(sps, pps)
}

// OnViewerJoin sets the function called (from gortsplib's goroutine) when a
// viewer starts playing. It must not block.
func (m *Mount) OnViewerJoin(f func()) {
	m.vmu.Lock()
	m.onJoin = f
	m.vmu.Unlock()
}

func (m *Mount) viewerJoined(ss *gortsplib.ServerSession) {
	m.vmu.Lock()
	if _, ok := m.viewers[ss]; !ok {
		if n := m.playing(ss); n != nil {
			n.Add(1)
		}
	}
	m.viewers[ss] = time.Now()
	f := m.onJoin
	m.vmu.Unlock()
	if f != nil {
		f()
	}
}

// StartTimeline makes the next WriteAccessUnit start a new producer timeline:
// its PTS is placed after the last written frame by the wall time that passed,
// so RTP timestamps never go backwards across producers.
func (m *Mount) StartTimeline() {
	m.mu.Lock()
	m.newEpoch = true
	m.mu.Unlock()
}

// viewerLeft forgets a session; it reports whether it was a viewer.
func (m *Mount) viewerLeft(ss *gortsplib.ServerSession) bool {
	m.vmu.Lock()
	defer m.vmu.Unlock()
	return m.removeViewerLocked(ss)
}

// removeViewerLocked removes ss from the viewers, reporting whether it was
// one; m.vmu is held.
func (m *Mount) removeViewerLocked(ss *gortsplib.ServerSession) bool {
	if _, ok := m.viewers[ss]; !ok {
		return false
	}
	delete(m.viewers, ss)
	if n := m.playing(ss); n != nil {
		n.Add(-1)
	}
	return true
}

// playing is the count of the viewers of ss's stream, nil for the direct
// stream, which the mount writes to its viewers itself.
func (m *Mount) playing(ss *gortsplib.ServerSession) *atomic.Int32 {
	switch st := ss.Stream(); {
	case st == m.stream:
		return &m.onStream
	case m.tunnel != nil && st == m.tunnel:
		return &m.onTunnel
	}
	return nil
}

// dropSlow forgets a viewer whose write queue overflowed; it reports whether
// the session was still counted as a viewer (so it is counted once).
func (m *Mount) dropSlow(ss *gortsplib.ServerSession) bool {
	m.vmu.Lock()
	defer m.vmu.Unlock()
	if !m.removeViewerLocked(ss) {
		return false
	}
	m.slow++
	return true
}

// droppedUDP counts n packets that a UDP viewer's full queue or the RTP
// socket refused, and logs it, with args, the first time and then at most
// once per udpDropLogEvery.
func (m *Mount) droppedUDP(n uint64, args ...any) {
	total := m.udpDropped.Add(n)
	now := time.Now().UnixNano()
	last := m.udpLogged.Load()
	if last != 0 && now-last < int64(udpDropLogEvery) {
		return
	}
	if !m.udpLogged.CompareAndSwap(last, now) || m.log == nil {
		return
	}
	m.log.Warn("server behind sending to UDP viewers, packets dropped",
		append([]any{"path", m.path, "dropped_udp_packets", total}, args...)...)
}

// droppedDirect counts and logs n packets to a UDP viewer that the RTP
// socket had no room for.
func (m *Mount) droppedDirect(n uint64) { m.droppedUDP(n, "error", "RTP socket buffer full") }

// udpDropLogEvery bounds the log lines of UDP drops, which come by the
// packet while the server is behind.
const udpDropLogEvery = 10 * time.Second

// DroppedUDPPackets is the number of RTP and RTCP packets not sent to UDP
// viewers because the server had fallen behind sending to them (their write
// queue or the RTP socket's buffer was full). Those viewers are kept: UDP viewers expect loss, and the
// cause is the server's, not theirs.
func (m *Mount) DroppedUDPPackets() uint64 { return m.udpDropped.Load() }

// WithheldPackets is the number of video packets held back from viewers
// that had started playing in the middle of a GOP, until their first IDR
// (joingate.go): P-frames they could not have decoded.
func (m *Mount) WithheldPackets() uint64 { return m.video.withheld.Load() }

// SlowViewers is the number of viewers disconnected because they did not
// read fast enough.
func (m *Mount) SlowViewers() uint64 {
	m.vmu.Lock()
	defer m.vmu.Unlock()
	return m.slow
}

// BytesSent is the number of H.264 bytes written to the mount, once
// whatever the number of viewers.
func (m *Mount) BytesSent() uint64 { return m.bytes.Load() }

// Sink receives every access unit written to a mount: non-empty NAL units
// without start codes (valid only during the call), the presentation time
// on the mount's timeline (monotonic across producers) and the capture
// time. It is called from the encoder's goroutine and must not block.
type Sink func(au [][]byte, pts time.Duration, capture time.Time)

type sink struct{ f Sink }

// AddSink registers f as a consumer of the mount besides its RTSP viewers
// (a browser preview, a push to another server). Like a joining viewer it
// asks for an IDR, and it counts as a consumer for on-demand encoding. The
// returned function removes it.
func (m *Mount) AddSink(f Sink) (remove func()) {
	s := &sink{f: f}
	m.vmu.Lock()
	m.sinks[s] = struct{}{}
	join := m.onJoin
	m.vmu.Unlock()
	if join != nil {
		join()
	}
	return func() {
		m.vmu.Lock()
		delete(m.sinks, s)
		m.vmu.Unlock()
	}
}

// Active reports whether anything consumes the mount: a viewer or a sink.
func (m *Mount) Active() bool {
	m.vmu.Lock()
	defer m.vmu.Unlock()
	return len(m.viewers) > 0 || len(m.sinks) > 0
}

// ViewerInfo describes one RTSP viewer.
type ViewerInfo struct {
	Remote    string    // the viewer's address
	Transport string    // "UDP", "TCP" or "UDP-multicast"
	Since     time.Time // when it started playing
	BytesSent uint64    // bytes sent to it
}

// ViewerInfos describes the mount's viewers.
func (m *Mount) ViewerInfos() []ViewerInfo {
	m.vmu.Lock()
	sessions := make(map[*gortsplib.ServerSession]time.Time, len(m.viewers))
	for ss, t := range m.viewers {
		sessions[ss] = t
	}
	m.vmu.Unlock()
	direct := m.direct.sentTo()
	out := make([]ViewerInfo, 0, len(sessions))
	for ss, since := range sessions {
		v := ViewerInfo{Since: since}
		if conns := ss.Conns(); len(conns) > 0 {
			v.Remote = conns[0].NetConn().RemoteAddr().String()
		}
		if tr := ss.Transport(); tr != nil {
			v.Transport = tr.Protocol.String()
		}
		if st := ss.Stats(); st != nil {
			v.BytesSent = st.OutboundBytes
		}
		v.BytesSent += direct[ss]
		out = append(out, v)
	}
	return out
}

// BytesOut is the number of RTP and RTCP bytes sent to the mount's viewers,
// those gone included.
func (m *Mount) BytesOut() uint64 {
	n := m.stream.Stats().OutboundBytes + m.direct.stream.Stats().OutboundBytes + m.direct.bytesOut()
	if m.tunnel != nil {
		n += m.tunnel.Stats().OutboundBytes
	}
	return n
}

// Viewers is the number of sessions playing the mount.
func (m *Mount) Viewers() int {
	m.vmu.Lock()
	defer m.vmu.Unlock()
	return len(m.viewers)
}

// WriteAccessUnit packetises one access unit (non-empty NAL units without
// start codes) and writes it to every viewer. pts is the producer's
// presentation time, rounded to the nearest 90 kHz tick; capture is the
// wall-clock time of capture sent in RTCP sender reports. The NAL units may
// be reused once it returns.
func (m *Mount) WriteAccessUnit(au [][]byte, pts time.Duration, capture time.Time) error {
	for _, n := range au {
		if len(n) == 0 {
			// Sinks read each NAL unit's type from its first byte.
			return fmt.Errorf("write %s: empty NAL unit", m.path)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ticks := rtptime.Ticks(pts, h264desc.ClockRate)
	if m.newEpoch {
		next := m.lastRTP + 1
		if m.started {
			next = m.lastRTP + max(1, rtptime.Ticks(time.Since(m.lastWall), h264desc.ClockRate))
		}
		m.base = next - ticks
		m.newEpoch = false
	}
	rtpTS := m.base + ticks
	if m.started && rtpTS <= m.lastRTP {
		// Timestamps never go backwards: a producer clock that jumps back is
		// clamped to one tick after the last frame.
		rtpTS = m.lastRTP + 1
		m.base = rtpTS - ticks
	}
	pkts, err := m.enc.Encode(au)
	if err != nil {
		return fmt.Errorf("packetise %s: %w", m.path, err)
	}
	idr := h264.IsRandomAccess(au)
	to := fanout{stream: m.onStream.Load() > 0, tunnel: m.onTunnel.Load() > 0, direct: m.direct.begin()}
	for i, p := range pkts {
		p.Timestamp = uint32(rtpTS)
		p.SSRC = m.ssrc // as gortsplib sets it: the kept copy is the packet sent
		m.video.mark(p.SequenceNumber, idr && i == 0)
		b, err := p.Marshal()
		if err != nil {
			return fmt.Errorf("write %s: %w", m.path, err)
		}
		m.video.sent.keep(p.SequenceNumber, b)
		if err := m.writePacket(to, m.media, p, capture); err != nil {
			return fmt.Errorf("write %s: %w", m.path, err)
		}
	}
	for _, n := range au {
		m.bytes.Add(uint64(len(n)))
	}
	if !m.started {
		m.origin = rtpTS
	}
	if m.audio != nil {
		if err := m.writeAudio(rtptime.Duration(rtpTS-m.origin, h264desc.ClockRate), capture, to); err != nil {
			return err
		}
	}
	if to.direct {
		m.direct.write(idr, func(n uint64) { m.video.withheld.Add(n) }, m.droppedDirect)
	}
	m.vmu.Lock()
	for s := range m.sinks {
		s.f(au, rtptime.Duration(rtpTS-m.origin, h264desc.ClockRate), capture)
	}
	m.vmu.Unlock()
	m.started = true
	m.lastRTP = rtpTS
	m.lastWall = time.Now()
	return nil
}

// fanout is which of a mount's streams an access unit goes to: those with
// a viewer.
type fanout struct{ stream, tunnel, direct bool }

// writePacket writes p, of md, to the streams of to: gortsplib's, and the
// direct stream's access unit. It is called with m.mu held.
func (m *Mount) writePacket(to fanout, md *description.Media, p *rtp.Packet, ntp time.Time) error {
	if to.stream {
		if err := m.stream.WritePacketRTPWithNTP(md, p, ntp); err != nil {
			return err
		}
	}
	if to.tunnel {
		if err := m.tunnel.WritePacketRTPWithNTP(md, p, ntp); err != nil {
			return err
		}
	}
	switch {
	case !to.direct:
		return nil
	case md == m.media:
		return m.direct.addVideo(p, ntp)
	default:
		return m.direct.addAudio(p, ntp)
	}
}

// writeAudio writes the silent frames due by the video frame at pts (on
// the sinks' timeline) to the streams of to. It is called with m.mu held.
func (m *Mount) writeAudio(pts time.Duration, capture time.Time, to fanout) error {
	pkts, ntp, err := m.audio.Packets(pts, capture)
	if err != nil {
		return fmt.Errorf("%s: %w", m.path, err)
	}
	for _, p := range pkts {
		if err := m.writePacket(to, m.audio.Media, p, ntp); err != nil {
			return fmt.Errorf("write %s audio: %w", m.path, err)
		}
	}
	return nil
}

func (m *Mount) close() {
	m.direct.close()
	m.stream.Close()
	m.reg.remove(m.ssrc, &m.video)
	if m.tunnel != nil {
		m.reg.remove(localSSRC(m.tunnel, m.media), &m.video)
		m.tunnel.Close()
	}
}
