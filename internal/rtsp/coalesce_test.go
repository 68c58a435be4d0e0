package rtsp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/pion/rtp"
)

// recordingConn is a net.Conn that records every Write, and fails them
// with err when err is set.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
	err    error
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return len(p) / 2, c.err
	}
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func (c *recordingConn) joined() []byte { return bytes.Join(c.writes, nil) }

func newTestCoalescingConn() (*coalescingConn, *recordingConn) {
	rec := &recordingConn{}
	l := newCoalescingListener(nil, nil)
	return &coalescingConn{Conn: rec, bufs: l.bufs, held: l.held}, rec
}

// interleaved is one RTP packet of n payload bytes on channel ch,
// interleaved: '$', channel, length, RTP header, payload.
func interleaved(ch byte, seq uint16, marker bool, n int) []byte {
	pt := byte(96)
	if marker {
		pt |= 0x80
	}
	pkt := []byte{0x80, pt, byte(seq >> 8), byte(seq), 0, 0, 0, 1, 0, 0, 0, 2}
	for i := range n {
		pkt = append(pkt, byte(seq)+byte(i))
	}
	return append([]byte{'$', ch, byte(len(pkt) >> 8), byte(len(pkt))}, pkt...)
}

func TestInterleavedRTPRecognisesOnePacketAndItsMarker(t *testing.T) {
	rtcp := append([]byte{'$', 1, 0, 28}, make([]byte, 28)...)
	rtcp[4], rtcp[5] = 0x80, 200 // a sender report
	tests := []struct {
		name        string
		p           []byte
		rtp, marker bool
	}{
		{"rtp", interleaved(0, 1, false, 100), true, false},
		{"rtp with marker", interleaved(0, 1, true, 100), true, true},
		{"rtp on another channel", interleaved(2, 1, true, 10), true, true},
		{"rtcp sender report", rtcp, false, false},
		{"rtsp response", []byte("RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n"), false, false},
		{"length longer than the write", interleaved(0, 1, false, 100)[:50], false, false},
		{"two packets in one write", append(interleaved(0, 1, false, 10), interleaved(0, 2, true, 10)...), false, false},
		{"not RTP version 2", func() []byte { p := interleaved(0, 1, true, 10); p[4] = 0x40; return p }(), false, false},
		{"too short for an RTP header", []byte{'$', 0, 0, 4, 0x80, 0x60, 0, 0}, false, false},
		{"empty", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rtp, marker := interleavedRTP(tt.p)
			if rtp != tt.rtp || marker != tt.marker {
				t.Errorf("interleavedRTP = %v, %v; want %v, %v", rtp, marker, tt.rtp, tt.marker)
			}
		})
	}
}

func TestCoalescingConnWritesAnAccessUnitAtItsMarker(t *testing.T) {
	c, rec := newTestCoalescingConn()
	var want []byte
	for i := range 4 {
		p := interleaved(0, uint16(i), i == 3, 1000)
		want = append(want, p...)
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write packet %d = %d, %v; want %d, nil", i, n, err, len(p))
		}
		if i < 3 && len(rec.writes) != 0 {
			t.Fatalf("after packet %d without marker: %d writes, want 0", i, len(rec.writes))
		}
	}
	if len(rec.writes) != 1 || !bytes.Equal(rec.writes[0], want) {
		t.Fatalf("%d writes; want the 4 packets in one write, in order", len(rec.writes))
	}
	if c.buf != nil {
		t.Error("a buffer is held after the marker")
	}
	// A one-packet access unit goes out at once.
	p := interleaved(0, 9, true, 100)
	c.Write(p)
	if len(rec.writes) != 2 || !bytes.Equal(rec.writes[1], p) {
		t.Errorf("one-packet access unit: %d writes, want 2", len(rec.writes))
	}
}

func TestCoalescingConnPassesRTSPResponsesThroughInOrder(t *testing.T) {
	c, rec := newTestCoalescingConn()
	res := []byte("RTSP/1.0 200 OK\r\nCSeq: 3\r\n\r\n")
	if n, err := c.Write(res); n != len(res) || err != nil {
		t.Fatalf("Write response = %d, %v", n, err)
	}
	if len(rec.writes) != 1 || !bytes.Equal(rec.writes[0], res) {
		t.Fatalf("response not written at once: %d writes", len(rec.writes))
	}
	// A response written while packets are held goes out right after them.
	a := interleaved(0, 1, false, 200)
	c.Write(a)
	c.Write(res)
	if len(rec.writes) != 2 || !bytes.Equal(rec.writes[1], append(bytes.Clone(a), res...)) {
		t.Fatalf("held packet and response: %d writes, want 2 with packet then response", len(rec.writes))
	}
	// So do an RTCP packet and a write that is not one whole packet.
	half := interleaved(0, 2, true, 200)[:100]
	c.Write(a)
	c.Write(half)
	if len(rec.writes) != 3 || !bytes.Equal(rec.writes[2], append(bytes.Clone(a), half...)) {
		t.Fatalf("held packet and partial frame: %d writes, want 3", len(rec.writes))
	}
	if c.buf != nil {
		t.Error("a buffer is held after a response")
	}
}

