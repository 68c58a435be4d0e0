// Package publisher publishes raw frames to a framecast server from another
// process, over TCP or a Unix socket, with framecast's ingest protocol
// (docs/ingest-protocol.md). It is the producer's end of the pipeline: the
// server converts, encodes and serves the frames at rtsp://HOST:8554/PATH.
//
//	pub, err := publisher.Dial(ctx, "tcp://127.0.0.1:8555", "/cam",
//		publisher.Format{PixelFormat: pixfmt.BGR24, Width: 640, Height: 480, FPS: 30})
//	for { err = pub.WriteFrame(pixels) }
//	err = pub.Close()
//
// Pixels are sent straight from the caller's slice with one writev per
// frame: no copy, no allocation. On a Unix socket, WithSharedMemory sends
// them through a ring of shared memory instead: Frame returns the next free
// slot to draw into and Commit hands it to the server, so the pixels never
// cross the socket (WriteFrame copies once into a slot). The package is
// pure Go and does not link the server: it builds with CGO_ENABLED=0.
package publisher

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framecast/framecast/internal/ingest"
	"github.com/framecast/framecast/internal/ingest/shm"
)

// Code is an error code of the ingest protocol; its String is the spec's
// name, e.g. "frame-size".
type Code = ingest.Code

// The error codes a server sends.
const (
	CodeBadHello           = ingest.CodeBadHello           // the HELLO was refused, e.g. a malformed path
	CodeUnsupportedVersion = ingest.CodeUnsupportedVersion // the server speaks another protocol version
	CodeMalformed          = ingest.CodeMalformed          // a message broke the protocol
	CodeMessageTooLarge    = ingest.CodeMessageTooLarge    // a message was above the limits
	CodePathInUse          = ingest.CodePathInUse          // another producer publishes the path
	CodeUnauthorized       = ingest.CodeUnauthorized       // the token is wrong or missing
	CodeBadFormat          = ingest.CodeBadFormat          // the format was refused; the previous one stays
	CodeNoFormat           = ingest.CodeNoFormat           // a frame came before any accepted format
	CodeFrameSize          = ingest.CodeFrameSize          // a frame was not the size its format needs; it was dropped
	CodeShuttingDown       = ingest.CodeShuttingDown       // the server is stopping
	CodeInternal           = ingest.CodeInternal           // the server's encoder failed
	CodeTooManyProducers   = ingest.CodeTooManyProducers   // the server has its maximum number of producers
	CodeServerBusy         = ingest.CodeServerBusy         // the server is at a limit against abuse; try again later
	CodeReplaced           = ingest.CodeReplaced           // another producer took the path over (WithTakeover)
	CodeBadRing            = ingest.CodeBadRing            // the server could not map the shared-memory ring
)

// Error is an error the server reported. When Fatal, the server has closed
// the connection and every later call returns this error; otherwise the
// connection and the stream go on.
type Error struct {
	Code    Code
	Fatal   bool
	Message string // what was expected, e.g. "frame is 1000 bytes, want 921600 for bgr24 640x480"
}

func (e *Error) Error() string { return "framecast: " + e.Code.String() + ": " + e.Message }

func fromWire(e *ingest.Error) *Error {
	return &Error{Code: e.Code, Fatal: e.Fatal, Message: e.Message}
}

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("publisher: closed")

// maxPending is the number of refused-frame errors kept until a call returns
// them; later ones are dropped until there is room.
const maxPending = 16

// Timeouts.
const (
	// closeTimeout bounds how long Close waits for the server to take
	// what was sent (and for a write stuck on a server that stopped reading).
	closeTimeout = 5 * time.Second
	// answerTimeout bounds how long SetFormat waits for the answer.
	answerTimeout = 10 * time.Second
)

// Option configures Dial.
type Option func(*config)

type config struct {
	token    string
	takeover bool
	shm      *SharedMemory
}

// WithToken sends token in the HELLO, for a server that requires one to
// publish.
func WithToken(token string) Option { return func(c *config) { c.token = token } }

// WithTakeover takes the path over from the producer that publishes it, if
// it is another ingest producer: the server ends that producer's connection
// with a CodeReplaced error, and the path's viewers go on with this one's
// frames. Without it, Dial fails with CodePathInUse. Taking over needs what
// publishing needs (the token over TCP), nothing more.
func WithTakeover() Option { return func(c *config) { c.takeover = true } }

