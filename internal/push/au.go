package push

import (
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/framecast/framecast/internal/auqueue"
)

// newQueue makes a Pusher's queue of size access units. The Pusher's
// goroutine does the skipping to an IDR (after a drop, a remote that is
// behind, or a stale IDR) and counts what it skips: the queue only marks
// the first access unit queued after a drop (Unit.Gap).
func newQueue(size int) *auqueue.Queue {
	return auqueue.New(auqueue.Config{Len: size, ConsumerSkips: true})
}

// params returns the access unit's SPS and PPS, or nil.
func params(a *auqueue.Unit) (sps, pps []byte) {
	for _, nalu := range a.NALUs {
		switch h264.NALUType(nalu[0] & 0x1f) {
		case h264.NALUTypeSPS:
			if sps == nil {
				sps = nalu
			}
		case h264.NALUTypePPS:
			if pps == nil {
				pps = nalu
			}
		}
	}
	return sps, pps
}
