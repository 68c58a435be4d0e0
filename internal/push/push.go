// Package push publishes an encoded H.264 stream to a remote server: an
// RTSP server with ANNOUNCE and RECORD (mediamtx, Wowza, ffmpeg
// -rtsp_flags listen; gortsplib), an RTMP(S) server (nginx-rtmp, SRS,
// YouTube, Twitch; gortmplib) or an SRT listener, in MPEG-TS (ffmpeg, SRS,
// OvenMediaEngine; gosrt, mediacommon's MPEG-TS writer). It sits after the
// encoder, beside the RTSP viewers: a sink copies each access unit into a
// bounded queue, and the Pusher's goroutine writes it to the remote as soon
// as it arrives, reconnecting with back-off when the remote goes away.
// Nothing is encoded again per target.
//
// One loop (push.go) owns the queue, the back-off, the registration with
// the encoder and the wait for an IDR; what differs per protocol, how to
// connect, announce the tracks, write an access unit and close, is a
// protocol (rtsp.go, rtmp.go, srt.go) chosen by the URL's scheme.
package push

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/framecast/framecast/internal/auqueue"
)

// Sink receives the encoded stream: the NAL units of one access unit
// (without start codes, valid only during the call), its presentation time
// (monotonic) and its capture time.
type Sink = func(au [][]byte, pts time.Duration, capture time.Time)

// Config configures a Pusher.
type Config struct {
	// URL is where to publish:
	//   - rtsp://[user:pass@]host[:port]/path, or rtsps://. A transport=udp
	//     or transport=tcp query parameter selects the transport and is
	//     not sent to the server.
	//   - rtmp://[user:pass@]host[:port]/app/key, or rtmps:// (port 1935,
	//     or 443 for rtmps).
	//   - srt://host:port?streamid=…&passphrase=…&latency=ms (MPEG-TS,
	//     caller mode; the parameters of srt-live-transmit and ffmpeg).
	URL string
	// Transport is "tcp" or "udp", for rtsp:// URLs only; it overrides the
	// URL's parameter. "" means the URL's parameter, or tcp.
	Transport string
	// Subscribe registers sink with the encoder and returns the function
	// that removes it. Each registration must make the encoder send an IDR
	// soon (with SPS and PPS in-band before it), and the encoder must call
	// sink from one goroutine at a time, never blocking in it. An error
	// that wraps ErrStop ends the Pusher; any other error (the stream is
	// not published yet) is retried every PollInterval.
	Subscribe func(sink Sink) (remove func(), err error)
	// QueueSize is the number of access units waiting to be written; when
	// it is full the newest is dropped and counted, and the Pusher waits for
	// the next IDR. 0 means 32.
	QueueSize int
	// MinBackoff and MaxBackoff bound the wait between connection attempts:
	// it starts at MinBackoff and doubles after each failure up to
	// MaxBackoff, and starts again at MinBackoff after a connection that
	// lasted MaxBackoff. 0 means 500 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration
	// PollInterval is how often Subscribe is tried while the stream is not
	// published; 0 means 250 ms.
	PollInterval time.Duration
	// SilentAudio adds a silent AAC-LC audio track (48 kHz stereo, package
	// silence) timed by the video: YouTube refuses a stream without audio.
	SilentAudio bool
	// Logger receives one line per connection, failure and disconnection;
	// nil means slog.Default(). The URL (secrets redacted, see Redact) is
	// added.
	Logger *slog.Logger

	// nagle leaves Nagle's algorithm on (tests only: to measure what it costs).
	nagle bool
	// tlsConfig replaces the system's roots for rtmps:// (tests only).
	tlsConfig *tls.Config
}

// ErrStop, wrapped in an error from Config.Subscribe, ends the Pusher: its
// source is gone for good (for example, the server closed).
var ErrStop = errors.New("push source gone")

// staleAfter is how old the IDR held while connecting may be when the
// connection is up. An older one, and the frames queued behind it, would
// reach the remote as a burst of old video; a fresh IDR is asked for
// instead.
const staleAfter = 250 * time.Millisecond

