package hls

import (
	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
)

// videoClockRate is the clock of the video track's timestamps, H.264's.
const videoClockRate = 90000

// tracks are a muxer's tracks. A second one (an AAC audio track) is one
// more field here, set up in newTracks, listed by list, and written by the
// muxer with gohlslib's WriteMPEG4Audio.
type tracks struct {
	video *gohlslib.Track
}

// newTracks sets up the tracks of a new muxer: H.264 video, whose SPS and
// PPS the muxer takes from the stream's first IDR.
func newTracks() tracks {
	return tracks{video: &gohlslib.Track{Codec: &codecs.H264{}, ClockRate: videoClockRate}}
}

// list is the tracks in the muxer's order: video first, the leading track.
func (t tracks) list() []*gohlslib.Track {
	return []*gohlslib.Track{t.video}
}