func TestCoalescingConnBoundsWhatItHolds(t *testing.T) {
	c, rec := newTestCoalescingConn()
	var want []byte
	const packets = 100 // 100 × 1400 bytes: several times coalesceLimit
	for i := range packets {
		p := interleaved(0, uint16(i), i == packets-1, 1400)
		want = append(want, p...)
		c.Write(p)
	}
	if len(rec.writes) < 2 {
		t.Fatalf("%d writes for %d bytes, want several", len(rec.writes), len(want))
	}
	for i, w := range rec.writes {
		if len(w) > coalesceLimit {
			t.Errorf("write %d is %d bytes, more than %d", i, len(w), coalesceLimit)
		}
	}
	if !bytes.Equal(rec.joined(), want) {
		t.Error("bytes written differ from the packets, or are out of order")
	}
	// A packet larger than the bound is written alone.
	big := interleaved(0, 1, false, coalesceLimit)
	c.Write(big)
	if last := rec.writes[len(rec.writes)-1]; !bytes.Equal(last, big) {
		t.Error("packet larger than the bound not written at once")
	}
}

func TestCoalescingConnReturnsTheErrorOfAFailedWrite(t *testing.T) {
	c, rec := newTestCoalescingConn()
	c.Write(interleaved(0, 1, false, 100))
	rec.err = errors.New("broken pipe")
	if _, err := c.Write(interleaved(0, 2, true, 100)); !errors.Is(err, rec.err) {
		t.Fatalf("Write at marker = %v, want %v", err, rec.err)
	}
	if c.buf != nil {
		t.Error("a buffer is held after a failed write")
	}
	if _, err := c.Write([]byte("RTSP/1.0 200 OK\r\n\r\n")); !errors.Is(err, rec.err) {
		t.Fatalf("Write response = %v, want %v", err, rec.err)
	}
}

// TestCoalescingConnKeepsPacketsWholeAgainstConcurrentResponses writes
// packets and responses from two goroutines, as gortsplib does: no
// response may land inside an interleaved packet.
func TestCoalescingConnKeepsPacketsWholeAgainstConcurrentResponses(t *testing.T) {
	c, rec := newTestCoalescingConn()
	res := []byte("RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n")
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 2000 {
			c.Write(interleaved(0, uint16(i), i%10 == 9, 300))
		}
	})
	wg.Go(func() {
		for range 200 {
			c.Write(res)
		}
	})
	wg.Wait()
	b := rec.joined()
	packets, responses := 0, 0
	for len(b) > 0 {
		switch {
		case b[0] == '$':
			n := 4 + int(b[2])<<8 | int(b[3])
			b = b[n:]
			packets++
		case bytes.HasPrefix(b, res):
			b = b[len(res):]
			responses++
		default:
			t.Fatalf("stream broken after %d packets and %d responses", packets, responses)
		}
	}
	if packets != 2000 || responses != 200 {
		t.Errorf("%d packets and %d responses, want 2000 and 200", packets, responses)
	}
}

// discardConn is a net.Conn whose writes go nowhere.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkCoalescingConnAccessUnit writes an access unit of 8 packets:
// copied (as over TLS) and from the mount's copy with writev (plain TCP).
func BenchmarkCoalescingConnAccessUnit(b *testing.B) {
	var au [][]byte
	for i := range 8 {
		au = append(au, interleaved(0, uint16(i), i == 7, 1400))
	}
	for _, vector := range []bool{false, true} {
		name := "copied"
		if vector {
			name = "writev"
		}
		b.Run(name, func(b *testing.B) {
			c, _, v := newTestVectorConn()
			c.Conn = discardConn{}
			c.writev = nil
			if vector {
				c.writev = func(bs *net.Buffers) error { return nil }
				for _, p := range au {
					keep(v, p)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				for _, p := range au {
					c.Write(p)
				}
			}
		})
	}
}

// newTestVectorConn is a coalescingConn as over plain TCP, with writev,
// each call of which rec records as one write, and an open gate to the
// mount video v of interleaved's SSRC, whose sentPackets the test fills.
func newTestVectorConn() (*coalescingConn, *recordingConn, *mountVideo) {
	c, rec := newTestCoalescingConn()
	reg, v := newVideoRegistry(), &mountVideo{}
	reg.add(2, v) // interleaved's SSRC
	c.videos = reg
	c.gate.open = []openSSRC{{2, v}}
	c.writev = func(b *net.Buffers) error {
		_, err := rec.Write(bytes.Join(*b, nil))
		return err
	}
	return c, rec, v
}

// keep puts the packet of the interleaved p in v's sentPackets, as the
// mount does before gortsplib writes it.
func keep(v *mountVideo, p []byte) {
	v.sent.keep(binary.BigEndian.Uint16(p[6:8]), bytes.Clone(p[4:]))
}

// writeReused writes p through c from one buffer that is overwritten
// afterwards, as gortsplib reuses each viewer's buffer for the next packet:
// what c holds must not depend on it.
func writeReused(t *testing.T, c *coalescingConn, scratch *[]byte, p []byte) {
	t.Helper()
	*scratch = append((*scratch)[:0], p...)
	if n, err := c.Write(*scratch); n != len(p) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(p))
	}
	for i := range *scratch {
		(*scratch)[i] = 0xEE
	}
}

