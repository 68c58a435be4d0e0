package push

import (
	"time"

	"github.com/framecast/framecast/internal/silence"
)

// silentTrack times one connection's silent audio frames (package
// silence) by the video it sends: each video access unit is followed by
// the frames due by its pts. It belongs to the link that sends it.
type silentTrack struct {
	clock   silence.Clock
	samples []int64
	aus     [][]byte
}

// due returns the first sample index of each frame due by the video pts,
// and as many silent frames; both are reused by the next call.
func (s *silentTrack) due(pts time.Duration) (samples []int64, aus [][]byte) {
	s.samples = s.clock.Until(s.samples[:0], pts)
	s.aus = s.aus[:0]
	for range s.samples {
		s.aus = append(s.aus, silence.Frame())
	}
	return s.samples, s.aus
}

// pts is the video-timeline timestamp of sample n.
func (s *silentTrack) pts(n int64) time.Duration { return s.clock.PTS(n) }