// Publisher publishes one path. Its methods may be called from any
// goroutine; calls are serialised.
type Publisher struct {
	conn    net.Conn
	path    string
	rtspURL string // from READY

	wmu    sync.Mutex // serialises writes; guards the fields below
	w      *ingest.Writer
	f      Format
	closed bool

	r    *ingest.Reader // owned by Dial, then by readLoop
	done chan struct{}  // closed when readLoop ends
	bye  atomic.Bool    // BYE sent: the end of the connection is expected

	// Shared memory (WithSharedMemory): shm.go.
	sm     *SharedMemory
	shared bool                 // the server took shared memory at HELLO
	ring   atomic.Pointer[ring] // the ring of the format in force; readLoop frees its slots
	cur    int                  // the slot Frame returned and Commit has not sent, or -1
	buf    []byte               // without shared memory: what Frame returns

	hasNews  atomic.Bool // pending or fatal is set: check under mu
	mu       sync.Mutex
	pending  []*Error // non-fatal errors for earlier frames, oldest first
	fatal    error    // the server's fatal *Error, or the connection's failure
	awaiting bool     // SetFormat waits for an answer
	answers  chan error
}

// Dial connects to the server's ingest address ("tcp://HOST:PORT",
// "unix:///PATH", or "HOST:PORT" for TCP), publishes path (e.g. "/cam")
// with frames of format f, and returns when the server has accepted both,
// ready for frames. f is checked as the server checks it, before
// connecting. FPS 0 means 30; the rate is sent as a fraction: whole rates
// over 1, NTSC rates (29.97, 59.94, 23.976) as 30000/1001 and the like,
// others in thousandths. f.Encoder, when set, is sent as the stream's
// encoder options; its zero fields take the server's defaults.
//
// ctx bounds the connection and the handshake. Errors the server reports
// are *Error: CodePathInUse when another producer publishes path,
// CodeBadFormat for a format it does not take, and so on.
func Dial(ctx context.Context, address, path string, f Format, opts ...Option) (*Publisher, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	network, addr, err := parseAddress(address)
	if err != nil {
		return nil, err
	}
	if err := ingest.ValidatePath(path); err != nil {
		return nil, &Error{Code: CodeBadHello, Fatal: true, Message: err.Error()}
	}
	wf, err := toWire(f)
	if err != nil {
		return nil, err
	}
	hello := ingest.Hello{Path: path, Token: cfg.token, Flags: ingest.FlagInfo}
	if cfg.takeover {
		hello.Flags |= ingest.FlagTakeover
	}
	if cfg.shm != nil {
		if err := cfg.shm.check(network); err != nil {
			return nil, err
		}
		if network == "unix" && shm.Supported {
			hello.Flags |= ingest.FlagSharedMemory
		}
	}
	p, err := dial(ctx, network, addr, address, &hello, &wf, f, cfg.shm)
	unknownFlags := func() bool {
		var e *Error
		return errors.As(err, &e) && e.Code == CodeMalformed && strings.Contains(e.Message, "unknown flags")
	}
	if unknownFlags() && hello.Flags&ingest.FlagSharedMemory != 0 {
		// A server older than shared memory.
		if cfg.shm.Required {
			return nil, errNoSharedMemory(address, "the server is too old for it")
		}
		hello.Flags &^= ingest.FlagSharedMemory
		p, err = dial(ctx, network, addr, address, &hello, &wf, f, cfg.shm)
	}
	if unknownFlags() && !cfg.takeover {
		// A server older than HELLO's flags: it has no URL to tell.
		hello.Flags = 0
		p, err = dial(ctx, network, addr, address, &hello, &wf, f, cfg.shm)
	}
	return p, err
}

