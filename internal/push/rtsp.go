package push

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"

	"github.com/framecast/framecast/internal/auqueue"
	"github.com/framecast/framecast/internal/h264desc"
	"github.com/framecast/framecast/internal/rtptime"
)

// writeQueueSize is gortsplib's queue of RTP packets between the Pusher
// and the socket: the packets of a large IDR (a 4K IDR is several hundred)
// must fit in it at once.
const writeQueueSize = 1024

// rtspProtocol publishes with RTSP ANNOUNCE and RECORD (gortsplib's
// client), RTP over TCP or UDP.
type rtspProtocol struct {
	u     *base.URL
	tr    Transport
	nagle bool // Nagle's algorithm on (tests only: to measure what it costs)
}

func (r *rtspProtocol) transport() string { return r.tr.String() }

// rtspTracks is what an RTSP push announces: one H.264 media carrying the
// SPS and PPS of the IDR about to be sent, and with withAudio the silent
// AAC-LC media (h264desc.NewSilentAudio); audio is nil without.
func rtspTracks(sps, pps []byte, withAudio bool) (desc *description.Session, video *description.Media, forma *format.H264, audio *h264desc.SilentAudio, err error) {
	desc, video, forma = h264desc.Session(sps, pps)
	if withAudio {
		if audio, err = h264desc.NewSilentAudio(desc); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	return desc, video, forma, audio, nil
}

// connect dials the remote and runs ANNOUNCE, SETUP and RECORD.
func (r *rtspProtocol) connect(ctx context.Context, log *slog.Logger, sps, pps []byte, withAudio bool) (link, error) {
	desc, media, forma, audio, err := rtspTracks(sps, pps, withAudio)
	if err != nil {
		return nil, err
	}
	proto := gortsplib.ProtocolTCP
	if r.tr == UDP {
		proto = gortsplib.ProtocolUDP
	}
	c := &gortsplib.Client{
		Scheme:         r.u.Scheme,
		Host:           r.u.Host,
		Protocol:       &proto,
		WriteQueueSize: writeQueueSize,
		DialContext:    dialNoDelay,
		OnTransportSwitch: func(err error) {
			log.Debug("push transport switch", "error", err)
		},
		OnPacketsLost: func(lost uint64) {
			log.Debug("push packets lost", "lost", lost)
		},
		OnDecodeError: func(err error) {
			log.Debug("push decode error", "error", err)
		},
	}
	if r.nagle {
		c.DialContext = dialNagle
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	// Close interrupts a dial or a request the remote does not answer.
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()
	fail := func(err error) (link, error) {
		c.Close()
		return nil, err
	}
	if _, err := c.Announce(r.u, desc); err != nil {
		return fail(fmt.Errorf("announce: %w", err))
	}
	if err := c.SetupAll(r.u, desc.Medias); err != nil {
		return fail(fmt.Errorf("setup: %w", err))
	}
	if _, err := c.Record(); err != nil {
		return fail(fmt.Errorf("record: %w", err))
	}
	enc, err := h264desc.NewEncoder(forma)
	if err != nil {
		return fail(err)
	}
	base, err := randUint32()
	if err != nil {
		return fail(err)
	}
	l := &rtspLink{c: c, media: media, enc: enc, base: base, audio: audio, done: make(chan struct{})}
	go func() {
		l.waitErr = c.Wait()
		close(l.done)
	}()
	return l, nil
}

// rtspLink packetises access units for one RTSP session and hands the
// packets to the gortsplib client, whose own goroutine writes each to the
// socket at once (one write per packet, TCP_NODELAY).
type rtspLink struct {
	c     *gortsplib.Client
	media *description.Media
	enc   *rtph264.Encoder
	base  uint32                // RTP timestamp of pts 0
	audio *h264desc.SilentAudio // nil without audio

	done    chan struct{} // closed when the client has stopped
	waitErr error         // why; set before done is closed
}

// write sends one access unit. Its RTP timestamp comes from its pts; its
// capture time goes to RTCP sender reports.
func (l *rtspLink) write(a *auqueue.Unit) error {
	pkts, err := l.enc.Encode(a.NALUs)
	if err != nil {
		return fmt.Errorf("packetise: %w", err)
	}
	// The sink's pts was made from the mount's ticks by rtptime.Duration,
	// so this gives back the mount's own spacing.
	ts := l.base + uint32(rtptime.Ticks(a.PTS, h264desc.ClockRate))
	for _, pkt := range pkts {
		pkt.Timestamp = ts
		if err := l.c.WritePacketRTPWithNTP(l.media, pkt, a.Capture); err != nil {
			if errors.As(err, new(liberrors.ErrClientWriteQueueFull)) {
				return fmt.Errorf("%w: %w", errBehind, err)
			}
			return err
		}
	}
	if l.audio != nil {
		return l.writeAudio(a)
	}
	return nil
}

// writeAudio sends the silent frames due by the video access unit a.
func (l *rtspLink) writeAudio(a *auqueue.Unit) error {
	pkts, ntp, err := l.audio.Packets(a.PTS, a.Capture)
	if err != nil {
		return err
	}
	for _, pkt := range pkts {
		if err := l.c.WritePacketRTPWithNTP(l.audio.Media, pkt, ntp); err != nil {
			if errors.As(err, new(liberrors.ErrClientWriteQueueFull)) {
				return fmt.Errorf("%w: %w", errBehind, err)
			}
			return err
		}
	}
	return nil
}

func (l *rtspLink) ended() <-chan struct{} { return l.done }

func (l *rtspLink) err() error {
	<-l.done
	return l.waitErr
}

// close sends TEARDOWN and waits for the client's goroutines to end.
func (l *rtspLink) close() {
	l.c.Close()
	<-l.done
}

// randUint32 is a random RTP timestamp origin.
func randUint32() (uint32, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}
