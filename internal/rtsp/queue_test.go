package rtsp

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/pion/rtp"

	"github.com/framecast/framecast/internal/testkit"
)

// TestAViewerTakesA4KIDRWhole: an IDR of a 4K stream at framecast's own
// bitrate (several hundred RTP packets; 1 MB here, about 730) goes to a
// TCP viewer's queue at once. The queue must hold it: a viewer whose
// queue overflows is dropped as too slow, and with gortsplib's default of
// 256 packets every 4K viewer was, at its first IDR. A plain TCP viewer,
// written to by its mount, has no such queue; a tunnelled one, on the
// tunnel server (router.go), has the full queue, though the main server's
// is directWriteQueueSize.
func TestAViewerTakesA4KIDRWhole(t *testing.T) {
	for name, tunnel := range map[string]gortsplib.Tunnel{
		"plain": gortsplib.TunnelNone, "HTTP tunnel": gortsplib.TunnelHTTP, "WebSocket tunnel": gortsplib.TunnelWebSocket,
	} {
		t.Run(name, func(t *testing.T) { testAViewerTakesA4KIDRWhole(t, tunnel) })
	}
}

func testAViewerTakesA4KIDRWhole(t *testing.T, tunnel gortsplib.Tunnel) {
	cfg := Config{Address: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}
	sps := []byte{0x67, 0x64, 0x00, 0x33, 0xac}
	pps := []byte{0x68, 0xee, 0x3c, 0xb0}
	s, m := listenMount(t, cfg, "/4k", sps, pps)
	if s.gt == nil || s.gs.WriteQueueSize != directWriteQueueSize {
		t.Fatalf("tunnel server %v, main server's queue %d: want a tunnel server and a queue of %d", s.gt != nil, s.gs.WriteQueueSize, directWriteQueueSize)
	}
	const idrSize = 1 << 20
	// gortsplib answers an HTTP tunnel's GET before it registers it
	// (TestTunnelledViewersPlayPastTheFirstRequestDeadline): three tries.
	c, media, forma, dec, err := setupH264Through(s, "/4k", gortsplib.ProtocolTCP, tunnel)
	for try := 1; err != nil && errors.Is(err, io.EOF) && tunnel == gortsplib.TunnelHTTP && try < 3; try++ {
		c, media, forma, dec, err = setupH264Through(s, "/4k", gortsplib.ProtocolTCP, tunnel)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var mu sync.Mutex
	idrs := 0
	c.OnPacketRTP(media, forma, func(pkt *rtp.Packet) {
		au, err := dec.Decode(pkt)
		if err != nil {
			return
		}
		for _, n := range au {
			if len(n) == idrSize {
				mu.Lock()
				idrs++
				mu.Unlock()
			}
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- c.Wait() }()
	got := func() int { mu.Lock(); defer mu.Unlock(); return idrs }
	deadline := time.Now().Add(20 * time.Second)
	var pts time.Duration
	for got() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d whole IDRs within 20 s, want 3", got())
		}
		select {
		case err := <-ended:
			t.Fatalf("the viewer was disconnected after %d IDRs: %v (slow viewers %d)", got(), err, m.SlowViewers())
		default:
		}
		for i := range 10 { // an IDR, then P-frames, 30 fps
			au := [][]byte{nalu(0x41, 20_000)}
			if i == 0 {
				au = [][]byte{sps, pps, nalu(0x65, idrSize)}
			}
			pts += time.Second / 30
			if err := m.WriteAccessUnit(au, pts, time.Now()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second / 30) // pacing, as a 30 fps encoder writes
		}
	}
	if n := m.SlowViewers(); n != 0 {
		t.Errorf("%d viewers dropped as too slow, want none", n)
	}
	tunnelled := m.tunnel.Stats().OutboundBytes
	if tunnel != gortsplib.TunnelNone && tunnelled == 0 {
		t.Error("a tunnelled viewer got nothing from the tunnel server's stream")
	}
	if tunnel == gortsplib.TunnelNone && tunnelled != 0 {
		t.Errorf("the tunnel server's stream sent %d bytes to a plain viewer", tunnelled)
	}
	if n := m.stream.Stats().OutboundBytes; n != 0 {
		t.Errorf("the main server's queued stream sent %d bytes", n)
	}
}

// TestAUDPViewerIsKeptWhenItsQueueOverflows: nothing waits for a UDP viewer
// to read, so its queue overflows only when the server falls behind
// sending. The packets that do not fit are dropped and counted; the viewer
// is not disconnected, and plays on.
func TestAUDPViewerIsKeptWhenItsQueueOverflows(t *testing.T) {
	// gortsplib's queue: UDP viewers of RTSPS, and all with DisableDirectUDP.
	cfg := Config{Address: "127.0.0.1:0", WriteQueueSize: 16, DisableDirectUDP: true, Logger: slog.New(slog.DiscardHandler)}
	cfg.UDPRTPAddress, cfg.UDPRTCPAddress = testkit.UDPPair(t)
	sps := []byte{0x67, 0x64, 0x00, 0x1f, 0xac}
	pps := []byte{0x68, 0xee, 0x3c, 0xb0}
	s, m := listenMount(t, cfg, "/udp", sps, pps)
	joined := make(chan struct{})
	var once sync.Once
	m.OnViewerJoin(func() { once.Do(func() { close(joined) }) })
	c, media, forma, dec := setupH264(t, s, "/udp", gortsplib.ProtocolUDP)
	const small = 700 // one packet each
	smalls := make(chan struct{}, 1024)
	c.OnPacketRTP(media, forma, func(pkt *rtp.Packet) {
		au, err := dec.Decode(pkt)
		if err != nil {
			return
		}
		for _, n := range au {
			if len(n) == small {
				select {
				case smalls <- struct{}{}:
				default:
				}
			}
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- c.Wait() }()
	select {
	case <-joined:
	case <-time.After(10 * time.Second):
		t.Fatal("the viewer did not start playing within 10 s")
	}
	var pts time.Duration
	write := func(au [][]byte) {
		t.Helper()
		pts += time.Second / 30
		if err := m.WriteAccessUnit(au, pts, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// Access units of about 700 packets into a queue of 16: the fan-out
	// pushes them faster than the viewer's writer takes them, at once or
	// within a few.
	deadline := time.Now().Add(20 * time.Second)
	for m.DroppedUDPPackets() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no packet dropped within 20 s of access units 40 times the queue")
		}
		write([][]byte{sps, pps, nalu(0x65, 1<<20)})
	}
	for len(smalls) > 0 {
		<-smalls
	}
	// The viewer stays and gets what comes next.
	for got := 0; got < 5; {
		select {
		case err := <-ended:
			t.Fatalf("the UDP viewer was disconnected: %v (slow viewers %d)", err, m.SlowViewers())
		case <-smalls:
			got++
		case <-time.After(time.Second / 30):
			write([][]byte{nalu(0x41, small)})
		}
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("%d small frames after the drop, want 5", got)
		}
	}
	if n := m.SlowViewers(); n != 0 {
		t.Errorf("%d viewers disconnected as slow, want none", n)
	}
	if n := m.Viewers(); n != 1 {
		t.Errorf("%d viewers, want 1", n)
	}
}
