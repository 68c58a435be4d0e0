// Package rtptime converts between presentation times and RTP timestamps:
// the one clock formula behind every RTP sender in framecast (the RTSP
// mounts, pushes and WebRTC previews).
package rtptime

import "time"

// Ticks converts d to units of 1/clockRate s, rounded to the nearest tick
// (halves away from zero). Whole seconds are converted apart from the rest,
// so no intermediate product overflows for clockRate < 2³²: the result is
// right whenever it fits in an int64 (at 90 kHz, for any Duration, where a
// plain d*clockRate/time.Second overflows after 28 hours). It panics if
// clockRate is not positive.
func Ticks(d time.Duration, clockRate int) int64 {
	r := rate(clockRate)
	secs, rem := int64(d/time.Second), int64(d%time.Second)
	return secs*r + roundDiv(rem*r, int64(time.Second))
}

// Duration converts ticks of 1/clockRate s to a duration, rounded to the
// nearest nanosecond (halves away from zero); the result must fit in a
// Duration (292 years). Because both directions round, for clockRate ≤ 1 GHz
// a timestamp survives the round trip: Ticks(Duration(t, r), r) == t. It
// panics if clockRate is not positive.
func Duration(ticks int64, clockRate int) time.Duration {
	r := rate(clockRate)
	secs, rem := ticks/r, ticks%r
	return time.Duration(secs*int64(time.Second) + roundDiv(rem*int64(time.Second), r))
}

func rate(clockRate int) int64 {
	if clockRate <= 0 {
		panic("rtptime: clock rate must be positive")
	}
	return int64(clockRate)
}

// roundDiv is n/d rounded to the nearest integer, halves away from zero,
// for d > 0.
func roundDiv(n, d int64) int64 {
	if n < 0 {
		return -((-n + d/2) / d)
	}
	return (n + d/2) / d
}
