package framecast

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framecast/framecast/internal/ingest"
	"github.com/framecast/framecast/internal/ingest/shm"
	"github.com/framecast/framecast/internal/listen"
)

// Timeouts of the ingest side.
const (
	// ingestWriteTimeout bounds a READY or ERROR write to a producer that
	// does not read its socket; the connection is then dropped.
	ingestWriteTimeout = 10 * time.Second
	// ingestShutdownTimeout bounds the shutting-down ERROR sent by Close.
	ingestShutdownTimeout = 500 * time.Millisecond
	// ingestLinger is how long the server keeps reading (and discarding)
	// after a fatal ERROR, so that the producer reads the ERROR instead of
	// a connection reset; ingestLingerBytes bounds what it discards.
	ingestLinger      = time.Second
	ingestLingerBytes = 64 << 20
)

// ingestState holds the ingest listeners and producer connections.
type ingestState struct {
	mu        sync.Mutex
	closing   bool
	done      chan struct{} // closed by closeIngest: wakes accept back-offs
	listeners map[net.Listener]struct{}
	conns     map[*producerConn]struct{}
	nconns    uint64
	wg        sync.WaitGroup // accept loops and connections
	limits    ingestLimits   // against hostile clients: ingest_limits.go
}

// ListenIngest listens for producers speaking the ingest protocol
// (docs/ingest-protocol.md) at url, tcp://HOST:PORT or unix:///PATH, and
// returns the address it listens on (with the port chosen when PORT is 0).
// It may be called several times, for several addresses.
//
// Each producer publishes one path: HELLO names it, the first FORMAT
// publishes it (as Publish does) and later ones change its format, FRAMEs
// are written to it, and the end of the connection closes the stream while
// its viewers stay connected for the next producer. A broken or hostile
// producer is answered with an ERROR and, when fatal, disconnected; it never
// affects other streams. A connection must complete its HELLO within
// Config.IngestHelloTimeout; then producers may pause for as long as they
// like. Connections not yet past HELLO, and the memory of frames being
// received, are bounded (Config, IngestStats; ingest_limits.go).
//
// A Unix socket is created with mode 0660 (a stale socket file left by a
// crash is replaced; any other file is not) and removed when the server
// closes. Close stops the listeners, sends every producer a shutting-down
// ERROR, disconnects it and waits for its goroutine.
func (s *Server) ListenIngest(url string) (net.Addr, error) {
	network, address, ok := parseIngestURL(url)
	if !ok {
		return nil, fmt.Errorf("ingest address %q: want tcp://HOST:PORT or unix:///PATH", url)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrServerClosed
	}
	var l net.Listener
	var err error
	if network == "unix" {
		l, err = listenUnix(address)
	} else {
		l, err = net.Listen(tcpNetwork(address), address)
	}
	if err != nil {
		return nil, fmt.Errorf("ingest %s: %w", url, err)
	}
	// Temporary accept errors (EMFILE…) are retried, counted and logged there.
	l = listen.Wrap(l, listen.Options{Name: "ingest", Logger: s.log})
	in := &s.ingest
	in.mu.Lock()
	if in.closing {
		in.mu.Unlock()
		l.Close()
		return nil, ErrServerClosed
	}
	if in.listeners == nil {
		in.listeners = make(map[net.Listener]struct{})
		in.conns = make(map[*producerConn]struct{})
		in.done = make(chan struct{})
		in.limits.budget = ingest.NewBudget(s.cfg.MaxIngestFrameMemory)
	}
	in.listeners[l] = struct{}{}
	in.wg.Add(1)
	in.mu.Unlock()
	go s.acceptProducers(l, network)
	s.log.Info("ingest listening", "address", network+"://"+l.Addr().String())
	warnIfOpen(s.log, "ingest", "publish", l.Addr(), s.access.publish)
	return l.Addr(), nil
}

// tcpNetwork is "tcp4" for an IPv4 host (0.0.0.0 included), so that
// tcp://0.0.0.0:PORT listens on IPv4 only, as it says, and not on every IPv6
// address too; "tcp" otherwise (a name, an IPv6 address, or no host).
func tcpNetwork(address string) string {
	host, _, _ := net.SplitHostPort(address)
	if ip := net.ParseIP(host); ip != nil && ip.To4() != nil {
		return "tcp4"
	}
	return "tcp"
}

