package push

import (
	"testing"
	"time"

	"github.com/framecast/framecast/internal/h264desc"
	"github.com/framecast/framecast/internal/testkit"
)

// TestPushPacketsFitMediamtx: pushed to a remote over TCP and over UDP, a
// 300 kB IDR (a 1080p frame at a high bitrate) and P slices just over
// gortsplib's default payload limit arrive in RTP packets of at most
// h264desc.MaxPacketSize bytes, header included, so that mediamtx relays
// them without remuxing.
func TestPushPacketsFitMediamtx(t *testing.T) {
	for _, tc := range []struct{ name, query string }{{"TCP", ""}, {"UDP", "?transport=udp"}} {
		t.Run(tc.name, func(t *testing.T) {
			var r *receiver
			if tc.query == "" {
				r = startReceiver(t, "127.0.0.1:0", "", "")
			} else {
				rtpAddr, rtcpAddr := testkit.UDPPair(t)
				r = startReceiver(t, "127.0.0.1:0", rtpAddr, rtcpAddr)
			}
			src := newSource(30)
			src.sizeIDR, src.sizeP = 300_000, 1445
			src.gop = 5
			src.run(t)
			_, log := newLogs(t)
			newPusher(t, Config{URL: "rtsp://" + r.addr + "/cam" + tc.query, Subscribe: src.Subscribe, Logger: log})
			// Over UDP a whole IDR may never arrive (loopback drops some of
			// its 200 packets): its fragments are enough.
			r.waitFrames(t, 12, 10*time.Second)
			r.mu.Lock()
			largest := r.largest
			r.mu.Unlock()
			if largest > h264desc.MaxPacketSize || largest < h264desc.MaxPacketSize-2 {
				t.Errorf("largest RTP packet %d bytes, want %d at most and the packetiser to use the room", largest, h264desc.MaxPacketSize)
			}
		})
	}
}
