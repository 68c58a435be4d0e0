package push

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	srt "github.com/datarhei/gosrt"

	"github.com/framecast/framecast/internal/auqueue"
	"github.com/framecast/framecast/internal/rtptime"
	"github.com/framecast/framecast/internal/silence"
)

// srtPayloadSize is the payload of one SRT packet: seven MPEG-TS packets.
const srtPayloadSize = 7 * 188

// tsClockRate is the MPEG-TS clock, 90 kHz.
const tsClockRate = 90000

// tsOffset is the MPEG-TS timestamp of the first access unit of a
// connection: the writer's PCR runs 0.1 s before it, and must not be
// negative.
const tsOffset = tsClockRate

// srtProtocol publishes MPEG-TS (mediacommon's writer) over SRT in caller
// mode (gosrt).
type srtProtocol struct {
	addr string
	cfg  srt.Config
}

func (*srtProtocol) transport() string { return "udp" }

// tsTracks is what an SRT push announces, in the MPEG-TS program map: one
// H.264 track (SPS and PPS travel in-band, before every IDR), and with
// withAudio the silent AAC-LC track (ADTS); audio is nil without.
func tsTracks(withAudio bool) (video, audio *mpegts.Track, all []*mpegts.Track) {
	video = &mpegts.Track{Codec: &tscodecs.H264{}}
	all = []*mpegts.Track{video}
	if withAudio {
		audio = &mpegts.Track{Codec: &tscodecs.MPEG4Audio{Config: *silence.Config()}}
		all = append(all, audio)
	}
	return video, audio, all
}

// connect runs the SRT handshake. gosrt's Dial cannot be interrupted: it
// gives up after the connection timeout (3 s, or the URL's conntimeo).
// A Dial that fails leaves gosrt v0.9.0's goroutines behind where it
// cannot be reached: after a rejection its timeout timer's goroutine
// (about 35 KiB with the dialer it holds) waits for good, and after a
// timeout its socket reader does, now and then (reapDialer collects it
// only from a connection that was made). The back-off bounds the rate:
// one a MaxBackoff at most against a listener that keeps refusing.
func (s *srtProtocol) connect(ctx context.Context, _ *slog.Logger, _, _ []byte, withAudio bool) (link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := srt.Dial("srt", s.addr, s.cfg)
	if err != nil {
		return nil, fmt.Errorf("srt dial: %w", err)
	}
	if err := ctx.Err(); err != nil {
		conn.Close()
		return nil, err
	}
	l := &srtLink{conn: conn, done: make(chan struct{})}
	var tracks []*mpegts.Track
	l.video, l.audio, tracks = tsTracks(withAudio)
	l.mw = &mpegts.Writer{W: &l.buf, Tracks: tracks}
	if err := l.mw.Initialize(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("mpeg-ts: %w", err)
	}
	go l.read()
	return l, nil
}

// srtLink muxes each access unit into MPEG-TS packets in a reused buffer
// and writes them with one call: gosrt cuts them into SRT packets of
// srtPayloadSize bytes (whole TS packets) and its own goroutines send,
// acknowledge and retransmit them.
type srtLink struct {
	conn  srt.Conn
	mw    *mpegts.Writer
	video *mpegts.Track
	audio *mpegts.Track // nil without audio
	sound silence.Frames
	buf   bytes.Buffer
	base  time.Duration // pts of the first access unit
	begun bool

	done    chan struct{} // closed when read has returned
	readErr error         // why; set before done is closed
}

// read waits for the end of the connection: a caller that publishes
// receives no data, and gosrt's Read returns when the connection is
// closed by either side or the peer stays silent for its idle timeout.
func (l *srtLink) read() {
	defer close(l.done)
	buf := make([]byte, srtPayloadSize)
	for {
		if _, err := l.conn.Read(buf); err != nil {
			l.readErr = fmt.Errorf("srt: connection closed: %w", err)
			return
		}
	}
}

