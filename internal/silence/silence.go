// Package silence makes a silent AAC-LC audio track: the frames and their
// timeline. YouTube refuses a live stream without audio, and some NVR
// recording presets expect one, so a video-only framecast stream can carry
// this track (framecast serve --audio silent). It needs no encoder: a frame
// whose channels code no scale-factor band has all its spectral
// coefficients zero, and every AAC decoder outputs silence for it. RTSP,
// HLS and the pushes each time their frames by the video they send with
// Clock, so the track stays in step with the video without a shared
// goroutine.
package silence

import (
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// SampleRate and Channels are the track's: 48 kHz stereo, what YouTube and
// most recording presets ask for.
const (
	SampleRate = 48000
	Channels   = 2
)

// SamplesPerFrame is the number of samples each AAC-LC frame codes.
const SamplesPerFrame = mpeg4audio.SamplesPerAccessUnit

// FrameDuration is the duration of one frame, 21.33 ms.
const FrameDuration = time.Duration(SamplesPerFrame) * time.Second / SampleRate

// Config is the track's AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
func Config() *mpeg4audio.AudioSpecificConfig {
	return &mpeg4audio.AudioSpecificConfig{
		Type:         mpeg4audio.ObjectTypeAACLC,
		SampleRate:   SampleRate,
		ChannelCount: Channels,
	}
}

// frame is one silent raw_data_block for Channels channels.
var frame = rawSilentFrame(Channels)

// Frame returns a silent AAC-LC frame (a raw_data_block, without ADTS or
// LATM framing). It is shared: callers must not modify it.
func Frame() []byte { return frame }

// rawSilentFrame codes a raw_data_block (ISO/IEC 14496-3 §4.4.2.1) of one
// single_channel_element (mono) or channel_pair_element (stereo) whose
// individual_channel_streams code no scale-factor band (max_sfb 0), then
// the END element, padded to a byte.
func rawSilentFrame(channels int) []byte {
	var w bitWriter
	const (
		idSCE = 0
		idCPE = 1
		idEND = 7
	)
	if channels == 1 {
		w.write(idSCE, 3)
		w.write(0, 4) // element_instance_tag
		silentICS(&w)
	} else {
		w.write(idCPE, 3)
		w.write(0, 4) // element_instance_tag
		w.write(0, 1) // common_window: each channel has its own ics_info
		silentICS(&w)
		silentICS(&w)
	}
	w.write(idEND, 3)
	return w.bytes()
}

// silentICS codes an individual_channel_stream with a long window and no
// scale-factor band, so no section, scale-factor or spectral data.
func silentICS(w *bitWriter) {
	w.write(0, 8) // global_gain
	// ics_info
	w.write(0, 1) // ics_reserved_bit
	w.write(0, 2) // window_sequence: ONLY_LONG_SEQUENCE
	w.write(0, 1) // window_shape
	w.write(0, 6) // max_sfb
	w.write(0, 1) // predictor_data_present
	w.write(0, 1) // pulse_data_present
	w.write(0, 1) // tns_data_present
	w.write(0, 1) // gain_control_data_present
}

type bitWriter struct {
	buf []byte
	n   int // bits written
}

func (w *bitWriter) write(v uint, bits int) {
	for i := bits - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		if v>>uint(i)&1 != 0 {
			w.buf[len(w.buf)-1] |= 0x80 >> uint(w.n%8)
		}
		w.n++
	}
}

func (w *bitWriter) bytes() []byte { return w.buf }

// maxBehind is how far the track may fall behind the video before Clock
// skips ahead instead of catching up: after a pause of the producer the
// video's timeline jumps by the pause, and a burst of its length in silent
// frames would only fill the receivers' buffers.
const maxBehind = time.Second

// Clock times the silent frames of a track by the video they go with. Its
// zero value starts the track at the first video timestamp it is given.
// It is not safe for concurrent use: each sender owns one.
type Clock struct {
	started bool
	next    int64 // sample index of the next frame
	origin  time.Duration
}

// Until appends to dst the frames due by the video timestamp pts, as the
// index of each frame's first sample: every frame that starts at or before
// pts and was not returned before. Sample 0 is at the first video
// timestamp Clock was given; PTS turns an index back into a video-timeline
// timestamp, and the index itself is an RTP timestamp at SampleRate (plus
// an offset) or a muxer's sample count. A pts before the last one returns
// nothing; one more than a second ahead of the track skips the track ahead
// to it.
func (c *Clock) Until(dst []int64, pts time.Duration) []int64 {
	if !c.started {
		c.started, c.origin = true, pts
	}
	at := c.sampleAt(pts)
	if at-c.next > int64(maxBehind)*SampleRate/int64(time.Second) {
		c.next = at - at%SamplesPerFrame
	}
	for c.next <= at {
		dst = append(dst, c.next)
		c.next += SamplesPerFrame
	}
	return dst
}

// sampleAt is the sample index of video timestamp pts.
func (c *Clock) sampleAt(pts time.Duration) int64 {
	d := pts - c.origin
	if d < 0 {
		return -1
	}
	return int64(d) * SampleRate / int64(time.Second)
}

// PTS is the video-timeline timestamp of sample index n, rounded down to
// the nanosecond.
func (c *Clock) PTS(n int64) time.Duration {
	return c.origin + time.Duration(n*int64(time.Second)/SampleRate)
}

// Frames is a Clock with the buffers of the frames it times, reused from
// one video frame to the next: what each sender of the track keeps.
type Frames struct {
	Clock
	samples []int64
	aus     [][]byte
}

// Due returns the first sample index of each frame due by the video
// timestamp pts (see Until), and as many silent frames (Frame). Both are
// reused by the next call.
func (f *Frames) Due(pts time.Duration) (samples []int64, aus [][]byte) {
	f.samples = f.Until(f.samples[:0], pts)
	f.aus = f.aus[:0]
	for range f.samples {
		f.aus = append(f.aus, frame)
	}
	return f.samples, f.aus
}
