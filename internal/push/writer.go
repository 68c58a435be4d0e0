package push

import (
	"fmt"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"

	"github.com/framecast/framecast/internal/h264desc"
	"github.com/framecast/framecast/internal/rtptime"
)

// writer packetises access units for one connection and hands the packets
// to the gortsplib client, whose own goroutine writes each to the socket
// at once (one write per packet, TCP_NODELAY).
type writer struct {
	c     *gortsplib.Client
	media *description.Media
	enc   *rtph264.Encoder
	base  uint32 // RTP timestamp of pts 0
}

func newWriter(c *gortsplib.Client, media *description.Media, forma *format.H264) (*writer, error) {
	enc, err := h264desc.NewEncoder(forma)
	if err != nil {
		return nil, err
	}
	base, err := randUint32()
	if err != nil {
		return nil, err
	}
	return &writer{c: c, media: media, enc: enc, base: base}, nil
}

// write sends one access unit. Its RTP timestamp comes from its pts; its
// capture time goes to RTCP sender reports.
func (w *writer) write(a *accessUnit) error {
	pkts, err := w.enc.Encode(a.nalus)
	if err != nil {
		return fmt.Errorf("packetise: %w", err)
	}
	// The sink's pts was made from the mount's ticks by rtptime.Duration,
	// so this gives back the mount's own spacing.
	ts := w.base + uint32(rtptime.Ticks(a.pts, h264desc.ClockRate))
	for _, pkt := range pkts {
		pkt.Timestamp = ts
		if err := w.c.WritePacketRTPWithNTP(w.media, pkt, a.capture); err != nil {
			return err
		}
	}
	return nil
}
