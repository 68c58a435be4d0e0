package push

import (
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
)

// clockRate is the RTP clock of H.264 video.
const clockRate = 90000

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
	enc, err := forma.CreateEncoder()
	if err != nil {
		return nil, fmt.Errorf("rtp encoder: %w", err)
	}
	base, err := randUint32()
	if err != nil {
		return nil, err
	}
	return &writer{c: c, media: media, enc: enc, base: base}, nil
}

// rtpTicks converts a presentation time to 90 kHz ticks, rounding, so that
// a pts made from ticks converts back to the same ticks. Whole seconds are
// converted apart, since pts*90000 overflows after 28 hours.
func rtpTicks(pts time.Duration) int64 {
	secs, rem := int64(pts/time.Second), int64(pts%time.Second)
	return secs*clockRate + (rem*clockRate+int64(time.Second)/2)/int64(time.Second)
}

// write sends one access unit. Its RTP timestamp comes from its pts; its
// capture time goes to RTCP sender reports.
func (w *writer) write(a *accessUnit) error {
	pkts, err := w.enc.Encode(a.nalus)
	if err != nil {
		return fmt.Errorf("packetise: %w", err)
	}
	ts := w.base + uint32(rtpTicks(a.pts))
	for _, pkt := range pkts {
		pkt.Timestamp = ts
		if err := w.c.WritePacketRTPWithNTP(w.media, pkt, a.capture); err != nil {
			return err
		}
	}
	return nil
}
