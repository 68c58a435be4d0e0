package rtsp

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/framecast/framecast/internal/testkit"
)

// directPair is a direct coalescingConn on a socket of 127.0.0.1 with a
// small send buffer, playing, and the peer's end of it.
func directPair(t *testing.T) (*coalescingConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl := newCoalescingListener(ln, newVideoRegistry())
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	nc, err := cl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := nc.(*coalescingConn)
	c.Conn.(*net.TCPConn).SetWriteBuffer(16 << 10)
	peer.(*net.TCPConn).SetReadBuffer(16 << 10)
	if !c.startDirect(5 * time.Second) {
		t.Fatal("a plain TCP connection cannot be direct")
	}
	played := make(chan struct{})
	c.playNext(func() { close(played) })
	res := []byte("RTSP/1.0 200 OK\r\nCSeq: 4\r\n\r\n")
	if _, err := c.Write(res); err != nil {
		t.Fatal(err)
	}
	<-played
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(peer, res); err != nil {
		t.Fatal(err)
	}
	return c, peer
}

// accessUnit is n packets of size bytes, each byte telling the packet's
// number and its place.
func accessUnit(first, n, size int) [][]byte {
	var au [][]byte
	for i := range n {
		p := make([]byte, size)
		for j := range p {
			p[j] = byte(first+i) ^ byte(j)
		}
		au = append(au, p)
	}
	return au
}

// interleave is what writeAU writes of video on channel ch.
func interleave(ch byte, video [][]byte) []byte {
	var b []byte
	for _, p := range video {
		b = append(b, '$', ch, byte(len(p)>>8), byte(len(p)))
		b = append(b, p...)
	}
	return b
}

// TestADirectConnNeverWaitsForItsViewer: the mount's writes to a viewer
// that does not read return at once, what the socket does not take is
// kept, and once more than directBacklogMax is kept the viewer is too slow.
func TestADirectConnNeverWaitsForItsViewer(t *testing.T) {
	c, _ := directPair(t)
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if _, _, err := c.writeAU(new(directScratch), 0, accessUnit(i, 40, 1400), -1, nil); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errTooSlow) {
			t.Fatalf("writes to a viewer that does not read failed with %v, want %v", err, errTooSlow)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write to a viewer that does not read waited for it")
	}
	if _, err := c.Write([]byte("RTSP/1.0 200 OK\r\n\r\n")); !errors.Is(err, errTooSlow) {
		t.Errorf("gortsplib's write after the viewer was too slow: %v, want %v", err, errTooSlow)
	}
}

// TestADirectConnKeepsEverythingInOrder: access units and gortsplib's
// writes go out whole and in the order written, those kept while the
// viewer's socket was full included, once it reads again.
func TestADirectConnKeepsEverythingInOrder(t *testing.T) {
	c, peer := directPair(t)
	var want []byte
	for i := range 20 {
		au := accessUnit(i, 30, 1400)
		if ok, _, err := c.writeAU(new(directScratch), 2, au, 4, [][]byte{{byte(i), 1, 2}}); !ok || err != nil {
			t.Fatalf("access unit %d: written %v, %v", i, ok, err)
		}
		want = append(want, interleave(2, au)...)
		want = append(want, interleave(4, [][]byte{{byte(i), 1, 2}})...)
		resp := []byte("RTSP/1.0 200 OK\r\nCSeq: " + string(rune('a'+i)) + "\r\n\r\n")
		if _, err := c.Write(resp); err != nil {
			t.Fatal(err)
		}
		want = append(want, resp...)
	}
	c.mu.Lock()
	kept := c.direct.draining
	c.mu.Unlock()
	if !kept {
		t.Error("nothing was kept for a viewer that had not read 800 KB")
	}
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		t.Fatalf("the viewer got a different stream from byte %d of %d", i, len(want))
	}
}

// TestAViewerIsWrittenByItsMount: a viewer over plain TCP or UDP gets
// the mount's video and audio from the mount (none of it through
// gortsplib's write queue), with the SSRCs its SETUPs announced, video
// from an IDR on, sequence numbers without a gap, and RTCP sender reports.
func TestAViewerIsWrittenByItsMount(t *testing.T) {
	period := senderReportPeriod
	senderReportPeriod = 200 * time.Millisecond
	t.Cleanup(func() { senderReportPeriod = period })
	for _, proto := range []gortsplib.Protocol{gortsplib.ProtocolTCP, gortsplib.ProtocolUDP} {
		t.Run(proto.String(), func(t *testing.T) { testAViewerIsWrittenByItsMount(t, proto) })
	}
}