// TestCoalescingConnWritesKeptPacketsFromTheMountsCopy: over TCP, packets
// the mount kept are held as references to its copy (nothing is copied
// into a buffer of the connection's) and go out in one writev at the
// marker, whole and in order, though the caller's buffer is overwritten
// after each write.
func TestCoalescingConnWritesKeptPacketsFromTheMountsCopy(t *testing.T) {
	c, rec, v := newTestVectorConn()
	var scratch, want []byte
	for i := range 6 {
		p := interleaved(0, uint16(100+i), i == 5, 1400)
		keep(v, p)
		want = append(want, p...)
		writeReused(t, c, &scratch, p)
		if c.buf != nil {
			t.Fatalf("packet %d: copied into a buffer although the mount kept it", i)
		}
		if i < 5 && len(rec.writes) != 0 {
			t.Fatalf("after packet %d without marker: %d writes, want 0", i, len(rec.writes))
		}
	}
	if len(rec.writes) != 1 || !bytes.Equal(rec.writes[0], want) {
		t.Fatalf("%d writes; want the 6 packets in one write, in order", len(rec.writes))
	}
	if c.vec != nil || c.buf != nil {
		t.Error("packets are held after the marker")
	}
}

// TestCoalescingConnMixesKeptAndCopiedPacketsInOrder: packets the mount
// does not have (another SSRC, one a later packet pushed out of
// sentPackets, an SRTP packet longer than the kept one), RTCP and RTSP
// responses go out among kept packets in the order written, the
// interleaved channel of each kept.
func TestCoalescingConnMixesKeptAndCopiedPacketsInOrder(t *testing.T) {
	c, rec, v := newTestVectorConn()
	rtcp := append([]byte{'$', 1, 0, 28}, make([]byte, 28)...)
	rtcp[4], rtcp[5] = 0x80, 200
	res := []byte("RTSP/1.0 200 OK\r\nCSeq: 4\r\n\r\n")
	audio := interleaved(2, 7, false, 300)
	audio[11] = 3 // another SSRC
	srtp := interleaved(0, 12, false, 1000)
	keep(v, interleaved(0, 12, false, 990)) // the plain packet, 10 bytes shorter
	pushedOut := interleaved(0, 13, false, 1000)
	keep(v, pushedOut)
	keep(v, interleaved(0, 13+sentPacketsKept, false, 1000))
	var writes [][]byte
	add := func(p []byte, kept bool) {
		if kept {
			keep(v, p)
		}
		writes = append(writes, p)
	}
	add(interleaved(0, 10, false, 1400), true)
	add(audio, false)
	add(interleaved(5, 11, false, 1400), true) // a viewer's own channel
	add(srtp, false)
	add(pushedOut, false)
	add(rtcp, false) // ends a write
	add(interleaved(0, 14, false, 1400), true)
	add(res, false) // ends a write
	add(interleaved(0, 15, false, 100), false)
	add(interleaved(0, 16, true, 1400), true) // ends a write
	var scratch, want []byte
	for _, p := range writes {
		want = append(want, p...)
		writeReused(t, c, &scratch, p)
	}
	if !bytes.Equal(rec.joined(), want) {
		t.Fatal("bytes written differ from the writes, or are out of order")
	}
	if len(rec.writes) != 3 {
		t.Errorf("%d writes, want 3: up to the RTCP packet, the response and the marker", len(rec.writes))
	}
}

