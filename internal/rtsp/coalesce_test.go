package rtsp

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
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
	return &coalescingConn{Conn: rec, bufs: l.bufs}, rec
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

func BenchmarkCoalescingConnAccessUnit(b *testing.B) {
	c := &coalescingConn{Conn: discardConn{}, bufs: newCoalescingListener(nil, nil).bufs}
	var au [][]byte
	for i := range 8 {
		au = append(au, interleaved(0, uint16(i), i == 7, 1400))
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range au {
			c.Write(p)
		}
	}
}
