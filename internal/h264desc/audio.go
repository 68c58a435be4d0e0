package h264desc

import (
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"

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