func dial(ctx context.Context, network, addr, address string, hello *ingest.Hello, wf *ingest.Format, f Format, sm *SharedMemory) (*Publisher, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	p := &Publisher{
		conn: conn, path: hello.Path, w: ingest.NewWriter(conn), r: ingest.NewReader(conn), f: f,
		done: make(chan struct{}), answers: make(chan error, 1), sm: sm, cur: -1,
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	err = p.handshake(hello, wf)
	if !stop() {
		err = fmt.Errorf("publisher: handshake with %s: %w", address, ctx.Err())
	}
	if err == nil && sm != nil && sm.Required && p.ring.Load() == nil {
		err = errNoSharedMemory(address, "the server did not take it")
	}
	if err != nil {
		conn.Close()
		p.closeRing()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	go p.readLoop()
	return p, nil
}

func parseAddress(address string) (network, addr string, err error) {
	if rest, ok := strings.CutPrefix(address, "unix://"); ok && strings.HasPrefix(rest, "/") {
		return "unix", rest, nil
	}
	rest, _ := strings.CutPrefix(address, "tcp://")
	if _, _, err := net.SplitHostPort(rest); err != nil || strings.Contains(rest, "://") {
		return "", "", fmt.Errorf("publisher: address %q: want tcp://HOST:PORT, unix:///PATH or HOST:PORT", address)
	}
	return "tcp", rest, nil
}

// toWire turns f into a FORMAT and checks it as the server does.
func toWire(f Format) (ingest.Format, error) {
	fps := f.FPS
	if fps == 0 {
		fps = 30
	}
	num, den := fpsFraction(fps)
	bad := func(msg string, args ...any) (ingest.Format, error) {
		return ingest.Format{}, &Error{Code: CodeBadFormat, Message: fmt.Sprintf(msg, args...)}
	}
	if !(fps >= 1.0/ingest.MaxFPS && fps <= ingest.MaxFPS) {
		return bad("frame rate %g: want from 1/%d to %d frames per second", fps, ingest.MaxFPS, ingest.MaxFPS)
	}
	inRange := func(v int) bool { return v >= 0 && v <= math.MaxUint32 }
	if !inRange(f.Width) || !inRange(f.Height) || !inRange(f.Stride) {
		return bad("size %dx%d or stride %d out of range", f.Width, f.Height, f.Stride)
	}
	wf := ingest.Format{
		PixelFormat: f.PixelFormat, Width: uint32(f.Width), Height: uint32(f.Height), Stride: uint32(f.Stride),
		FPSNum: num, FPSDen: den,
	}
	if e := f.Encoder; e != nil {
		wf.Options = ingest.Options{
			BitrateKbps: e.BitrateKbps, CRF: e.CRF, GOP: e.GOP,
			Preset: e.Preset, Tune: e.Tune, Profile: e.Profile, Threads: e.Threads,
		}
	}
	if err := wf.Validate(); err != nil {
		return ingest.Format{}, fromWire(err.(*ingest.Error))
	}
	return wf, nil
}

// fpsFraction turns a frame rate into the fraction the server takes: whole
// rates over 1 (30 → 30/1), NTSC rates over 1001 (29.97 → 30000/1001,
// 59.94 → 60000/1001), and the rest in thousandths (12.5 → 12500/1000).
func fpsFraction(fps float64) (num, den uint32) {
	if n := math.Round(fps); n >= 1 && math.Abs(fps-n) < 1e-6 {
		return uint32(n), 1
	}
	if n := math.Round(fps * 1001); n >= 1000 && math.Mod(n, 1000) == 0 && math.Abs(fps-n/1001) < 1e-4 {
		return uint32(n), 1001
	}
	return uint32(max(1, math.Round(fps*1000))), 1000
}

func (p *Publisher) handshake(h *ingest.Hello, f *ingest.Format) error {
	if err := p.w.WriteHello(h); err != nil {
		return fmt.Errorf("publisher: send HELLO: %w", err)
	}
	if err := p.readAnswer("HELLO"); err != nil {
		return err
	}
	if err := p.w.WriteFormat(f); err != nil {
		return fmt.Errorf("publisher: send FORMAT: %w", err)
	}
	if err := p.readAnswer("FORMAT"); err != nil {
		return err
	}
	if !p.shared {
		return nil
	}
	if err := p.sendRing(p.f); err != nil {
		return err
	}
	return p.readAnswer("RING")
}

// readAnswer reads the server's answer to a HELLO or FORMAT during Dial.
func (p *Publisher) readAnswer(what string) error {
	m, err := p.r.Next()
	if err != nil {
		return fmt.Errorf("publisher: waiting for the answer to %s: %w", what, err)
	}
	switch m.Header.Type {
	case ingest.TypeReady:
		var r ingest.Ready
		if err := r.Unmarshal(m.Payload); err != nil {
			return fmt.Errorf("publisher: %w", err)
		}
		if r.RTSPURL != "" {
			p.rtspURL = r.RTSPURL
		}
		if what == "HELLO" && m.Header.Flags&ingest.FlagReadyShared != 0 {
			p.shared = true
		}
		return nil
	case ingest.TypeError:
		var e ingest.Error
		if err := e.Unmarshal(m.Payload); err != nil {
			return fmt.Errorf("publisher: %w", err)
		}
		return fromWire(&e)
	}
	return fmt.Errorf("publisher: server answered %s with %v", what, m.Header.Type)
}

// readLoop reads what the server sends after Dial: answers to SetFormat and
// errors about frames, until the connection ends.
func (p *Publisher) readLoop() {
	defer close(p.done)
	for {
		m, err := p.r.Next()
		if err != nil {
			if !p.bye.Load() {
				p.setFatal(fmt.Errorf("publisher: connection to the server lost: %w", err))
			}
			return
		}
		switch m.Header.Type {
		case ingest.TypeReady:
			var r ingest.Ready
			if err := r.Unmarshal(m.Payload); err != nil {
				p.setFatal(fmt.Errorf("publisher: %w", err))
				p.conn.Close()
				return
			}
			p.answer(nil)
		case ingest.TypeFree:
			if err := p.onFree(m.Payload); err != nil {
				p.setFatal(err)
				p.conn.Close()
				return
			}
		case ingest.TypeError:
			var we ingest.Error
			if err := we.Unmarshal(m.Payload); err != nil {
				p.setFatal(fmt.Errorf("publisher: %w", err))
				p.conn.Close()
				return
			}
			e := fromWire(&we)
			switch {
			case e.Fatal:
				// The server closes the connection next.
				p.setFatal(e)
			case e.Code == CodeBadFormat:
				p.answer(e)
			default:
				p.addPending(e)
			}
		default:
			p.setFatal(fmt.Errorf("publisher: the server sent %v, which only producers send", m.Header.Type))
			p.conn.Close()
			return
		}
	}
}

func (p *Publisher) setFatal(err error) {
	p.mu.Lock()
	if p.fatal == nil {
		p.fatal = err
	}
	p.hasNews.Store(true)
	p.mu.Unlock()
}

func (p *Publisher) answer(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.awaiting {
		p.awaiting = false
		p.answers <- err
	}
}

func (p *Publisher) addPending(e *Error) {
	p.mu.Lock()
	if len(p.pending) < maxPending {
		p.pending = append(p.pending, e)
	}
	p.hasNews.Store(true)
	p.mu.Unlock()
}

// news returns the oldest error not yet returned, then the fatal one.
func (p *Publisher) news() error {
	if !p.hasNews.Load() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) > 0 {
		e := p.pending[0]
		p.pending = p.pending[1:]
		if len(p.pending) == 0 && p.fatal == nil {
			p.pending = nil
			p.hasNews.Store(false)
		}
		return e
	}
	return p.fatal
}

// Path is the path published, e.g. "/cam".
func (p *Publisher) Path() string { return p.path }

// RTSPURL is where viewers watch the path, as the server said in its
// READY, e.g. "rtsp://127.0.0.1:8554/cam"; empty for a server too old to
// say.
func (p *Publisher) RTSPURL() string { return p.rtspURL }

// Format is the format of the frames the server expects now.
func (p *Publisher) Format() Format {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return p.f
}

// LocalAddr is the connection's local address: the server names it to a
// second producer refused on the path.
func (p *Publisher) LocalAddr() net.Addr { return p.conn.LocalAddr() }

// WriteFrame sends one frame, stamped by the server with its arrival time.
// pix is sent as it is, without a copy, and may be reused once WriteFrame
// returns; the call blocks only while the socket's buffer is full.
//
// The server checks each frame's size and answers a wrong one with an error
// without stopping the stream. That answer arrives after the frame was
// sent, so it is returned by a later call: before sending pix, WriteFrame
// looks (without blocking) for errors the server has reported since the
// last call; if there is one it returns it, an *Error with CodeFrameSize,
// and does not send pix. Errors that arrive after the last WriteFrame are
// returned by Close. A fatal error (or a lost connection) is returned by
// this and every later call.
func (p *Publisher) WriteFrame(pix []byte) error { return p.write(pix, 0, false) }

// WriteFrameAt is WriteFrame with the producer's own timestamp, e.g. the
// capture time of a camera frame, on any clock: only differences between
// timestamps matter. The first frame plays at once, later ones at their
// distance from it.
func (p *Publisher) WriteFrameAt(pix []byte, ts time.Duration) error { return p.write(pix, ts, true) }

func (p *Publisher) write(pix []byte, ts time.Duration, hasTS bool) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if err := p.news(); err != nil {
		return err
	}
	if rg := p.ring.Load(); rg != nil && len(pix) <= rg.slotSize {
		slot, err := p.frame(rg)
		if err != nil {
			return err
		}
		// A frame of the wrong size goes too: the server says so.
		copy(slot[:cap(slot)], pix)
		return p.commit(len(pix), ts, hasTS)
	}
	if err := p.w.WriteFrame(pix, ts, hasTS); err != nil {
		var e *ingest.Error
		if errors.As(err, &e) {
			// Too large for a FRAME: nothing was sent, the connection goes on.
			pe := fromWire(e)
			pe.Fatal = false
			return pe
		}
		return p.writeFailed(err)
	}
	return nil
}

