package web

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/auqueue"
	"github.com/framecast/framecast/internal/h264desc"
	"github.com/framecast/framecast/internal/rtptime"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

const (
	// previewQueueLen is the number of access units queued for one preview
	// (a quarter second at 30 fps). When the preview's goroutine falls
	// behind, new ones are dropped and counted, and the preview skips to
	// the next IDR, which it asks for.
	previewQueueLen = 8
	// rtpMTU is the largest RTP payload sent, pion's own outbound size.
	rtpMTU = 1200
	// idrAskInterval is the least time between two IDRs a preview asks for
	// (after a picture loss indication or a drop); every RTSP viewer gets
	// them too.
	idrAskInterval = time.Second
)

// previewCodec is what previews are sent: H.264 Constrained Baseline,
// level 3.1, packetization mode 1 (FU-A), what x264's ultrafast preset
// produces and what Chromium decodes in WebRTC. level-asymmetry-allowed lets
// a browser that offers another level accept it.
var previewCodec = webrtc.RTPCodecCapability{
	MimeType:    webrtc.MimeTypeH264,
	ClockRate:   h264desc.ClockRate,
	SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
}

// Errors a preview request can get.
var (
	errTooManyPreviews = errors.New("too many previews open")
	errTooManyFromHost = errors.New("too many previews open from this address")
	errBadOffer        = errors.New("the offer is not valid SDP")
	errNoH264          = errors.New("the offer has no H.264 video with packetization-mode=1 that this server can send")
)

// newWebRTCAPI makes the pion API every preview uses: H.264 only, NACK
// retransmissions and RTCP reports, ICE host candidates on ips only, no
// mDNS, no STUN.
func newWebRTCAPI(ips []net.IP, log *slog.Logger) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: previewCodec, PayloadType: 102}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("register H.264: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, ir); err != nil {
		return nil, fmt.Errorf("nack: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("rtcp reports: %w", err)
	}
	se := webrtc.SettingEngine{LoggerFactory: pionLogs{log}}
	var types []webrtc.NetworkType
	v4, v6 := false, false
	for _, ip := range ips {
		if ip.To4() != nil {
			v4 = true
		} else {
			v6 = true
		}
	}
	if v4 {
		types = append(types, webrtc.NetworkTypeUDP4)
	}
	if v6 {
		types = append(types, webrtc.NetworkTypeUDP6)
	}
	se.SetNetworkTypes(types)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool {
		for _, a := range ips {
			if a.Equal(ip) {
				return true
			}
		}
		return false
	})
	// Browsers hide their addresses behind mDNS names; resolving them would
	// multicast on the LAN. Their connectivity checks reach the server's
	// candidates anyway, and reveal their address then.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// A closed tab is noticed in seconds, not the default half a minute.
	se.SetICETimeouts(4*time.Second, 8*time.Second, time.Second)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// peer is one browser's preview of one stream: a WebRTC peer connection fed
// by a sink on the stream. The sink (the queue's Push) copies each access
// unit into a bounded queue; the peer's goroutine packetises it and sends
// it.
type peer struct {
	s        *Server
	id       string
	path     string
	remote   string
	host     string // remote's IP address, for MaxPreviewsPerAddress
	pc       *webrtc.PeerConnection
	track    *webrtc.TrackLocalStaticRTP
	sender   *webrtc.RTPSender
	counters *pathCounters

	// queue takes the access units, in Annex-B for pion's payloader, from
	// the stream's encoder goroutine to the peer's. Its drops count in the
	// path's too; run asks for the IDRs it wants.
	queue  *auqueue.Queue
	askIDR chan struct{} // a lost picture: ask the stream for an IDR

	connected chan struct{}
	connOnce  sync.Once
	stop      chan struct{}
	stopOnce  sync.Once

	since atomic.Int64 // when it connected, Unix ns
	bytes atomic.Uint64
}

// refusedCounts are the previews refused for a limit, for the metrics.
type refusedCounts struct {
	total, perAddress atomic.Uint64 // MaxPreviews, MaxPreviewsPerAddress
}

