package hls

import (
	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/framecast/framecast/internal/silence"
)

// videoClockRate is the clock of the video track's timestamps, H.264's.
const videoClockRate = 90000

// tracks are a muxer's tracks: the video, and the silent AAC-LC track of
// package silence when the path's stream has one (audio is nil otherwise),
// written by the muxer with gohlslib's WriteMPEG4Audio. gohlslib serves it
// as an audio rendition beside the video.
type tracks struct {
	video *gohlslib.Track
	audio *gohlslib.Track
}

// newTracks sets up the tracks of a new muxer: H.264 video, whose SPS and
// PPS the muxer takes from the stream's first IDR, and, if silentAudio,
// the silent audio track, whose clock is its sample rate.
func newTracks(silentAudio bool) tracks {
	t := tracks{video: &gohlslib.Track{Codec: &codecs.H264{}, ClockRate: videoClockRate}}
	if silentAudio {
		t.audio = &gohlslib.Track{Codec: &codecs.MPEG4Audio{Config: *silence.Config()}, ClockRate: silence.SampleRate}
	}
	return t
}

// list is the tracks in the muxer's order: video first, the leading track
// (segments are cut on its IDRs), then the audio, if any.
func (t tracks) list() []*gohlslib.Track {
	if t.audio != nil {
		return []*gohlslib.Track{t.video, t.audio}
	}
	return []*gohlslib.Track{t.video}
}
