package rtsp

import (
	"bytes"
	"encoding/binary"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

func TestIDRMarksKeepTheLatestMarkOfEverySequenceNumber(t *testing.T) {
	var b mountVideo
	steps := []struct {
		seq  uint16
		idr  bool
		want map[uint16]bool // begins after the step
	}{
		{0, true, map[uint16]bool{0: true, 1: false}},
		{63, true, map[uint16]bool{0: true, 63: true, 64: false}},
		{64, true, map[uint16]bool{63: true, 64: true}},
		{0, false, map[uint16]bool{0: false, 63: true}},
		{65535, true, map[uint16]bool{65535: true, 0: false}},
		{65535, false, map[uint16]bool{65535: false}},
		{63, false, map[uint16]bool{63: false, 64: true}},
	}
	for i, s := range steps {
		b.mark(s.seq, s.idr)
		for seq, want := range s.want {
			if got := b.begins(seq); got != want {
				t.Errorf("step %d (mark %d %v): begins(%d) = %v, want %v", i, s.seq, s.idr, seq, got, want)
			}
		}
	}
}

// rtpHeader is a 12-byte RTP header with ssrc and seq, and a payload byte.
func rtpHeader(ssrc uint32, seq uint16, marker bool) []byte {
	p := []byte{0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xAB}
	if marker {
		p[1] |= 0x80
	}
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[8:], ssrc)
	return p
}

// TestJoinGateHoldsBackVideoUntilAnIDRBegins: a gate drops its mount's
// video packets, the tail of an IDR included, until the first packet of an
// IDR, and lets everything of that SSRC through from then on; packets of
// an SSRC no mount has (audio) and of one two mounts drew pass at once.
func TestJoinGateHoldsBackVideoUntilAnIDRBegins(t *testing.T) {
	const other, audio, shared = 0x2222, 0x3333, 0x4444
	reg := newVideoRegistry()
	var v, o, s1, s2 mountVideo
	reg.add(video, &v)
	reg.add(other, &o)
	reg.add(shared, &s1)
	reg.add(shared, &s2)
	v.mark(12, true)
	o.mark(40, true)
	for seq := uint16(13); seq < 20; seq++ {
		v.mark(seq, false)
	}

	var g joinGate
	steps := []struct {
		ssrc  uint32
		seq   uint16
		want  bool
		video *mountVideo // returned with a packet let through
	}{
		{video, 10, false, nil}, // a P-frame
		{audio, 1, true, nil},
		{video, 11, false, nil},
		{other, 39, false, nil}, // the other mount's video waits for its own IDR
		{video, 12, true, &v},   // the IDR begins
		{video, 13, true, &v},
		{other, 40, true, &o},
		{video, 14, true, &v}, // once through, every packet
		{shared, 5, true, nil},
		{audio, 2, true, nil},
	}
	for i, s := range steps {
		got, gotVideo := g.pass(reg, rtpHeader(s.ssrc, s.seq, false))
		if got != s.want || gotVideo != s.video {
			t.Errorf("step %d (ssrc %#x seq %d): pass = %v, %p; want %v, %p", i, s.ssrc, s.seq, got, gotVideo, s.want, s.video)
		}
	}
	if n := v.withheld.Load(); n != 2 {
		t.Errorf("video withheld %d packets, want 2", n)
	}
	if n := o.withheld.Load(); n != 1 {
		t.Errorf("other withheld %d packets, want 1", n)
	}
	// A new gate (a new viewer) starts closed again.
	var g2 joinGate
	if ok, _ := g2.pass(reg, rtpHeader(video, 14, false)); ok {
		t.Error("a new gate let a P-frame through")
	}
	reg.remove(video, &v)
	if ok, _ := g2.pass(reg, rtpHeader(video, 15, false)); !ok {
		t.Error("a gate held back a packet of a mount no longer registered")
	}
}

// oneVideo is a registry with one mount's video, SSRC video, whose IDR
// begins at sequence number idr.
func oneVideo(idr uint16) (*videoRegistry, *mountVideo) {
	reg, v := newVideoRegistry(), &mountVideo{}
	reg.add(video, v)
	v.mark(idr, true)
	return reg, v
}