// hostOf is the IP address of a remote "host:port".
func hostOf(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// roomLocked says whether a new preview from host fits the limits, and
// counts a refusal; s.mu is held.
func (s *Server) roomLocked(host string) error {
	if len(s.peers) >= s.opts.MaxPreviews {
		s.refused.total.Add(1)
		return errTooManyPreviews
	}
	if limit := s.opts.MaxPreviewsPerAddress; limit > 0 {
		n := 0
		for _, p := range s.peers {
			if p.host == host {
				n++
			}
		}
		if n >= limit {
			s.refused.perAddress.Add(1)
			return fmt.Errorf("%w (%s): at most %d at once", errTooManyFromHost, host, limit)
		}
	}
	return nil
}

// newPeer opens a peer connection for a preview of path.
func (s *Server) newPeer(path, remote string) (*peer, error) {
	host := hostOf(remote)
	s.mu.Lock()
	err := s.roomLocked(host)
	s.mu.Unlock()
	if err != nil {
		s.log.Debug("preview refused", "path", path, "remote", remote, "error", err)
		return nil, err // before the cost of a certificate
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("peer connection: %w", err)
	}
	track, err := webrtc.NewTrackLocalStaticRTP(previewCodec, "video", "framecast")
	if err != nil {
		pc.Close()
		return nil, err
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		pc.Close()
		return nil, err
	}
	var id [16]byte
	rand.Read(id[:])
	p := &peer{
		s: s, id: hex.EncodeToString(id[:]), path: path, remote: remote, host: host, pc: pc, track: track, sender: sender,
		askIDR: make(chan struct{}, 1), connected: make(chan struct{}), stop: make(chan struct{}),
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			p.connOnce.Do(func() {
				p.since.Store(time.Now().UnixNano())
				close(p.connected)
			})
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			p.close()
		}
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		pc.Close()
		return nil, ErrClosed
	}
	if err := s.roomLocked(host); err != nil { // another offer took the slot meanwhile
		pc.Close()
		return nil, err
	}
	c := s.counted[path]
	if c == nil {
		c = &pathCounters{}
		s.counted[path] = c
	}
	p.counters = c
	p.queue = newPreviewQueue(c)
	s.peers[p.id] = p
	s.wg.Add(2)
	go p.run()
	go p.readRTCP()
	return p, nil
}

// answer takes the browser's offer and returns the answer, with every
// server candidate in it (no trickle ICE).
func (p *peer) answer(ctx context.Context, offer string) (string, error) {
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("offer: %w", err)
	}
	ans, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("answer: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("gathering ICE candidates: %w", ctx.Err())
	}
	codecs := p.sender.GetParameters().Codecs
	if len(codecs) == 0 || !strings.Contains(codecs[0].SDPFmtpLine, "packetization-mode=1") {
		return "", errNoH264
	}
	return p.pc.LocalDescription().SDP, nil
}

// checkOffer parses an SDP offer: it must have H.264 video with
// packetization mode 1, the only one sent (FU-A fragments and STAP-A
// aggregates).
func checkOffer(offer string) error {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return fmt.Errorf("%w: %w", errBadOffer, err)
	}
	for _, c := range d.GetCodecMap() {
		if strings.EqualFold(c.Name, "H264") && c.ClockRate == h264desc.ClockRate && strings.Contains(c.Fmtp, "packetization-mode=1") {
			return nil
		}
	}
	return errNoH264
}

// close ends the preview; its goroutine closes the peer connection.
func (p *peer) close() {
	p.stopOnce.Do(func() { close(p.stop) })
}

