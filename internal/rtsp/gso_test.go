package rtsp

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rtpPacket is a fake RTP packet of size bytes: its marker bit set or not,
// its bytes numbered from seq.
func rtpPacket(seq byte, size int, marker bool) []byte {
	p := make([]byte, size)
	p[0] = 0x80
	p[1] = 96
	if marker {
		p[1] |= 0x80
	}
	for i := 2; i < size; i++ {
		p[i] = seq + byte(i)
	}
	return p
}

// gsoPair is a gsoConn and a socket it sends to.
func gsoPair(t *testing.T) (*gsoConn, *net.UDPConn) {
	t.Helper()
	return newGSOConn(loopbackUDP(t), nil), loopbackUDP(t)
}

// loopbackUDP is a UDP socket on 127.0.0.1, closed when the test ends.
func loopbackUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// receive reads n datagrams.
func receive(t *testing.T, c *net.UDPConn, n int) [][]byte {
	t.Helper()
	var out [][]byte
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range n {
		k, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", len(out), n, err)
		}
		out = append(out, bytes.Clone(buf[:k]))
	}
	return out
}

// receiveExactly reads a datagram for each of want and checks that it is
// that packet.
func receiveExactly(t *testing.T, c *net.UDPConn, want [][]byte) {
	t.Helper()
	got := receive(t, c, len(want))
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("datagram %d: %d bytes, want packet %d (%d bytes)", i, len(got[i]), i, len(want[i]))
		}
	}
}

// pk is a packet of a test frame.
type pk struct {
	size   int
	marker bool
}

// gsoFrames are access units that batching cuts in each of its ways: a
// small packet first, equal segments, a short last one, a second short
// one, a larger one, the 64-segment bound, the 64 KB bound.
func gsoFrames() map[string][]pk {
	frame := func(n, size int) []pk {
		f := make([]pk, n, n+1)
		for i := range f {
			f[i] = pk{size, false}
		}
		return f
	}
	return map[string][]pk{
		"one packet":            {{1200, true}},
		"idr":                   {{30, false}, {1440, false}, {1440, false}, {1440, false}, {900, true}},
		"short then longer":     {{1440, false}, {700, false}, {1440, false}, {1440, true}},
		"larger than the first": {{500, false}, {1440, false}, {1440, true}},
		"more than 64":          append(frame(70, 900), pk{100, true}),
		"more than 64 KB":       append(frame(49, 1440), pk{1440, true}),
	}
}

// TestGSOConnSendsEachPacketAsItsOwnDatagram: whatever the batching
// (gsoFrames), the receiver gets every packet as the datagram it was, in
// order, with UDP_SEGMENT refused too: written by gortsplib packet after
// packet (WriteTo), once the access unit's last packet (marker) is
// written, with nothing held after it; and written by a mount at once
// (sendAU), every byte counted as sent and no reference to a packet left
// in its scratch batch.
func TestGSOConnSendsEachPacketAsItsOwnDatagram(t *testing.T) {
	for _, via := range []string{"WriteTo", "sendAU"} {
		for _, off := range []bool{false, true} {
			for name, frame := range gsoFrames() {
				t.Run(via+"/"+name, func(t *testing.T) {
					c, recv := gsoPair(t)
					c.off.Store(off)
					var want [][]byte
					total := 0
					for i, p := range frame {
						want = append(want, rtpPacket(byte(i), p.size, p.marker))
						total += p.size
					}
					b := newGSOBatch()
					if via == "WriteTo" {
						for _, pkt := range want {
							if n, err := c.WriteTo(pkt, recv.LocalAddr()); err != nil || n != len(pkt) {
								t.Fatalf("WriteTo: %d, %v", n, err)
							}
						}
					} else {
						sent, dropped, err := c.sendAU(b, recv.LocalAddr().(*net.UDPAddr).AddrPort(), want)
						if err != nil || dropped != 0 || sent != total {
							t.Fatalf("sendAU: %d bytes sent of %d, %d dropped, %v", sent, total, dropped, err)
						}
					}
					receiveExactly(t, recv, want)
					if n := c.held(); n != 0 {
						t.Errorf("%d batches held after the access unit ended", n)
					}
					for i, seg := range b.segs {
						if seg != nil {
							t.Fatalf("segment %d of the scratch batch still refers to a packet", i)
						}
					}
					if !off && c.off.Load() {
						t.Errorf("the kernel refused UDP_SEGMENT on loopback")
					}
				})
			}
		}
	}
}

// TestGSOConnSendsAStaleBatch: packets whose access unit never ends (the
// viewer left mid-frame) go out with the next write, to anyone, once they
// are gsoStale old.
func TestGSOConnSendsAStaleBatch(t *testing.T) {
	c, recv := gsoPair(t)
	_, other := gsoPair(t)
	now := time.Now()
	c.now = func() time.Time { return now }
	held := rtpPacket(1, 1000, false)
	c.WriteTo(held, recv.LocalAddr())
	now = now.Add(gsoStale + time.Millisecond)
	c.WriteTo(rtpPacket(2, 500, true), other.LocalAddr())
	if got := receive(t, recv, 1); !bytes.Equal(got[0], held) {
		t.Errorf("stale packet: got %d bytes, want the %d held", len(got[0]), len(held))
	}
	receive(t, other, 1)
}

