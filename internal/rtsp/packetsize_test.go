package rtsp

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/pion/rtp"

	"github.com/framecast/framecast/internal/h264desc"
	"github.com/framecast/framecast/internal/testkit"
)

// nalu returns a NAL unit of size bytes with header typ and no zero byte
// (no start code emulation).
func nalu(typ byte, size int) []byte {
	b := make([]byte, size)
	b[0] = typ
	for i := 1; i < size; i++ {
		b[i] = byte(i) | 0x80
	}
	return b
}

// TestEveryRTPPacketFitsMediamtx: a viewer over TCP and one over UDP get a
// 300 kB IDR (a 1080p frame at a high bitrate) and slices around the
// packetiser's limits in packets of at most h264desc.MaxPacketSize bytes,
// header included, so mediamtx relays them without remuxing; and they
// reassemble into the NAL units that were written.
func TestEveryRTPPacketFitsMediamtx(t *testing.T) {
	cfg := Config{Address: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}
	cfg.UDPRTPAddress, cfg.UDPRTCPAddress = testkit.UDPPair(t)
	sps := []byte{0x67, 0x64, 0x00, 0x28, 0xac}
	pps := []byte{0x68, 0xee, 0x3c, 0xb0}
	s, m := listenMount(t, cfg, "/big", sps, pps)
	// Access units, each one NAL unit long but the IDR's: sizes on both
	// sides of one packet's payload, of two FU-A fragments, and of
	// gortsplib's default limit of 1450.
	aus := [][][]byte{{sps, pps, nalu(0x65, 300_000)}}
	for _, size := range []int{1, 1000, 1420, 1426, 1427, 1428, 1429, 1440, 1449, 1450, 1451, 1500, 2852, 2853, 2900} {
		aus = append(aus, [][]byte{nalu(0x41, size)})
	}
	for _, proto := range []gortsplib.Protocol{gortsplib.ProtocolTCP, gortsplib.ProtocolUDP} {
		t.Run(proto.String(), func(t *testing.T) {
			c, media, forma, dec := setupH264(t, s, "/big", proto)
			var (
				mu      sync.Mutex
				largest int
				sizes   = map[int]bool{} // sizes of the NAL units received whole
				done    = make(chan struct{})
			)
			c.OnPacketRTP(media, forma, func(pkt *rtp.Packet) {
				mu.Lock()
				defer mu.Unlock()
				largest = max(largest, pkt.MarshalSize())
				au, err := dec.Decode(pkt)
				if err != nil {
					return // more packets needed, or an access unit cut short
				}
				for _, n := range au {
					sizes[len(n)] = true
				}
				for _, want := range aus {
					if !sizes[len(want[len(want)-1])] {
						return
					}
				}
				select {
				case <-done:
				default:
					close(done)
				}
			})
			if _, err := c.Play(nil); err != nil {
				t.Fatal(err)
			}
			// Write until every size came through: the first writes may
			// come before the session is playing, and UDP may lose some.
			deadline := time.After(10 * time.Second)
			var pts time.Duration
			for {
				for _, au := range aus {
					pts += 10 * time.Millisecond
					if err := m.WriteAccessUnit(au, pts, time.Now()); err != nil {
						t.Fatal(err)
					}
				}
				select {
				case <-done:
				case <-time.After(50 * time.Millisecond):
					continue
				case <-deadline:
					mu.Lock()
					got := fmt.Sprint(sizes)
					mu.Unlock()
					t.Fatalf("after 10 s the viewer has received NAL units of sizes %s only", got)
				}
				break
			}
			mu.Lock()
			defer mu.Unlock()
			if largest > h264desc.MaxPacketSize {
				t.Errorf("largest RTP packet %d bytes, want at most %d", largest, h264desc.MaxPacketSize)
			}
			if largest < h264desc.MaxPacketSize-2 {
				t.Errorf("largest RTP packet %d bytes: the packetiser wastes room (limit %d)", largest, h264desc.MaxPacketSize)
			}
		})
	}
}

// listenMount starts a server with cfg, closed at the test's end, and
// mounts an H.264 stream with sps and pps at path.
func listenMount(t *testing.T, cfg Config, path string, sps, pps []byte) (*Server, *Mount) {
	t.Helper()
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	m, err := s.Mount(path, sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	return s, m
}

// setupH264 connects gortsplib's client to path over proto and sets up its
// H.264 media; it returns the client (closed when the test ends), the
// media, its format and a decoder of it.
func setupH264(t *testing.T, s *Server, path string, proto gortsplib.Protocol) (*gortsplib.Client, *description.Media, *format.H264, *rtph264.Decoder) {
	t.Helper()
	c, media, forma, dec, err := setupH264Through(s, path, proto, gortsplib.TunnelNone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, media, forma, dec
}

// setupH264Through is setupH264 through a tunnel, returning its error; the
// caller closes the client.
func setupH264Through(s *Server, path string, proto gortsplib.Protocol, tunnel gortsplib.Tunnel) (*gortsplib.Client, *description.Media, *format.H264, *rtph264.Decoder, error) {
	u, err := base.ParseURL("rtsp://" + s.Addr().String() + path)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto, Tunnel: tunnel}
	if err := c.Start(); err != nil {
		return nil, nil, nil, nil, err
	}
	fail := func(err error) (*gortsplib.Client, *description.Media, *format.H264, *rtph264.Decoder, error) {
		c.Close()
		return nil, nil, nil, nil, err
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		return fail(fmt.Errorf("describe: %w", err))
	}
	var forma *format.H264
	media := desc.FindFormat(&forma)
	if media == nil {
		return fail(errors.New("no H.264 media in the SDP"))
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		return fail(err)
	}
	if _, err := c.Setup(desc.BaseURL, media, 0, 0); err != nil {
		return fail(fmt.Errorf("setup: %w", err))
	}
	return c, media, forma, dec, nil
}