// run waits for the browser to connect, then sends it the stream until the
// preview closes.
func (p *peer) run() {
	defer p.s.wg.Done()
	defer p.finish()
	timeout := time.NewTimer(p.s.opts.ConnectTimeout)
	select {
	case <-p.connected:
		timeout.Stop()
	case <-timeout.C:
		p.s.unconnected.Add(1)
		p.s.log.Info("preview did not connect", "path", p.path, "remote", p.remote, "after", p.s.opts.ConnectTimeout)
		return
	case <-p.stop:
		timeout.Stop()
		return
	}
	// The sink is added only now, so that the IDR it asks for reaches the
	// browser instead of being sent before DTLS is up.
	remove, err := p.s.fc.AddSink(p.path, p.queue.Push)
	if err != nil {
		p.s.log.Info("preview ended", "path", p.path, "remote", p.remote, "error", err)
		return
	}
	defer func() { remove() }()
	p.counters.previews.Add(1)
	route := ""
	if pair, err := p.sender.Transport().ICETransport().GetSelectedCandidatePair(); err == nil && pair != nil {
		route = fmt.Sprintf("%s:%d → %s:%d", pair.Local.Address, pair.Local.Port, pair.Remote.Address, pair.Remote.Port)
	}
	p.s.log.Info("preview playing", "path", p.path, "remote", p.remote, "id", p.id, "ice", route)

	var r [6]byte
	rand.Read(r[:])
	seq := binary.BigEndian.Uint16(r[:2])
	ts0 := binary.BigEndian.Uint32(r[2:])
	pay := &codecs.H264Payloader{}
	var lastAsk time.Time
	ask := time.NewTimer(time.Hour)
	ask.Stop()
	defer ask.Stop()
	for {
		select {
		case <-p.stop:
			return
		case u := <-p.queue.Units():
			p.send(pay, u, &seq, ts0)
			p.queue.Release(u)
		case <-p.askIDR:
			ask.Reset(max(0, idrAskInterval-time.Since(lastAsk)))
		case <-p.queue.Wanted():
			ask.Reset(max(0, idrAskInterval-time.Since(lastAsk)))
		case <-ask.C:
			// A new sink is a joining viewer: the stream encodes an IDR.
			// Until it comes, the access units that cannot be decoded
			// without the lost ones are skipped.
			lastAsk = time.Now()
			remove()
			p.queue.WaitIDR()
			if remove, err = p.s.fc.AddSink(p.path, p.queue.Push); err != nil {
				remove = func() {}
				p.s.log.Info("preview ended", "path", p.path, "remote", p.remote, "error", err)
				return
			}
		}
	}
}

// finish closes the peer connection and forgets the preview.
func (p *peer) finish() {
	p.close()
	if err := p.pc.Close(); err != nil {
		p.s.log.Debug("close peer connection", "path", p.path, "error", err)
	}
	p.s.mu.Lock()
	delete(p.s.peers, p.id)
	p.s.mu.Unlock()
	p.s.log.Info("preview left", "path", p.path, "remote", p.remote, "id", p.id,
		"bytes", p.bytes.Load(), "dropped", p.queue.Dropped())
}

// readRTCP reads the browser's RTCP (which runs the NACK responder and the
// reports) until the peer connection closes, and asks for an IDR when the
// browser reports a lost picture.
func (p *peer) readRTCP() {
	defer p.s.wg.Done()
	for {
		pkts, _, err := p.sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				select {
				case p.askIDR <- struct{}{}:
				default:
				}
			}
		}
	}
}

// newPreviewQueue makes a preview's queue, whose drops count in c too.
func newPreviewQueue(c *pathCounters) *auqueue.Queue {
	return auqueue.New(auqueue.Config{Len: previewQueueLen, AnnexB: true, Total: &c.dropped})
}

// send packetises one access unit (FU-A, SPS and PPS in a STAP-A with the
// IDR) with an RTP timestamp from its presentation time, and sends it.
func (p *peer) send(pay *codecs.H264Payloader, u *auqueue.Unit, seq *uint16, ts0 uint32) {
	ts := ts0 + uint32(rtptime.Ticks(u.PTS, h264desc.ClockRate))
	payloads := pay.Payload(rtpMTU, u.Bytes())
	for i, pl := range payloads {
		pkt := &rtp.Packet{
			Header:  rtp.Header{Version: 2, Marker: i == len(payloads)-1, SequenceNumber: *seq, Timestamp: ts},
			Payload: pl,
		}
		*seq++
		if err := p.track.WriteRTP(pkt); err != nil {
			p.s.log.Debug("preview write", "path", p.path, "remote", p.remote, "error", err)
			return
		}
		n := uint64(pkt.MarshalSize())
		p.bytes.Add(n)
		p.counters.bytes.Add(n)
	}
}

// info describes the preview as a viewer of its stream.
func (p *peer) info() (framecast.ViewerInfo, bool) {
	since := p.since.Load()
	if since == 0 {
		return framecast.ViewerInfo{}, false
	}
	return framecast.ViewerInfo{Remote: p.remote, Transport: "WebRTC", Since: time.Unix(0, since), BytesSent: p.bytes.Load()}, true
}

// previews describes the connected previews of each path.
func (s *Server) previews() map[string][]framecast.ViewerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]framecast.ViewerInfo)
	for _, p := range s.peers {
		if v, ok := p.info(); ok {
			out[p.path] = append(out[p.path], v)
		}
	}
	return out
}