// writeFailed returns why a write failed: usually the server closed the
// connection after a fatal ERROR, which the read loop is about to report.
func (p *Publisher) writeFailed(err error) error {
	select {
	case <-p.done:
	case <-time.After(time.Second):
	}
	p.setFatal(fmt.Errorf("publisher: send to the server: %w", err))
	p.conn.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fatal
}

// SetFormat changes the format of the frames that follow, for example their
// size, and returns when the server has accepted it. A format the server
// refuses is an *Error with CodeBadFormat; the previous format stays and
// the connection goes on. Errors about earlier frames stay queued for the
// next WriteFrame or Close.
func (p *Publisher) SetFormat(f Format) error {
	wf, err := toWire(f)
	if err != nil {
		return err
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if err := p.await(func() error { return p.w.WriteFormat(&wf) }); err != nil {
		return err
	}
	p.f, p.buf, p.cur = f, nil, -1
	if !p.shared {
		return nil
	}
	// The server has freed every slot and dropped the ring before this
	// READY: the new format needs a new one.
	p.closeRing()
	return p.await(func() error { return p.sendRing(f) })
}

// await sends a message that the server answers with READY or ERROR (a
// FORMAT, a RING) and waits for the answer, which readLoop receives.
// Called with wmu held.
func (p *Publisher) await(send func() error) error {
	p.mu.Lock()
	fatal := p.fatal
	p.awaiting = fatal == nil
	p.mu.Unlock()
	if fatal != nil {
		return fatal
	}
	if err := send(); err != nil {
		return p.writeFailed(err)
	}
	timer := time.NewTimer(answerTimeout)
	defer timer.Stop()
	select {
	case err := <-p.answers:
		return err
	case <-p.done:
		select {
		case err := <-p.answers:
			return err
		default:
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.fatal
	case <-timer.C:
		p.setFatal(fmt.Errorf("publisher: no answer within %v", answerTimeout))
		p.conn.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.fatal
	}
}

// Close sends BYE, waits (up to 5 s) until the server has taken every frame
// sent and closed the connection, and closes it. It returns the oldest
// error the server reported that no call has returned yet, such as a
// frame-size error for one of the last frames, or the fatal error that ended
// the connection; nil when the server took everything. Viewers of the path
// stay connected, for the next producer. Close is idempotent.
func (p *Publisher) Close() error {
	// A WriteFrame blocked on a server that stopped reading gives up.
	p.conn.SetWriteDeadline(time.Now().Add(closeTimeout))
	p.wmu.Lock()
	if p.closed {
		p.wmu.Unlock()
		return nil
	}
	p.closed = true
	p.bye.Store(true)
	byeErr := p.w.WriteBye()
	p.wmu.Unlock()
	if byeErr == nil {
		timer := time.NewTimer(closeTimeout)
		select {
		case <-p.done:
		case <-timer.C:
		}
		timer.Stop()
	}
	p.conn.Close()
	<-p.done
	p.wmu.Lock()
	p.closeRing()
	p.wmu.Unlock()
	if err := p.news(); err != nil {
		return err
	}
	if byeErr != nil {
		return fmt.Errorf("publisher: send BYE: %w", byeErr)
	}
	return nil
}