// askEvery is the least time between two IDR requests while the Pusher
// waits for one after a drop.
const askEvery = time.Second

// connectTimeout bounds one connection attempt (dial, handshake,
// announce) where the library has no timeout of its own.
const connectTimeout = 10 * time.Second

// writeTimeout is how long a write to a remote that stops reading may
// block before the connection is given up (gortsplib's own is the same).
const writeTimeout = 10 * time.Second

// errBehind, wrapped in an error from link.write, means the access unit
// was dropped because the connection does not keep up; the connection
// stays, and the Pusher skips to the next IDR.
var errBehind = errors.New("connection behind: access unit dropped")

// protocol connects to one kind of remote server; parseTarget picks it
// from the URL's scheme.
type protocol interface {
	// connect dials the remote and announces the tracks: one H.264 track
	// with sps and pps, those of the IDR about to be written, and with
	// audio a silent AAC-LC track that the link's write follows each
	// access unit with. Cancelling ctx interrupts it. log has the URL
	// (redacted).
	connect(ctx context.Context, log *slog.Logger, sps, pps []byte, audio bool) (link, error)
	// transport names what carries the stream ("tcp", "udp"), for logs.
	transport() string
}

// link is one connection made by a protocol. Its methods are called from
// the Pusher's goroutine only.
type link interface {
	// write sends one access unit. An error wrapping errBehind dropped it
	// and leaves the connection up; any other error ends the connection.
	write(a *auqueue.Unit) error
	// ended is closed when the connection has ended: by the remote, or
	// after close. err says why.
	ended() <-chan struct{}
	err() error
	// close ends the connection (the remote sees the end of the stream
	// where the protocol says it) and returns when the link's goroutines
	// have stopped.
	close()
}

// Stats counts what a Pusher has done.
type Stats struct {
	Connected  bool   // recording to the remote now
	FramesSent uint64 // access units written to the remote
	Dropped    uint64 // access units the remote did not get while connected (queue full, then up to the next IDR)
	Reconnects uint64 // connections after the first
	Failures   uint64 // failed connection attempts and lost connections
}

// Pusher publishes one stream to one remote server until closed. It owns
// one goroutine, and those of its connection to the remote.
type Pusher struct {
	cfg   Config
	proto protocol
	url   string // redacted, for logs
	log   *slog.Logger
	queue *auqueue.Queue // from the sink to run; its drops are counted in Stats.Dropped

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	err    error // why the Pusher stopped by itself; set before done is closed

	connected                           atomic.Bool
	sent, dropped, reconnects, failures atomic.Uint64 // dropped: what run skipped; Stats adds the queue's

	// Owned by the run goroutine.
	everConnected bool
	sps, pps      []byte // of the last IDR announced
}

// errTransportNotRTSP is the error for a Transport set on a URL of another protocol.
var errTransportNotRTSP = errors.New("a transport (tcp or udp) applies to rtsp:// and rtsps:// URLs only")