func parseIngestURL(url string) (network, address string, ok bool) {
	if rest, found := strings.CutPrefix(url, "tcp://"); found {
		_, _, err := net.SplitHostPort(rest)
		return "tcp", rest, err == nil
	}
	if rest, found := strings.CutPrefix(url, "unix://"); found {
		return "unix", rest, strings.HasPrefix(rest, "/") && len(rest) > 1
	}
	return "", "", false
}

// listenUnix listens on a Unix socket at path with mode 0660. A socket file
// nobody listens on (left by a crash) is removed first; a live one, or a
// file that is not a socket, is an error.
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("another server is listening on %s", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (s *Server) acceptProducers(l net.Listener, network string) {
	in := &s.ingest
	defer in.wg.Done()
	for {
		// l is a listen.Listener: it backs off and retries EMFILE and the
		// like itself, so any other error means it is gone for good.
		c, err := l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.fail(fmt.Errorf("ingest %s://%s: %w", network, l.Addr(), err))
			}
			return
		}
		in.mu.Lock()
		if in.closing {
			in.mu.Unlock()
			c.Close()
			return
		}
		in.nconns++
		pc := &producerConn{s: s, c: c, w: ingest.NewWriter(c), remote: c.RemoteAddr().String(), released: make(chan struct{})}
		if network == "unix" {
			// Unix peers have no address: name the socket and the connection.
			pc.remote = fmt.Sprintf("unix:%s#%d", l.Addr(), in.nconns)
		}
		if e := in.limits.admit(&s.cfg, pc, l); e != nil {
			in.mu.Unlock()
			s.refuseAtAccept(pc, e)
			continue
		}
		in.conns[pc] = struct{}{}
		in.wg.Add(1)
		in.mu.Unlock()
		go s.serveProducer(pc)
	}
}

// closeIngest stops the ingest listeners and producer connections and waits
// for their goroutines.
func (s *Server) closeIngest() {
	in := &s.ingest
	in.mu.Lock()
	if in.closing {
		in.mu.Unlock()
		in.wg.Wait()
		return
	}
	in.closing = true
	if in.done != nil {
		close(in.done)
	}
	for l := range in.listeners {
		l.Close()
	}
	conns := make([]*producerConn, 0, len(in.conns))
	for pc := range in.conns {
		conns = append(conns, pc)
	}
	in.mu.Unlock()
	var wg sync.WaitGroup
	for _, pc := range conns {
		wg.Go(pc.shutdown)
	}
	wg.Wait()
	in.wg.Wait()
}

// producerConn is one producer's connection. Its goroutine reads and
// answers; closeIngest may write the last ERROR from another goroutine.
type producerConn struct {
	s      *Server
	c      net.Conn
	remote string

	wmu      sync.Mutex // serialises writes
	w        *ingest.Writer
	shutting atomic.Bool // set by shutdown: no write but its own

	// A producer taking the path over evicts this one: ingest_takeover.go.
	dmu         sync.Mutex    // guards evicted and the read deadline
	evicted     *ingest.Error // the replaced ERROR to end with, once evicted
	released    chan struct{} // closed once the connection's stream is closed
	releaseOnce sync.Once
}

// send writes an answer, giving up after ingestWriteTimeout.
func (pc *producerConn) send(write func(*ingest.Writer) error) error {
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	if pc.shutting.Load() {
		return net.ErrClosed
	}
	pc.c.SetWriteDeadline(time.Now().Add(ingestWriteTimeout))
	if pc.shutting.Load() {
		// shutdown set its short deadline before this one: restore it.
		pc.c.SetWriteDeadline(time.Now().Add(ingestShutdownTimeout))
	}
	return write(pc.w)
}

func (pc *producerConn) sendError(e *ingest.Error) error {
	return pc.send(func(w *ingest.Writer) error { return w.WriteError(e) })
}

// shutdown sends a shutting-down ERROR where the socket takes it at once,
// and closes the connection, which ends the producer's goroutine.
func (pc *producerConn) shutdown() {
	pc.shutting.Store(true)
	// A write in progress (to a producer that does not read) ends soon.
	pc.c.SetWriteDeadline(time.Now().Add(ingestShutdownTimeout))
	pc.wmu.Lock()
	pc.w.WriteError(&ingest.Error{Code: ingest.CodeShuttingDown, Fatal: true, Message: "the server is shutting down"})
	pc.wmu.Unlock()
	pc.c.Close()
}

