// Package h264desc describes the one RTP media framecast sends: H.264 video,
// packetization mode 1, with its SPS and PPS. The RTSP server announces it
// to viewers (internal/rtsp) and pushes announce it to remote servers
// (internal/push), so both say the same thing.
package h264desc

import (
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
)

// ClockRate is the RTP clock of H.264 video, 90 kHz (RFC 6184).
const ClockRate = 90000

// PayloadType is the dynamic RTP payload type of the H.264 media in SDP.
const PayloadType = 96

// Session returns an SDP session with one video media carrying H.264 in
// packetization mode 1 (single NAL units, STAP-A, FU-A) and the given SPS
// and PPS. media and forma are that media and its format, which the caller
// writes packets to and packetises with; forma.SafeSetParams updates the
// parameters later.
func Session(sps, pps []byte) (desc *description.Session, media *description.Media, forma *format.H264) {
	forma = &format.H264{PayloadTyp: PayloadType, PacketizationMode: 1, SPS: sps, PPS: pps}
	media = &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	return &description.Session{Medias: []*description.Media{media}}, media, forma
}
