package push

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/framecast/framecast/internal/auqueue"
	"github.com/framecast/framecast/internal/silence"
)

// rtmpProtocol publishes to an RTMP(S) server with gortmplib's client:
// connect to the application, publish the stream key, then FLV video
// messages (AVC sequence header first).
type rtmpProtocol struct {
	u         *url.URL    // application as the path, stream key as the fragment: see parseRTMPURL
	tlsConfig *tls.Config // nil: the system's roots (rtmps)
}

func (*rtmpProtocol) transport() string { return "tcp" }

// rtmpTracks is what an RTMP push announces: one H.264 track whose AVC
// sequence header carries the SPS and PPS of the IDR about to be sent,
// and with withAudio the silent AAC-LC track (its AudioSpecificConfig in
// the AAC sequence header); audio is nil without.
func rtmpTracks(sps, pps []byte, withAudio bool) (video, audio *gortmplib.Track, all []*gortmplib.Track) {
	video = &gortmplib.Track{Codec: &codecs.H264{SPS: slices.Clone(sps), PPS: slices.Clone(pps)}}
	all = []*gortmplib.Track{video}
	if withAudio {
		audio = &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: silence.Config()}}
		all = append(all, audio)
	}
	return video, audio, all
}

// connect runs the RTMP handshake, connect, createStream and publish, then
// writes the metadata and the sequence header.
func (r *rtmpProtocol) connect(ctx context.Context, _ *slog.Logger, sps, pps []byte, withAudio bool) (link, error) {
	u := *r.u
	c := &gortmplib.Client{URL: &u, Publish: true, DialContext: dialNoDelay, TLSConfig: r.tlsConfig}
	if err := c.Initialize(ctx); err != nil {
		return nil, fmt.Errorf("rtmp publish: %w", err)
	}
	nc := c.NetConn()
	// Closing the socket interrupts a write the remote does not read.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	video, audio, tracks := rtmpTracks(sps, pps, withAudio)
	w := &gortmplib.Writer{Conn: c, Tracks: tracks}
	nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	err := w.Initialize()
	if !stop() || err != nil {
		c.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("rtmp tracks: %w", err)
	}
	l := &rtmpLink{c: c, nc: nc, w: w, video: video, audio: audio, done: make(chan struct{})}
	go l.read()
	return l, nil
}

// rtmpLink writes access units to one RTMP connection, one message per
// access unit, from the Pusher's goroutine: gortmplib's writer is
// synchronous, so a remote that does not read blocks the write until
// writeTimeout.
type rtmpLink struct {
	c     *gortmplib.Client
	nc    net.Conn
	w     *gortmplib.Writer
	video *gortmplib.Track
	audio *gortmplib.Track // nil without audio
	sound silence.Frames
	base  time.Duration // pts of the first access unit: RTMP timestamps start at 0
	begun bool

	done    chan struct{} // closed when read has returned
	readErr error         // why; set before done is closed
}

// read detects the end of the connection. What the server sends after
// publish is status and control messages that a publisher may ignore, so
// they are read and discarded as bytes: gortmplib's reader answers pings
// by writing to the connection, which would race with the Pusher's
// writes. nginx-rtmp pings only a connection it has received nothing
// from for a minute.
func (l *rtmpLink) read() {
	defer close(l.done)
	_, err := io.Copy(io.Discard, l.nc)
	if err == nil {
		err = errors.New("the server closed the connection")
	}
	l.readErr = err
}

func (l *rtmpLink) write(a *auqueue.Unit) error {
	if len(a.NALUs) == 0 {
		return nil
	}
	if !l.begun {
		l.base, l.begun = a.PTS, true
	}
	pts := a.PTS - l.base
	l.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := l.w.WriteH264(l.video, pts, pts, a.NALUs); err != nil {
		return err
	}
	if l.audio == nil {
		return nil
	}
	samples, aus := l.sound.Due(a.PTS)
	for i, n := range samples {
		if err := l.w.WriteMPEG4Audio(l.audio, l.sound.PTS(n)-l.base, aus[i]); err != nil {
			return fmt.Errorf("rtmp audio: %w", err)
		}
	}
	return nil
}

func (l *rtmpLink) ended() <-chan struct{} { return l.done }

func (l *rtmpLink) err() error {
	<-l.done
	return l.readErr
}

// close closes the connection, which ends the publication on the server,
// and waits for the reading goroutine.
func (l *rtmpLink) close() {
	l.c.Close()
	<-l.done
}