// serveProducer runs one producer's session, then closes its stream (its
// viewers stay) and its connection.
func (s *Server) serveProducer(pc *producerConn) {
	in := &s.ingest
	defer in.wg.Done()
	// "producer connected" is logged once HELLO is accepted: before, the
	// connection may be anyone's, and its lines are bounded (logFailure).
	ss := &producerSession{pc: pc}
	ss.r = ingest.NewReader(ss.source())
	ss.r.SetBudget(in.limits.budget)
	ss.startHelloDeadline()
	reason := ss.run()
	ss.r.Release()
	ss.closeShm() // nothing converts from the ring any more: unmap it
	ss.closeStream()
	pc.c.Close()
	in.mu.Lock()
	delete(in.conns, pc)
	in.limits.authenticated(pc) // if it never was: its place is free
	in.mu.Unlock()
	if !ss.hello {
		return // logFailure logged why, if there was a reason worth a line
	}
	s.log.Info("producer disconnected", "remote", pc.remote, "path", ss.path, "frames", ss.frames,
		"refused", ss.refused, "reason", reason)
}

// producerSession is the protocol state of one connection.
type producerSession struct {
	pc       *producerConn
	r        *ingest.Reader
	hello    bool
	path     string
	st       *Stream
	frames   uint64
	refused  uint64        // messages refused with a non-fatal ERROR
	timedOut bool          // the HELLO deadline passed
	takeover bool          // HELLO's FlagTakeover: ingest_takeover.go
	info     bool          // HELLO's FlagInfo: READY carries the RTSP URL
	format   ingest.Format // the format accepted last

	// Shared memory (HELLO's FlagSharedMemory on a Unix socket): ingest_shm.go.
	shared bool
	fds    *shm.Reader // the Unix socket's bytes and descriptors
	ring   *shmRing    // the ring of the current format, once RING came
}

// run reads and answers messages until the connection ends, and says why.
func (ss *producerSession) run() string {
	for {
		if e := ss.pc.evictedBy(); e != nil {
			return ss.replaced(e)
		}
		if ss.hello {
			ss.dropBufferWhenIdle()
		}
		m, err := ss.r.Next()
		if err != nil {
			if e := ss.pc.evictedBy(); e != nil {
				return ss.replaced(e)
			}
			var e *ingest.Error
			if !errors.As(err, &e) {
				if ss.helloTimedOut(err) {
					return ss.fail(ss.helloTimeout())
				}
				return ss.readError(err)
			}
			if !ss.hello {
				e = notHello(m.Header.Type, e)
			}
			if e.Fatal {
				return ss.fail(e)
			}
			if ss.st != nil && m.Header.Type == ingest.TypeFrame {
				// The Reader skipped a frame of the wrong size: the
				// stream counts it as refused, as a Go API write.
				ss.st.refused.Add(1)
			}
			if err := ss.refuse(e); err != nil {
				return ss.readError(err)
			}
			continue
		}
		if !ss.hello && m.Header.Type != ingest.TypeHello {
			return ss.fail(notHello(m.Header.Type, nil))
		}
		var e *ingest.Error
		switch m.Header.Type {
		case ingest.TypeHello:
			e = ss.onHello(m.Header.Flags, m.Payload)
		case ingest.TypeFormat:
			e = ss.onFormat(m.Payload)
		case ingest.TypeFrame:
			e = ss.onFrame(&m)
		case ingest.TypeRing:
			e = ss.onRing(m.Payload)
		case ingest.TypeSlot:
			e = ss.onSlot(&m)
		case ingest.TypeBye:
			return "BYE"
		default:
			e = &ingest.Error{Code: ingest.CodeMalformed, Fatal: true,
				Message: fmt.Sprintf("%v is a message the server sends, not a producer", m.Header.Type)}
		}
		switch {
		case e == nil:
		case e.Fatal:
			return ss.fail(e)
		default:
			if err := ss.refuse(e); err != nil {
				return ss.readError(err)
			}
		}
	}
}

