package push

import (
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// accessUnit is a copy of one encoded access unit, queued between the
// encoder's goroutine and the Pusher's. Its buffers are reused through the
// Pusher's pool.
type accessUnit struct {
	buf     []byte   // every NAL unit, back to back
	nalus   [][]byte // slices of buf
	pts     time.Duration
	capture time.Time
	arrived time.Time // when the sink queued it
	idr     bool
	gap     bool // access units before this one were dropped
}

// fill copies au into a, reusing a's buffers. Empty NAL units, which carry
// nothing, are left out.
func (a *accessUnit) fill(au [][]byte, pts time.Duration, capture time.Time) {
	n := 0
	for _, nalu := range au {
		n += len(nalu)
	}
	if cap(a.buf) < n {
		a.buf = make([]byte, n)
	}
	a.buf = a.buf[:n]
	a.nalus = a.nalus[:0]
	off := 0
	for _, nalu := range au {
		if len(nalu) == 0 {
			continue
		}
		m := copy(a.buf[off:], nalu)
		a.nalus = append(a.nalus, a.buf[off:off+m:off+m])
		off += m
	}
	a.idr = h264.IsRandomAccess(a.nalus)
	a.pts, a.capture, a.arrived = pts, capture, time.Now()
}

// params returns the access unit's SPS and PPS, or nil.
func (a *accessUnit) params() (sps, pps []byte) {
	for _, nalu := range a.nalus {
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
