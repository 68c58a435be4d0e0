// Package push publishes an encoded H.264 stream to a remote RTSP server
// (mediamtx, Wowza, ffmpeg -rtsp_flags listen) with ANNOUNCE and RECORD. It
// sits after the encoder, beside the RTSP viewers: a sink copies each access
// unit into a bounded queue, and the Pusher's goroutine packetises it and
// writes it to a gortsplib client as soon as it arrives, reconnecting with
// back-off when the remote goes away. Nothing is encoded again per target.
package push

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"

	"github.com/framecast/framecast/internal/h264desc"
)

// Sink receives the encoded stream: the NAL units of one access unit
// (without start codes, valid only during the call), its presentation time
// (monotonic) and its capture time.
type Sink = func(au [][]byte, pts time.Duration, capture time.Time)

// Config configures a Pusher.
type Config struct {
	// URL is where to publish: rtsp://[user:pass@]host[:port]/path, or
	// rtsps://. A transport=udp or transport=tcp query parameter selects
	// the transport and is not sent to the server.
	URL string
	// Transport is "tcp" or "udp"; it overrides the URL's parameter. ""
	// means the URL's parameter, or tcp.
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
	// Logger receives one line per connection, failure and disconnection;
	// nil means slog.Default(). The URL (password redacted) is added.
	Logger *slog.Logger

	// nagle leaves Nagle's algorithm on (tests only: to measure what it costs).
	nagle bool
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

// writeQueueSize is gortsplib's queue of RTP packets between the Pusher
// and the socket: the packets of a large IDR (a 4K IDR is several hundred)
// must fit in it at once.
const writeQueueSize = 1024

// Stats counts what a Pusher has done.
type Stats struct {
	Connected  bool   // recording to the remote now
	FramesSent uint64 // access units written to the remote
	Dropped    uint64 // access units the remote did not get while connected (queue full, then up to the next IDR)
	Reconnects uint64 // connections after the first
	Failures   uint64 // failed connection attempts and lost connections
}

// Pusher publishes one stream to one remote server until closed. It owns
// one goroutine (and those of its gortsplib client).
type Pusher struct {
	cfg   Config
	u     *base.URL
	proto gortsplib.Protocol
	url   string // redacted, for logs
	log   *slog.Logger
	queue chan *accessUnit
	pool  sync.Pool

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	err    error // why the Pusher stopped by itself; set before done is closed

	connected                           atomic.Bool
	sent, dropped, reconnects, failures atomic.Uint64

	// Owned by the run goroutine.
	everConnected bool
	sps, pps      []byte // of the last IDR announced
}

// New checks cfg and starts pushing. It returns at once: connecting,
// waiting for the stream and reconnecting happen in the Pusher's goroutine.
func New(cfg Config) (*Pusher, error) {
	if cfg.Subscribe == nil {
		return nil, errors.New("push: Config.Subscribe is nil")
	}
	u, tr, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Transport != "" {
		tr = cfg.Transport
	}
	t, err := ParseTransport(tr)
	if err != nil {
		return nil, err
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
		cfg: cfg, u: u, url: Redact(cfg.URL), proto: gortsplib.ProtocolTCP,
		queue: make(chan *accessUnit, cfg.QueueSize), done: make(chan struct{}),
	}
	if t == UDP {
		p.proto = gortsplib.ProtocolUDP
	}
	p.log = cfg.Logger.With("url", p.url)
	p.pool.New = func() any { return new(accessUnit) }
	p.ctx, p.cancel = context.WithCancel(context.Background())
	go p.run()
	return p, nil
}

// URL is the remote URL with its password redacted.
func (p *Pusher) URL() string { return p.url }

// Transport is the transport in use: "tcp" or "udp".
func (p *Pusher) Transport() string {
	if p.proto == gortsplib.ProtocolUDP {
		return "udp"
	}
	return "tcp"
}

// Stats returns the Pusher's counters.
func (p *Pusher) Stats() Stats {
	return Stats{
		Connected:  p.connected.Load(),
		FramesSent: p.sent.Load(),
		Dropped:    p.dropped.Load(),
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

// Close stops pushing: it tears the RTSP session down (the remote sees the
// end of the stream), removes the sink and returns when the Pusher's
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
	c, media, forma, err := p.connect()
	if err != nil {
		p.put(idr)
		return 0, false, fmt.Errorf("connect: %w", err)
	}
	since := time.Now()
	p.connected.Store(true)
	if p.everConnected {
		p.reconnects.Add(1)
	}
	p.everConnected = true
	p.log.Info("push connected", "transport", p.Transport())

	ended := make(chan error, 1)
	go func() { ended <- c.Wait() }()
	defer func() {
		p.connected.Store(false)
		c.Close() // TEARDOWN, then the client's goroutines end
		<-ended
	}()

	w, err := newWriter(c, media, forma)
	if err != nil {
		p.put(idr)
		return 0, true, err
	}
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
	if time.Since(idr.arrived) > staleAfter {
		// Connecting took long: what waits is old. Start from a fresh IDR.
		p.put(idr)
		p.drain()
		needIDR = true
		ask()
	} else {
		err := w.write(idr)
		p.put(idr)
		if err != nil {
			return time.Since(since), true, err
		}
		p.sent.Add(1)
	}
	for {
		select {
		case <-p.ctx.Done():
			return time.Since(since), true, nil
		case err := <-ended:
			ended <- err // for the deferred wait
			return time.Since(since), true, err
		case a := <-p.queue:
			if a.gap {
				needIDR = true
			}
			if needIDR && !a.idr {
				p.dropped.Add(1)
				p.put(a)
				ask()
				continue
			}
			needIDR = false
			err := w.write(a)
			p.put(a)
			if errors.As(err, new(liberrors.ErrClientWriteQueueFull)) {
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

// connect dials the remote and runs ANNOUNCE (an SDP with one H.264 media
// carrying the SPS and PPS of the IDR about to be sent), SETUP and RECORD.
func (p *Pusher) connect() (*gortsplib.Client, *description.Media, *format.H264, error) {
	desc, media, forma := h264desc.Session(p.sps, p.pps)
	proto := p.proto
	c := &gortsplib.Client{
		Scheme:         p.u.Scheme,
		Host:           p.u.Host,
		Protocol:       &proto,
		WriteQueueSize: writeQueueSize,
		DialContext:    dialNoDelay,
		OnTransportSwitch: func(err error) {
			p.log.Debug("push transport switch", "error", err)
		},
		OnPacketsLost: func(lost uint64) {
			p.log.Debug("push packets lost", "lost", lost)
		},
		OnDecodeError: func(err error) {
			p.log.Debug("push decode error", "error", err)
		},
	}
	if p.cfg.nagle {
		c.DialContext = dialNagle
	}
	if err := c.Start(); err != nil {
		return nil, nil, nil, err
	}
	// Close interrupts a dial or a request the remote does not answer.
	stop := context.AfterFunc(p.ctx, c.Close)
	defer stop()
	fail := func(err error) (*gortsplib.Client, *description.Media, *format.H264, error) {
		c.Close()
		return nil, nil, nil, err
	}
	if _, err := c.Announce(p.u, desc); err != nil {
		return fail(fmt.Errorf("announce: %w", err))
	}
	if err := c.SetupAll(p.u, desc.Medias); err != nil {
		return fail(fmt.Errorf("setup: %w", err))
	}
	if _, err := c.Record(); err != nil {
		return fail(fmt.Errorf("record: %w", err))
	}
	return c, media, forma, nil
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
func (p *Pusher) waitIDR() (*accessUnit, error) {
	for {
		select {
		case <-p.ctx.Done():
			return nil, p.ctx.Err()
		case a := <-p.queue:
			if a.idr {
				sps, pps := a.params()
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
func (p *Pusher) drain() {
	for {
		select {
		case a := <-p.queue:
			p.put(a)
		default:
			return
		}
	}
}

func (p *Pusher) put(a *accessUnit) { p.pool.Put(a) }

// subscription is one registration of a sink with the encoder.
type subscription struct {
	p      *Pusher
	remove func()
	muted  atomic.Bool
	gap    bool // an access unit was dropped since the last one queued; the encoder's goroutine only
}

// sink copies the access unit and queues it without blocking: when the
// queue is full it is dropped and the next one queued carries the gap.
func (s *subscription) sink(au [][]byte, pts time.Duration, capture time.Time) {
	if s.muted.Load() {
		return
	}
	p := s.p
	a := p.pool.Get().(*accessUnit)
	a.fill(au, pts, capture)
	a.gap = s.gap
	select {
	case p.queue <- a:
		s.gap = false
	default:
		p.pool.Put(a)
		p.dropped.Add(1)
		s.gap = true
	}
}

func (s *subscription) close() {
	s.muted.Store(true)
	s.remove()
}

// randUint32 is a random RTP timestamp origin.
func randUint32() (uint32, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}