func testAViewerIsWrittenByItsMount(t *testing.T, proto gortsplib.Protocol) {
	sps := []byte{0x67, 0x64, 0x00, 0x28, 0xac}
	pps := []byte{0x68, 0xee, 0x3c, 0xb0}
	cfg := Config{Address: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}
	cfg.UDPRTPAddress, cfg.UDPRTCPAddress = testkit.UDPPair(t)
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	m, err := s.MountWith("/direct", sps, pps, MountConfig{SilentAudio: true})
	if err != nil {
		t.Fatal(err)
	}
	u, err := base.ParseURL("rtsp://" + s.Addr().String() + "/direct")
	if err != nil {
		t.Fatal(err)
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	var forma *format.H264
	video := desc.FindFormat(&forma)
	var (
		mu          sync.Mutex
		videoPkts   []*rtp.Packet
		audioPkts   int
		reports     = map[uint32]bool{}
		enough      = make(chan struct{})
		enoughOnce  sync.Once
		wantReports = 2
	)
	check := func() {
		if len(videoPkts) >= 40 && audioPkts > 0 && len(reports) == wantReports {
			enoughOnce.Do(func() { close(enough) })
		}
	}
	c.OnPacketRTPAny(func(md *description.Media, _ format.Format, pkt *rtp.Packet) {
		mu.Lock()
		defer mu.Unlock()
		if md == video {
			videoPkts = append(videoPkts, pkt)
		} else {
			audioPkts++
		}
		check()
	})
	c.OnPacketRTCPAny(func(_ *description.Media, p rtcp.Packet) {
		mu.Lock()
		defer mu.Unlock()
		if sr, ok := p.(*rtcp.SenderReport); ok {
			reports[sr.SSRC] = true
		}
		check()
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	p := nalu(0x41, 3000) // a P frame of 3 packets
	idr := [][]byte{sps, pps, nalu(0x65, 5000)}
	deadline := time.After(10 * time.Second)
	for i := 1; ; i++ {
		au := [][]byte{p}
		if i%5 == 0 {
			au = idr
		}
		if err := m.WriteAccessUnit(au, time.Duration(i)*33*time.Millisecond, time.Now()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-enough:
		case <-time.After(10 * time.Millisecond):
			continue
		case <-deadline:
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("in 10 s: %d video packets, %d audio, sender reports of %d SSRCs", len(videoPkts), audioPkts, len(reports))
		}
		break
	}
	if !m.direct.active() {
		t.Errorf("the %s viewer is not one its mount writes to", proto)
	}
	mu.Lock()
	defer mu.Unlock()
	var first h264.NALUType
	if pl := videoPkts[0].Payload; len(pl) > 0 {
		first = h264.NALUType(pl[0] & 0x1f)
	}
	if first != h264.NALUTypeSPS && first != h264.NALUTypeSTAPA && first != h264.NALUTypeIDR {
		t.Errorf("the viewer's first video packet is NAL type %d, not an IDR's", first)
	}
	for i := 1; i < len(videoPkts); i++ {
		if videoPkts[i].SequenceNumber != videoPkts[i-1].SequenceNumber+1 {
			t.Fatalf("video packet %d: sequence number %d after %d", i, videoPkts[i].SequenceNumber, videoPkts[i-1].SequenceNumber)
		}
	}
	if got, want := videoPkts[0].SSRC, m.direct.videoSSRC; got != want {
		t.Errorf("video SSRC %08x, want the direct stream's %08x", got, want)
	}
	if !reports[m.direct.videoSSRC] || !reports[m.direct.audioSSRC] {
		t.Errorf("sender reports of %v, want the direct stream's video and audio", reports)
	}
	if st := m.stream.Stats(); st.OutboundBytes != 0 {
		t.Errorf("gortsplib's stream sent %d bytes; the viewer is the mount's", st.OutboundBytes)
	}
	if infos := m.ViewerInfos(); len(infos) != 1 || infos[0].BytesSent == 0 {
		t.Errorf("viewer infos %+v: want one viewer with bytes sent", infos)
	}
}

// TestATooSlowViewerIsFoundWhoeverWritesFirst: a viewer's connection
// found too slow by one of gortsplib's writes (a sender report) rather
// than by the mount's is still reported as too slow when its session
// closes, so that it is counted.
func TestATooSlowViewerIsFoundWhoeverWritesFirst(t *testing.T) {
	c, _ := directPair(t)
	var d directStream
	ss := &gortsplib.ServerSession{}
	d.add(&directViewer{ss: ss, conn: c, audio: -1})
	c.mu.Lock()
	err := c.keepLocked([][]byte{make([]byte, directBacklogMax+1)}, 0) // as an SR write that overflows
	c.mu.Unlock()
	if !errors.Is(err, errTooSlow) {
		t.Fatalf("keeping more than the bound: %v, want %v", err, errTooSlow)
	}
	if !d.remove(ss) {
		t.Error("the session's viewer, too slow, is not reported so")
	}
	if d.remove(ss) {
		t.Error("a session removed already is reported too slow again")
	}
}
