package framecast_test

import (
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/framecast/framecast"
)

// TestRTCPSenderReportsGiveCaptureTime reads a stream with gortsplib's
// client until the first RTCP sender report (sent every 10 s) and checks
// that it maps the frames' RTP timestamps to the wall-clock time they were
// captured (written).
func TestRTCPSenderReportsGiveCaptureTime(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a sender report (10 s)")
	}
	srv := newServer(t, framecast.Config{})
	servePattern(t, srv, "/test", 160, 120, 30)
	c, _ := rtspClient(t, url(srv, "/test"), gortsplib.ProtocolTCP, nil)
	defer c.Close()
	type sample struct {
		ntp, arrived time.Time
	}
	got := make(chan sample, 1)
	c.OnPacketRTPAny(func(m *description.Media, _ format.Format, p *rtp.Packet) {
		if ntp, ok := c.PacketNTP(m, p); ok {
			select {
			case got <- sample{ntp, time.Now()}:
			default:
			}
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		// The frame was captured a few milliseconds before it arrived.
		if d := s.arrived.Sub(s.ntp); d < 0 || d > 200*time.Millisecond {
			t.Fatalf("sender report maps a frame arriving at %v to capture time %v (%v earlier), want a few ms earlier",
				s.arrived.Format(time.StampMicro), s.ntp.Format(time.StampMicro), d)
		}
		t.Logf("capture time from the sender report: %v before arrival", s.arrived.Sub(s.ntp))
	case <-time.After(15 * time.Second):
		t.Fatal("no RTCP sender report in 15 s")
	}
}