// New checks cfg and starts pushing. It returns at once: connecting,
// waiting for the stream and reconnecting happen in the Pusher's goroutine.
func New(cfg Config) (*Pusher, error) {
	if cfg.Subscribe == nil {
		return nil, errors.New("push: Config.Subscribe is nil")
	}
	tg, err := parseTarget(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Transport != "" {
		t, err := ParseTransport(cfg.Transport)
		if err != nil {
			return nil, err
		}
		rp, ok := tg.proto.(*rtspProtocol)
		if !ok {
			return nil, fmt.Errorf("push URL %s: transport %q: %w", Redact(cfg.URL), cfg.Transport, errTransportNotRTSP)
		}
		rp.tr = t
	}
	switch pr := tg.proto.(type) {
	case *rtspProtocol:
		pr.nagle = cfg.nagle
	case *rtmpProtocol:
		pr.tlsConfig = cfg.tlsConfig
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 32
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Pusher{
		cfg: cfg, proto: tg.proto, url: Redact(cfg.URL),
		queue: newQueue(cfg.QueueSize), done: make(chan struct{}),
	}
	p.log = cfg.Logger.With("url", p.url)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	go p.run()
	return p, nil
}

// URL is the remote URL with its secrets redacted (see Redact).
func (p *Pusher) URL() string { return p.url }

// Transport is what carries the stream: "tcp" or "udp" for RTSP, "tcp"
// for RTMP, "udp" for SRT.
func (p *Pusher) Transport() string { return p.proto.transport() }

// Stats returns the Pusher's counters.
func (p *Pusher) Stats() Stats {
	return Stats{
		Connected:  p.connected.Load(),
		FramesSent: p.sent.Load(),
		Dropped:    p.dropped.Load() + p.queue.Dropped(),
		Reconnects: p.reconnects.Load(),
		Failures:   p.failures.Load(),
	}
}

// Done is closed when the Pusher has stopped: after Close, or by itself
// when Subscribe returned ErrStop (see Err).
func (p *Pusher) Done() <-chan struct{} { return p.done }

// Err is why the Pusher stopped by itself, once Done is closed; nil after
// Close.
func (p *Pusher) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Close stops pushing: it ends the connection (RTSP TEARDOWN, SRT
// shutdown, RTMP connection closed: the remote sees the end of the
// stream), removes the sink and returns when the Pusher's
// goroutines have stopped. It may be called more than once.
func (p *Pusher) Close() {
	p.cancel()
	<-p.done
}

func (p *Pusher) run() {
	defer close(p.done)
	backoff := p.cfg.MinBackoff
	wait := time.NewTimer(0)
	<-wait.C
	defer wait.Stop()
	for attempt := 1; ; attempt++ {
		up, wasUp, err := p.session()
		if p.ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrStop) {
			p.err = err
			p.log.Info("push stopped", "error", err)
			return
		}
		p.failures.Add(1)
		if up >= p.cfg.MaxBackoff {
			backoff = p.cfg.MinBackoff
		}
		if wasUp {
			p.log.Warn("push disconnected", "error", err, "after", up.Round(time.Millisecond), "retry_in", backoff)
		} else {
			p.log.Warn("push failed", "error", err, "attempt", attempt, "retry_in", backoff)
		}
		wait.Reset(backoff)
		select {
		case <-p.ctx.Done():
			return
		case <-wait.C:
		}
		backoff = min(2*backoff, p.cfg.MaxBackoff)
	}
}

// session subscribes to the stream, waits for an IDR, connects with its
// SPS and PPS and writes access units until the connection fails or the
// Pusher closes. It reports how long the connection was up.
func (p *Pusher) session() (up time.Duration, wasUp bool, err error) {
	sub, err := p.subscribe()
	if err != nil {
		return 0, false, err
	}
	defer func() {
		sub.close()
		p.drain()
	}()

	idr, err := p.waitIDR()
	if err != nil {
		return 0, false, err
	}
	l, err := p.connect()
	if err != nil {
		p.put(idr)
		return 0, false, fmt.Errorf("connect: %w", err)
	}
	since := time.Now()
	// Logged first: what Stats reports connected, the log has said.
	p.log.Info("push connected", "transport", p.Transport())
	if p.everConnected {
		p.reconnects.Add(1)
	}
	p.everConnected = true
	p.connected.Store(true)
	defer func() {
		p.connected.Store(false)
		l.close()
	}()

	var (
		needIDR bool
		lastAsk time.Time
	)
	ask := func() {
		if time.Since(lastAsk) >= askEvery {
			lastAsk = time.Now()
			sub = p.resubscribe(sub)
		}
	}
	if time.Since(idr.Arrived) > staleAfter {
		// Connecting took long: what waits is old. Start from a fresh IDR.
		p.put(idr)
		p.drain()
		needIDR = true
		ask()
	} else {
		err := l.write(idr)
		p.put(idr)
		if errors.Is(err, errBehind) {
			p.dropped.Add(1)
			needIDR = true
			ask()
		} else if err != nil {
			return time.Since(since), true, err
		} else {
			p.sent.Add(1)
		}
	}
	for {
		select {
		case <-p.ctx.Done():
			return time.Since(since), true, nil
		case <-l.ended():
			return time.Since(since), true, l.err()
		case a := <-p.queue.Units():
			if a.Gap {
				needIDR = true
			}
			if needIDR && !a.IDR {
				p.dropped.Add(1)
				p.put(a)
				ask()
				continue
			}
			needIDR = false
			err := l.write(a)
			p.put(a)
			if errors.Is(err, errBehind) {
				// The socket does not keep up: skip to the next IDR.
				p.dropped.Add(1)
				needIDR = true
				ask()
				continue
			}
			if err != nil {
				return time.Since(since), true, err
			}
			p.sent.Add(1)
		}
	}
}

// connect connects with the protocol, announcing the SPS and PPS of the
// IDR about to be sent. Closing the Pusher interrupts it.
func (p *Pusher) connect() (link, error) {
	ctx, cancel := context.WithTimeout(p.ctx, connectTimeout)
	defer cancel()
	return p.proto.connect(ctx, p.log, p.sps, p.pps, p.cfg.SilentAudio)
}

// subscribe registers a sink, trying every PollInterval while the stream
// is not published.
func (p *Pusher) subscribe() (*subscription, error) {
	tick := time.NewTicker(p.cfg.PollInterval)
	defer tick.Stop()
	for logged := false; ; {
		s, err := p.trySubscribe()
		if err == nil {
			return s, nil
		}
		if errors.Is(err, ErrStop) {
			return nil, err
		}
		if !logged {
			p.log.Info("push waiting for the stream", "reason", err)
			logged = true
		}
		select {
		case <-p.ctx.Done():
			return nil, p.ctx.Err()
		case <-tick.C:
		}
	}
}

func (p *Pusher) trySubscribe() (*subscription, error) {
	s := &subscription{p: p}
	remove, err := p.cfg.Subscribe(s.sink)
	if err != nil {
		return nil, err
	}
	s.remove = remove
	return s, nil
}

// resubscribe replaces old by a new registration, which makes the encoder
// send an IDR. The old one is muted first, so that no access unit is
// queued twice; if the new registration fails the old one goes on.
func (p *Pusher) resubscribe(old *subscription) *subscription {
	old.muted.Store(true)
	s, err := p.trySubscribe()
	if err != nil {
		old.muted.Store(false)
		p.log.Debug("push: asking for an IDR", "error", err)
		return old
	}
	old.close()
	return s
}

// waitIDR discards access units up to the first IDR and keeps its SPS and
// PPS for the ANNOUNCE.
func (p *Pusher) waitIDR() (*auqueue.Unit, error) {
	for {
		select {
		case <-p.ctx.Done():
			return nil, p.ctx.Err()
		case a := <-p.queue.Units():
			if a.IDR {
				sps, pps := params(a)
				if sps != nil && pps != nil {
					p.sps, p.pps = append(p.sps[:0], sps...), append(p.pps[:0], pps...)
				}
				if p.sps != nil && p.pps != nil {
					return a, nil
				}
				p.log.Debug("push: IDR without SPS and PPS, waiting for the next")
			}
			p.put(a)
		}
	}
}

// drain empties the queue.
func (p *Pusher) drain() { p.queue.Drain() }

// put gives a spent access unit back for reuse.
func (p *Pusher) put(a *auqueue.Unit) { p.queue.Release(a) }

// subscription is one registration of a sink with the encoder.
type subscription struct {
	p      *Pusher
	remove func()
	muted  atomic.Bool
}

// sink copies the access unit and queues it without blocking: when the
// queue is full it is dropped and the next one queued carries the gap.
func (s *subscription) sink(au [][]byte, pts time.Duration, capture time.Time) {
	if s.muted.Load() {
		return
	}
	s.p.queue.Push(au, pts, capture)
}

func (s *subscription) close() {
	s.muted.Store(true)
	s.remove()
}