// TestGSOConnKeepsOrderWhenUDPSegmentIsRefusedMidFrame: packets held for
// an access unit when the kernel starts refusing UDP_SEGMENT go out first,
// then the rest, in order.
func TestGSOConnKeepsOrderWhenUDPSegmentIsRefusedMidFrame(t *testing.T) {
	c, recv := gsoPair(t)
	var want [][]byte
	for i, p := range []pk{{1440, false}, {1440, false}, {1440, false}, {600, true}} {
		if i == 2 {
			c.off.Store(true) // refused by another viewer's send
		}
		pkt := rtpPacket(byte(i), p.size, p.marker)
		want = append(want, pkt)
		c.WriteTo(pkt, recv.LocalAddr())
	}
	receiveExactly(t, recv, want)
	if n := c.held(); n != 0 {
		t.Errorf("%d batches held", n)
	}
}

// TestGSOConnReusesItsBatches: in the steady state a P frame's packets,
// held and sent, allocate nothing per frame (a fresh batch per viewer per
// frame was most of the UDP fan-out's garbage), whether they are copied
// or their mount kept them.
func TestGSOConnReusesItsBatches(t *testing.T) {
	for _, kept := range []bool{false, true} {
		t.Run(map[bool]string{false: "copied", true: "kept"}[kept], func(t *testing.T) {
			c, recv := gsoPair(t)
			to := recv.LocalAddr()
			var frame [][]byte
			for i := range 5 {
				size := 1400
				if i == 4 {
					size = 700
				}
				frame = append(frame, interleaved(0, uint16(i), i == 4, size)[4:]) // 6.3 KB: fits one pooled batch
			}
			if kept {
				reg, v := newVideoRegistry(), &mountVideo{}
				reg.add(2, v) // interleaved's SSRC
				v.mark(0, true)
				for i, p := range frame {
					v.sent.keep(uint16(i), p)
				}
				c.videos = reg
			}
			write := func() {
				for _, p := range frame {
					if _, err := c.WriteTo(p, to); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Drain the receiver so that its buffer never refuses the sends.
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, 65536)
				for {
					if _, _, err := recv.ReadFrom(buf); err != nil {
						return
					}
				}
			}()
			defer func() { recv.Close(); <-done }()
			write()
			// sync.Pool may drop an item at a GC, and under the race
			// detector drops a quarter of those put, on purpose: allow a
			// little, not one per frame.
			bound := 0.5
			if raceEnabled {
				bound = 2
			}
			if a := testing.AllocsPerRun(200, write); a > bound {
				t.Errorf("%.2f allocations per frame, want about none", a)
			}
		})
	}
}

// TestGSOConnSendsKeptPacketsFromTheMountsCopy: packets their mount kept
// are held as references to its copy, not copied, and arrive whole and
// in order though the caller's buffer is overwritten after each write.
func TestGSOConnSendsKeptPacketsFromTheMountsCopy(t *testing.T) {
	c, recv := gsoPair(t)
	reg, v := newVideoRegistry(), &mountVideo{}
	reg.add(2, v)
	v.mark(10, true)
	c.videos = reg
	var want [][]byte
	scratch := make([]byte, 2000)
	for i := range 8 {
		p := interleaved(0, uint16(10+i), i == 7, 1400)[4:]
		v.sent.keep(uint16(10+i), bytes.Clone(p))
		want = append(want, p)
		n := copy(scratch, p)
		if _, err := c.WriteTo(scratch[:n], recv.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		for j := range scratch {
			scratch[j] = 0xEE
		}
		if i < 7 {
			if b := c.viewers[recv.LocalAddr().(*net.UDPAddr)].batch; b == nil || b.copied != nil {
				t.Fatalf("packet %d: not held, or copied although its mount kept it", i)
			}
		}
	}
	got := receive(t, recv, len(want))
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("datagram %d differs from packet %d", i, i)
		}
	}
}

// TestGSOConnPassesOnADeadlineThatMoves: a deadline in the past, far
// from the one set, reaches the socket (lazyDeadline): the write fails.
func TestGSOConnPassesOnADeadlineThatMoves(t *testing.T) {
	c, recv := gsoPair(t)
	for _, d := range []time.Time{time.Now().Add(10 * time.Second), time.Now().Add(-time.Second)} {
		if err := c.SetWriteDeadline(d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.WriteTo(rtpPacket(1, 100, true), recv.LocalAddr()); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after a deadline in the past: %v, want %v", err, os.ErrDeadlineExceeded)
	}
}

// TestGSOConnSendsFromADualStackSocket: from a socket bound to [::] (as
// gortsplib binds ":8000"), a batch reaches an IPv4 viewer, its address
// mapped into IPv6 for sendmsg.
func TestGSOConnSendsFromADualStackSocket(t *testing.T) {
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Skipf("no IPv6 socket here: %v", err)
	}
	t.Cleanup(func() { uc.Close() })
	c := newGSOConn(uc, nil)
	if c.family != unix.AF_INET6 {
		t.Fatalf("socket family %d, want AF_INET6", c.family)
	}
	recv := loopbackUDP(t)
	var want [][]byte
	for i := range 3 {
		p := rtpPacket(byte(i), 1000, i == 2)
		want = append(want, p)
		if _, err := c.WriteTo(p, recv.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if c.off.Load() {
		t.Fatal("UDP_SEGMENT refused")
	}
	got := receive(t, recv, len(want))
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("datagram %d differs from packet %d", i, i)
		}
	}
}