// notHello is the bad-hello error for a first message that is not a HELLO,
// with the reason it was refused when there was one.
func notHello(t ingest.Type, e *ingest.Error) *ingest.Error {
	msg := fmt.Sprintf("first message is %v, want HELLO", t)
	switch {
	case e == nil:
	case e.Code == ingest.CodeMessageTooLarge && t == ingest.TypeHello:
		return e
	case e.Code == ingest.CodeMalformed || e.Code == ingest.CodeMessageTooLarge:
		msg = fmt.Sprintf("first message is not a HELLO: %s", e.Message)
	}
	return &ingest.Error{Code: ingest.CodeBadHello, Fatal: true, Message: msg}
}

func (ss *producerSession) readError(err error) string {
	switch {
	case ss.pc.shutting.Load():
		return "server shutting down"
	case errors.Is(err, io.EOF):
		return "connection closed without BYE"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed in the middle of a message"
	}
	return err.Error()
}

// refuse answers a non-fatal error: the first is logged, later ones counted.
func (ss *producerSession) refuse(e *ingest.Error) error {
	ss.refused++
	if ss.refused == 1 {
		ss.pc.s.log.Warn("producer message refused", "remote", ss.pc.remote, "path", ss.path,
			"code", e.Code.String(), "error", e.Message, "note", "later refusals are counted, not logged")
	}
	return ss.pc.sendError(e)
}

// fail sends a fatal ERROR, then reads for a while so that the producer gets
// the ERROR rather than a reset, and says why the connection ends.
func (ss *producerSession) fail(e *ingest.Error) string {
	pc := ss.pc
	if !pc.shutting.Load() {
		ss.logFailure(e)
	}
	if pc.sendError(e) == nil {
		if cw, ok := pc.c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		pc.c.SetReadDeadline(time.Now().Add(ingestLinger))
		io.Copy(io.Discard, io.LimitReader(pc.c, ingestLingerBytes))
	}
	return e.Code.String() + ": " + e.Message
}

func (ss *producerSession) onHello(flags uint8, payload []byte) *ingest.Error {
	if ss.hello {
		return &ingest.Error{Code: ingest.CodeBadHello, Fatal: true,
			Message: fmt.Sprintf("second HELLO on a connection that publishes %s", ss.path)}
	}
	var h ingest.Hello
	if err := h.Unmarshal(payload); err != nil {
		return err.(*ingest.Error)
	}
	ss.path = h.Path
	// A Unix socket's file permissions decide who may publish; over TCP the
	// token must match the path's publish credentials.
	if ss.pc.c.LocalAddr().Network() != "unix" {
		if err := ss.pc.s.access.checkToken(h.Path, h.Token); err != nil {
			user, _, _ := strings.Cut(h.Token, ":")
			ss.pc.s.ingest.limits.authFailures.Add(1)
			ss.pc.s.authLog.failed("publish", ss.pc.remote, h.Path, user)
			return authRefusal(h.Path, err)
		}
	}
	// A producer taking the path over replaces the old one at its first
	// FORMAT: ingest_takeover.go.
	ss.takeover = flags&ingest.FlagTakeover != 0
	ss.info = flags&ingest.FlagInfo != 0
	ss.shared = flags&ingest.FlagSharedMemory != 0 && ss.fds != nil
	if ss.takeover {
		if owner, ok := ss.canTakeOver(h.Path); !ok {
			return &ingest.Error{Code: ingest.CodePathInUse, Fatal: true,
				Message: fmt.Sprintf("path %s already has a producer (%s), which is not an ingest producer and cannot be taken over", h.Path, owner)}
		}
	} else if owner, busy := ss.pc.s.pathOwner(h.Path); busy {
		return pathInUse(h.Path, owner)
	}
	if ss.pc.s.producersFull(h.Path) {
		return ss.pc.s.tooManyProducers()
	}
	ss.hello = true
	ss.authenticated()
	if ss.shared {
		return ss.readyFlags(ingest.FlagReadyShared)
	}
	return ss.ready()
}

func pathInUse(path, owner string) *ingest.Error {
	return &ingest.Error{Code: ingest.CodePathInUse, Fatal: true,
		Message: fmt.Sprintf("path %s already has a producer (from %s)", path, owner)}
}

