package h264desc

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/pion/rtp"

	"github.com/framecast/framecast/internal/silence"
)

// AudioPayloadType is the dynamic RTP payload type of the silent AAC media.
const AudioPayloadType = 97

// AddSilentAudio adds to desc the optional second media framecast sends: a
// silent AAC-LC track (internal/silence) in RFC 3640 AAC-hbr mode, the
// MPEG-4 audio payload every RTSP client and server reads, and returns it
// and its format. Its RTP clock is silence.SampleRate.
func AddSilentAudio(desc *description.Session) (*description.Media, *format.MPEG4Audio) {
	forma := &format.MPEG4Audio{
		PayloadTyp:       AudioPayloadType,
		Config:           silence.Config(),
		SizeLength:       13,
		IndexLength:      3,
		IndexDeltaLength: 3,
	}
	media := &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{forma}}
	desc.Medias = append(desc.Medias, media)
	return media, forma
}

// SilentAudio is a sender's silent AAC-LC media (AddSilentAudio) and its
// packetiser: the frames due by each video access unit in one RTP packet,
// on a timeline of their own from a random origin. It belongs to one
// sender (an RTSP mount, a push).
type SilentAudio struct {
	Media  *description.Media
	enc    *rtpmpeg4audio.Encoder
	base   uint32 // RTP timestamp of sample 0
	frames silence.Frames
}

// NewSilentAudio adds the silent media to desc and returns its packetiser.
func NewSilentAudio(desc *description.Session) (*SilentAudio, error) {
	media, forma := AddSilentAudio(desc)
	enc, err := forma.CreateEncoder()
	if err != nil {
		return nil, fmt.Errorf("audio rtp encoder: %w", err)
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	return &SilentAudio{Media: media, enc: enc, base: binary.BigEndian.Uint32(b[:])}, nil
}

// Packets returns the RTP packets of the silent frames due by the video
// access unit at pts (none when no frame is due), and their RTCP time:
// the access unit's capture time less how much earlier they start, so
// that receivers keep the two tracks in step.
func (a *SilentAudio) Packets(pts time.Duration, capture time.Time) ([]*rtp.Packet, time.Time, error) {
	samples, aus := a.frames.Due(pts)
	if len(samples) == 0 {
		return nil, time.Time{}, nil
	}
	pkts, err := a.enc.Encode(aus)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("packetise audio: %w", err)
	}
	first := samples[0]
	for _, p := range pkts {
		p.Timestamp += a.base + uint32(first)
	}
	return pkts, capture.Add(a.frames.PTS(first) - pts), nil
}