const video = 0x1111 // the SSRC of oneVideo

// TestCoalescingConnHoldsBackANewViewersVideoUntilItsIDR: over TCP the
// connection's first video packets, up to the IDR, are not written; RTSP
// responses and RTCP are, and everything from the IDR on, in order.
func TestCoalescingConnHoldsBackANewViewersVideoUntilItsIDR(t *testing.T) {
	reg, v := oneVideo(5)
	c, rec := newTestCoalescingConn()
	c.videos = reg
	inter := func(seq uint16, marker bool) []byte {
		p := rtpHeader(video, seq, marker)
		return append([]byte{'$', 0, 0, byte(len(p))}, p...)
	}
	response := []byte("RTSP/1.0 200 OK\r\nCSeq: 4\r\n\r\n")
	rtcp := append([]byte{'$', 1, 0, 28, 0x80, 200}, make([]byte, 26)...)
	var want []byte
	for _, w := range []struct {
		p    []byte
		sent bool
	}{
		{response, true},
		{inter(3, false), false},
		{inter(4, true), false},
		{rtcp, true},
		{inter(5, false), true},
		{inter(6, true), true},
		{inter(7, true), true},
	} {
		if n, err := c.Write(w.p); n != len(w.p) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(w.p))
		}
		if w.sent {
			want = append(want, w.p...)
		}
	}
	if got := rec.joined(); !bytes.Equal(got, want) {
		t.Errorf("the viewer got %q,\nwant %q", got, want)
	}
	if n := v.withheld.Load(); n != 2 {
		t.Errorf("withheld %d packets, want 2", n)
	}

	// PAUSE, then PLAY again: its response closes the gate until the next
	// IDR; other responses do not.
	rec.writes, want = nil, nil
	other, err := (&base.Response{StatusCode: base.StatusOK, Header: base.Header{"CSeq": {"6"}}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	play, err := (&base.Response{StatusCode: base.StatusOK, Header: base.Header{"CSeq": {"7"},
		"RTP-Info": {"url=rtsp://127.0.0.1:8554/cam/trackID=0;seq=9;rtptime=1234"}}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	v.mark(11, true)
	for _, w := range []struct {
		p    []byte
		sent bool
	}{
		{other, true},
		{inter(8, true), true},
		{play, true},
		{inter(9, false), false},
		{inter(10, true), false},
		{inter(11, true), true},
		{inter(12, true), true},
	} {
		if _, err := c.Write(w.p); err != nil {
			t.Fatal(err)
		}
		if w.sent {
			want = append(want, w.p...)
		}
	}
	if got := rec.joined(); !bytes.Equal(got, want) {
		t.Errorf("after a second PLAY the viewer got %q,\nwant %q", got, want)
	}
}

// TestGSOConnHoldsBackANewViewersVideoUntilItsIDR: over UDP each viewer
// address has its own gate: a viewer already past its IDR gets a P-frame
// that a new viewer, at another address, does not.
func TestGSOConnHoldsBackANewViewersVideoUntilItsIDR(t *testing.T) {
	reg, v := oneVideo(10)
	c, old := gsoPair(t)
	c.videos = reg
	fresh := loopbackUDP(t)
	oldAddr, freshAddr := old.LocalAddr().(*net.UDPAddr), fresh.LocalAddr().(*net.UDPAddr)
	write := func(seq uint16, to *net.UDPAddr) {
		t.Helper()
		if _, err := c.WriteTo(rtpHeader(video, seq, true), to); err != nil {
			t.Fatal(err)
		}
	}
	write(9, oldAddr) // held back: the old viewer's gate is closed too
	write(10, oldAddr)
	write(11, oldAddr)
	write(11, freshAddr) // held back
	write(12, freshAddr) // held back
	v.mark(13, true)
	write(13, freshAddr)
	write(13, oldAddr)
	for _, r := range []struct {
		c    *net.UDPConn
		name string
		want []uint16
	}{{old, "old", []uint16{10, 11, 13}}, {fresh, "fresh", []uint16{13}}} {
		var got []uint16
		for _, d := range receive(t, r.c, len(r.want)) {
			got = append(got, binary.BigEndian.Uint16(d[2:4]))
		}
		if !slices.Equal(got, r.want) {
			t.Errorf("%s viewer got packets %v, want %v", r.name, got, r.want)
		}
	}
	if n := v.withheld.Load(); n != 3 {
		t.Errorf("withheld %d packets, want 3", n)
	}
}

// TestAViewerStartsAtAnIDRAndAgainAfterPause: a mount whose access units
// are mostly P-frames, an IDR every 15th. Over TCP and UDP, a viewer's
// first video packet is an IDR's, and so is its first after PAUSE and PLAY
// again. The P-frames held back are counted.
func TestAViewerStartsAtAnIDRAndAgainAfterPause(t *testing.T) {
	var written atomic.Int64        // access units written
	wrote := make(chan struct{}, 1) // a signal after each, coalesced
	s, m := streamingServerOf(t, Config{}, func(n int) []byte {
		written.Store(int64(n) + 1)
		select {
		case wrote <- struct{}{}:
		default:
		}
		if n%15 == 0 {
			return []byte{0x65, 0x88, byte(n)} // an IDR slice
		}
		return []byte{0x41, 0x9a, byte(n)} // a P slice
	})
	u, err := base.ParseURL("rtsp://" + s.Addr().String() + "/test")
	if err != nil {
		t.Fatal(err)
	}
	for _, proto := range []gortsplib.Protocol{gortsplib.ProtocolTCP, gortsplib.ProtocolUDP} {
		t.Run(proto.String(), func(t *testing.T) {
			withheld := m.WithheldPackets()
			c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto,
				OnPacketsLost: func(uint64) {}} // the packets sent while it was paused, after each PLAY
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			desc, _, err := c.Describe(u)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
				t.Fatal(err)
			}
			first := make(chan byte, 1) // the NAL type of the first packet after a PLAY
			var mu sync.Mutex
			waiting := true
			c.OnPacketRTPAny(func(_ *description.Media, _ format.Format, pkt *rtp.Packet) {
				mu.Lock()
				defer mu.Unlock()
				if waiting && len(pkt.Payload) > 0 {
					waiting = false
					first <- pkt.Payload[0] & 0x1f
				}
			})
			for i := range 3 {
				if i > 0 {
					if _, err := c.Pause(); err != nil {
						t.Fatal(err)
					}
					// PLAY again between two IDRs, mostly: an IDR comes every
					// 15 access units.
					for until := written.Load() + int64(4+3*i); written.Load() < until; {
						<-wrote
					}
					mu.Lock()
					waiting = true
					mu.Unlock()
				}
				if _, err := c.Play(nil); err != nil {
					t.Fatal(err)
				}
				select {
				case typ := <-first:
					if typ != 5 {
						t.Errorf("PLAY %d: first packet has NAL type %d, want 5 (IDR)", i+1, typ)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("PLAY %d: no packet in 10 s", i+1)
				}
			}
			if m.WithheldPackets() == withheld {
				t.Error("no packet counted as withheld")
			}
		})
	}
}

// TestGSOConnKeepsAtMostGSOMaxViewersAddresses: past the bound a new
// address is not kept: its packets go out as they come, neither held back
// nor batched.
func TestGSOConnKeepsAtMostGSOMaxViewersAddresses(t *testing.T) {
	defer func(n int) { gsoMaxViewers = n }(gsoMaxViewers)
	gsoMaxViewers = 1
	reg, _ := oneVideo(10)
	c, kept := gsoPair(t)
	c.videos = reg
	beyond := loopbackUDP(t)
	for _, w := range []struct {
		to  *net.UDPConn
		seq uint16
	}{{kept, 3}, {beyond, 4}, {kept, 10}} {
		if _, err := c.WriteTo(rtpHeader(video, w.seq, true), w.to.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []struct {
		c    *net.UDPConn
		want uint16
	}{{kept, 10}, {beyond, 4}} {
		if d := receive(t, r.c, 1)[0]; binary.BigEndian.Uint16(d[2:4]) != r.want {
			t.Errorf("got packet %d, want %d", binary.BigEndian.Uint16(d[2:4]), r.want)
		}
	}
	if n := len(c.viewers); n != 1 {
		t.Errorf("%d addresses kept, want 1", n)
	}
}