// TestCoalescingConnBoundsThePacketsOfOneWritev: a kept access unit
// longer than coalesceMaxPackets goes out in writes of at most that many
// packets, all of it, in order.
func TestCoalescingConnBoundsThePacketsOfOneWritev(t *testing.T) {
	c, rec, v := newTestVectorConn()
	const packets = 100
	var scratch, want []byte
	for i := range packets {
		p := interleaved(0, uint16(i), i == packets-1, 1400)
		keep(v, p)
		want = append(want, p...)
		writeReused(t, c, &scratch, p)
	}
	if !bytes.Equal(rec.joined(), want) {
		t.Fatal("bytes written differ from the packets, or are out of order")
	}
	for i, w := range rec.writes {
		if n := len(w) / len(interleaved(0, 0, false, 1400)); n > coalesceMaxPackets {
			t.Errorf("write %d carries %d packets, more than %d", i, n, coalesceMaxPackets)
		}
	}
	if n := (packets + coalesceMaxPackets - 1) / coalesceMaxPackets; len(rec.writes) != n {
		t.Errorf("%d writes, want %d", len(rec.writes), n)
	}
}

func TestSentPacketsFindsOnlyThePacketWritten(t *testing.T) {
	var s sentPackets
	p := interleaved(0, 40, false, 500)[4:]
	s.keep(40, bytes.Clone(p))
	later := bytes.Clone(p)
	later[7] = 9 // another timestamp
	tests := []struct {
		name  string
		pkt   []byte
		found bool
	}{
		{"the packet", p, true},
		{"longer (SRTP's tag)", append(bytes.Clone(p), make([]byte, 10)...), false},
		{"another timestamp", later, false},
		{"another sequence number, same slot", interleaved(0, 40+sentPacketsKept, false, 500)[4:], false},
		{"a slot never filled", interleaved(0, 41, false, 500)[4:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.find(tt.pkt)
			if (got != nil) != tt.found || got != nil && !bytes.Equal(got, tt.pkt) {
				t.Errorf("find = %x…, want found %v", got[:min(len(got), 12)], tt.found)
			}
		})
	}
}

// TestCoalescingListenerWritesATCPViewersPacketsWithWritev: a connection
// accepted from a TCP listener writes with writev, and the viewer reads
// the access unit whole.
func TestCoalescingListenerWritesATCPViewersPacketsWithWritev(t *testing.T) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg, v := newVideoRegistry(), &mountVideo{}
	reg.add(2, v)
	v.mark(0, true)
	l := newCoalescingListener(tl, reg)
	defer l.Close()
	client, err := net.Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	c := sc.(*coalescingConn)
	if c.writev == nil {
		t.Fatal("a TCP connection has no writev")
	}
	var scratch, want []byte
	for i := range 40 {
		p := interleaved(0, uint16(i), i == 39, 1400)
		keep(v, p)
		want = append(want, p...)
		writeReused(t, c, &scratch, p)
	}
	got := make([]byte, len(want))
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the viewer read other bytes than the packets written")
	}
}

// TestTheMountKeepsItsVideoPacketsAsTheyAreSent: every video packet a TCP
// viewer receives is in its mount's sentPackets byte for byte, so
// coalescingConn writes all of them from there.
func TestTheMountKeepsItsVideoPacketsAsTheyAreSent(t *testing.T) {
	sps := []byte{0x67, 0x64, 0x00, 0x28, 0xac}
	pps := []byte{0x68, 0xee, 0x3c, 0xb0}
	// gortsplib's path: what UDP viewers (and, with DisableDirectTCP, TCP
	// ones) get.
	s, m := listenMount(t, Config{Address: "127.0.0.1:0", DisableDirectTCP: true, Logger: slog.New(slog.DiscardHandler)}, "/kept", sps, pps)
	c, media, forma, _ := setupH264(t, s, "/kept", gortsplib.ProtocolTCP)
	const want = 50
	var (
		mu              sync.Mutex
		received, found int
		done            = make(chan struct{})
	)
	c.OnPacketRTP(media, forma, func(pkt *rtp.Packet) {
		b, err := pkt.Marshal()
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		received++
		if k := m.video.sent.find(b); k != nil && bytes.Equal(k, b) {
			found++
		}
		if received == want {
			close(done)
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	au := [][]byte{sps, pps, nalu(0x65, 5000)} // 4 packets
	deadline := time.After(10 * time.Second)
	for i := 1; ; i++ {
		if err := m.WriteAccessUnit(au, time.Duration(i)*10*time.Millisecond, time.Now()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Millisecond):
			continue
		case <-deadline:
			t.Fatal("the viewer received too few packets in 10 s")
		}
		break
	}
	mu.Lock()
	defer mu.Unlock()
	if found != received {
		t.Errorf("%d of %d packets received are in the mount's sentPackets", found, received)
	}
}