func (l *srtLink) write(a *auqueue.Unit) error {
	if len(a.NALUs) == 0 {
		return nil
	}
	if !l.begun {
		l.base, l.begun = a.PTS, true
	}
	ts := rtptime.Ticks(a.PTS-l.base, tsClockRate) + tsOffset
	l.buf.Reset()
	if err := l.mw.WriteH264(l.video, ts, ts, a.NALUs); err != nil {
		return fmt.Errorf("mpeg-ts: %w", err)
	}
	if l.audio != nil {
		if samples, aus := l.sound.Due(a.PTS); len(samples) > 0 {
			ats := rtptime.Ticks(l.sound.PTS(samples[0])-l.base, tsClockRate) + tsOffset
			if err := l.mw.WriteMPEG4Audio(l.audio, ats, aus); err != nil {
				return fmt.Errorf("mpeg-ts audio: %w", err)
			}
		}
	}
	if _, err := l.conn.Write(l.buf.Bytes()); err != nil {
		// gosrt reports a full send queue and a closed connection alike.
		return fmt.Errorf("srt write: %w", err)
	}
	return nil
}

func (l *srtLink) ended() <-chan struct{} { return l.done }

func (l *srtLink) err() error {
	<-l.done
	return l.readErr
}

// srtLingerMax bounds how long close waits for the remote to acknowledge
// what was sent.
const srtLingerMax = time.Second

// close sends SRT's shutdown to the remote and waits for the reading
// goroutine. A live SRT receiver drops, at shutdown, the packets it holds
// for its latency (TSBPD, 120 ms by default): so that the remote plays
// the last frames, close first waits until they are acknowledged (at most
// srtLingerMax) and then for the remote's latency.
func (l *srtLink) close() {
	l.linger()
	l.conn.Close()
	<-l.done
	if errors.Is(l.readErr, io.EOF) {
		// read saw the closed connection, not the dialer's goroutine.
		go reapDialer(l.conn)
	}
}

// srtReapMax bounds how long reapDialer waits: once its socket is closed,
// the dialer's goroutine gets there at once, or within its 3 s read
// deadline.
const srtReapMax = 4 * time.Second

// reapDialer collects the last word of gosrt's dialer. Its goroutine that
// reads the UDP socket (gosrt v0.9.0, dial.go) ends by sending why on an
// unbuffered channel that only Read, Write (both without waiting) and
// Close (once, without waiting) receive from; when that goroutine is late
// (a loaded machine), Close has already looked and it would wait forever.
// Read on the closed connection says io.EOF until it receives that error;
// reapDialer asks every 10 ms, for at most srtReapMax. It runs after
// close has returned, and alone uses the closed connection.
func reapDialer(c srt.Conn) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(srtReapMax)
	var b [1]byte
	for time.Now().Before(deadline) {
		if _, err := c.Read(b[:]); err != nil && !errors.Is(err, io.EOF) {
			return
		}
		<-tick.C
	}
}

func (l *srtLink) linger() {
	// gosrt moves what write queued into its send buffer from a goroutine
	// of its own, and sends it on its 10 ms tick: look after a tick.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(srtLingerMax)
	var s srt.Statistics
	for {
		select {
		case <-l.done:
			return // the remote is gone
		case <-tick.C:
		}
		l.conn.Stats(&s)
		if s.Instantaneous.PktSendBuf == 0 || time.Now().After(deadline) {
			break
		}
	}
	// Acknowledged packets are played out at their send time plus the
	// latency; a quarter more covers the receiver's clock drift, as gosrt's
	// own drop threshold does.
	latency := time.Duration(s.Instantaneous.MsSendTsbPdDelay) * time.Millisecond
	wait := time.NewTimer(latency + latency/4 + 20*time.Millisecond)
	defer wait.Stop()
	select {
	case <-l.done:
	case <-wait.C:
	}
}
