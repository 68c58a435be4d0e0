// Package h264desc describes the RTP medias framecast sends: H.264 video,
// packetization mode 1, with its SPS and PPS, and optionally a silent AAC
// track beside it. The RTSP server announces them to viewers
// (internal/rtsp) and pushes announce them to remote servers
// (internal/push), so both say the same thing.
package h264desc

import (
	"fmt"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
)

// ClockRate is the RTP clock of H.264 video, 90 kHz (RFC 6184).
const ClockRate = 90000

// PayloadType is the dynamic RTP payload type of the H.264 media in SDP.
const PayloadType = 96

// MaxPacketSize is the largest RTP packet framecast sends, its 12-byte
// header included. gortsplib's packetiser defaults to 1450 bytes of payload
// (1462 in all), which mediamtx, the relay of docs/push.md's scale-out,
// finds too big ("RTP packets are too big (1450 > 1440), remuxing"): it then
// repacketises every access unit of the stream itself. Packets of at most
// 1440 bytes are relayed as they come, and fit a 1500-byte MTU with room
// for IPv6 and SRTP.
const MaxPacketSize = 1440

// rtpHeaderSize is the size of an RTP header without CSRCs or extensions,
// which is what rtph264 writes.
const rtpHeaderSize = 12

// NewEncoder returns forma's packetiser with payloads small enough that no
// packet exceeds MaxPacketSize. Every RTP sender of framecast uses it.
func NewEncoder(forma *format.H264) (*rtph264.Encoder, error) {
	e := &rtph264.Encoder{
		PayloadType:       forma.PayloadTyp,
		PacketizationMode: forma.PacketizationMode,
		PayloadMaxSize:    MaxPacketSize - rtpHeaderSize,
	}
	if err := e.Init(); err != nil {
		return nil, fmt.Errorf("rtp encoder: %w", err)
	}
	return e, nil
}

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