func (ss *producerSession) ready() *ingest.Error { return ss.readyFlags(0) }

// readyFlags sends READY with flags in its header: FlagReadyShared in the
// answer to a HELLO whose shared memory the server takes.
func (ss *producerSession) readyFlags(flags uint8) *ingest.Error {
	r := ingest.Ready{Version: ingest.Version, MaxFramePayload: ingest.MaxFramePayload}
	if ss.info {
		r.RTSPURL = ss.pc.s.rtspURL(ss.path, ss.pc.c.LocalAddr())
	}
	err := ss.pc.send(func(w *ingest.Writer) error { return w.WriteReadyFlags(&r, flags) })
	if err != nil {
		// The connection is broken: the next read says so.
		ss.pc.c.Close()
	}
	return nil
}

func (ss *producerSession) onFormat(payload []byte) *ingest.Error {
	var f ingest.Format
	if err := f.Unmarshal(payload); err != nil {
		return err.(*ingest.Error)
	}
	s := ss.pc.s
	ff := formatFromIngest(f)
	// Slots are sized for a format: a new one needs a new RING. The ring
	// goes first, so that the stream copies out a frame it keeps there.
	ss.closeRing()
	if ss.st == nil {
		st, err := ss.publish(ff)
		switch {
		case errors.Is(err, ErrPathInUse):
			owner, _ := s.pathOwner(ss.path)
			return pathInUse(ss.path, owner)
		case errors.Is(err, ErrTooManyProducers):
			return s.tooManyProducers()
		case errors.Is(err, ErrServerClosed):
			return &ingest.Error{Code: ingest.CodeShuttingDown, Fatal: true, Message: "the server is shutting down"}
		case err != nil:
			return &ingest.Error{Code: ingest.CodeInternal, Fatal: true, Message: fmt.Sprintf("cannot start the encoder: %v", err)}
		}
		ss.st = st
	} else if err := ss.st.SetFormat(ff); err != nil {
		if errors.Is(err, ErrStreamClosed) {
			return &ingest.Error{Code: ingest.CodeShuttingDown, Fatal: true, Message: "the server is shutting down"}
		}
		return &ingest.Error{Code: ingest.CodeInternal, Fatal: true, Message: fmt.Sprintf("cannot restart the encoder: %v", err)}
	}
	// f passed Unmarshal's validation, which SetFormat repeats.
	ss.r.SetFormat(f)
	ss.format = f
	return ss.ready()
}

func (ss *producerSession) onFrame(m *ingest.Message) *ingest.Error {
	return ss.writeFrame(m.Payload, m.Timestamp, m.HasTimestamp())
}

// writeFrame writes pixels to the stream: WriteFrame converts them before
// it returns and keeps no reference to pix.
func (ss *producerSession) writeFrame(pix []byte, ts time.Duration, hasTS bool) *ingest.Error {
	var err error
	if hasTS {
		err = ss.st.WriteFrameAt(pix, ts)
	} else {
		err = ss.st.WriteFrame(pix)
	}
	if err == nil {
		ss.frames++
		return nil
	}
	if errors.Is(err, ErrStreamClosed) {
		return &ingest.Error{Code: ingest.CodeShuttingDown, Fatal: true, Message: "the server is shutting down"}
	}
	// The Reader checked the size, so this is a converter's refusal the
	// Reader did not foresee; the producer sees the converter's words.
	msg := strings.TrimPrefix(err.Error(), "write "+ss.path+": ")
	return &ingest.Error{Code: ingest.CodeFrameSize, Message: msg}
}

// formatFromIngest turns a FORMAT into a Format; options left out take the
// server's defaults.
func formatFromIngest(f ingest.Format) Format {
	ff := Format{
		PixelFormat: f.PixelFormat,
		Width:       int(f.Width),
		Height:      int(f.Height),
		Stride:      int(f.Stride),
		FPS:         f.FPS(),
	}
	if o := f.Options; o != (ingest.Options{}) {
		ff.Encoder = &EncoderConfig{
			BitrateKbps: o.BitrateKbps, CRF: o.CRF, GOP: o.GOP,
			Preset: o.Preset, Tune: o.Tune, Profile: o.Profile, Threads: o.Threads,
		}
	}
	return ff
}
