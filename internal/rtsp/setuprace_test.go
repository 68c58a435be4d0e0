package rtsp

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/framecast/framecast/internal/testkit"
)

var (
	testSPS = []byte{0x67, 0x42, 0xc0, 0x1f}
	testPPS = []byte{0x68, 0xce, 0x3c, 0x80}
)

// streamingServer starts a server with UDP and TCP on loopback and a mount
// on /test written at about 100 access units a second until the test ends.
func streamingServer(t *testing.T, cfg Config) (*Server, *Mount) {
	t.Helper()
	return streamingServerOf(t, cfg, func(int) []byte { return []byte{0x65, 0x88, 0x84} })
}

// streamingServerOf is streamingServer with nal(n) as the nth access unit.
func streamingServerOf(t *testing.T, cfg Config, nal func(n int) []byte) (*Server, *Mount) {
	t.Helper()
	cfg.Address = "127.0.0.1:0"
	cfg.UDPRTPAddress, cfg.UDPRTCPAddress = testkit.UDPPair(t)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Mount("/test", testSPS, testPPS)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				m.WriteAccessUnit([][]byte{nal(n)}, now.Sub(start), now) //nolint:errcheck // closed at the end
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-stopped
		s.Close()
	})
	return s, m
}

// play connects gortsplib's client to /test over proto, sets up, plays and
// returns how long it took from the start to the first RTP packet.
func play(s *Server, proto gortsplib.Protocol) (time.Duration, error) {
	return playFor(s, proto, gortsplib.TunnelNone, 0)
}

// playFor is play through tunnel, and then checks that packets still come
// after a further d.
func playFor(s *Server, proto gortsplib.Protocol, tunnel gortsplib.Tunnel, d time.Duration) (time.Duration, error) {
	start := time.Now()
	u, err := base.ParseURL("rtsp://" + s.Addr().String() + "/test")
	if err != nil {
		return 0, err
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto, Tunnel: tunnel}
	if err := c.Start(); err != nil {
		return 0, err
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		return 0, fmt.Errorf("describe: %w", err)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return 0, fmt.Errorf("setup: %w", err)
	}
	got := make(chan struct{}, 1)
	c.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	if _, err := c.Play(nil); err != nil {
		return 0, fmt.Errorf("play: %w", err)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		return 0, fmt.Errorf("no RTP packet 10 s after PLAY over %s", proto)
	}
	first := time.Since(start)
	if d > 0 {
		time.Sleep(d)
		select {
		case <-got: // the one buffered meanwhile may be old
		default:
		}
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			return 0, fmt.Errorf("no RTP packet %v after the first over %s", d, proto)
		}
	}
	return first, nil
}

// TestManyViewersSettingUpOnePathAtOnceAllPlay: viewers of one path from
// one address, over UDP and TCP, DESCRIBE, SETUP and PLAY at the same time,
// in a few waves. Each gets packets; under -race this is the test that
// catches gortsplib reading one session's set-up medias, on a UDP SETUP,
// while another session writes them (what setupGate orders).
func TestManyViewersSettingUpOnePathAtOnceAllPlay(t *testing.T) {
	s, m := streamingServer(t, Config{})
	const waves, udp, tcp = 3, 12, 6
	for wave := range waves {
		var wg sync.WaitGroup
		begin := make(chan struct{})
		errs := make(chan error, udp+tcp)
		for i := range udp + tcp {
			proto := gortsplib.ProtocolUDP
			if i >= udp {
				proto = gortsplib.ProtocolTCP
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-begin
				if _, err := play(s, proto); err != nil {
					errs <- fmt.Errorf("wave %d, %s viewer: %w", wave, proto, err)
				}
			}()
		}
		close(begin)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	// Every viewer has gone: none is left counted.
	deadline := time.Now().Add(5 * time.Second)
	for m.Viewers() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := m.Viewers(); n != 0 {
		t.Errorf("%d viewers still counted after all closed", n)
	}
}
