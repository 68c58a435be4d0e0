package push

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"

	"github.com/framecast/framecast/internal/h264desc"
	"github.com/framecast/framecast/internal/rtptime"
	"github.com/framecast/framecast/internal/testkit"
)

// SPS and PPS of x264 (ultrafast, zerolatency) at 160x120: a receiver
// parses the SPS it is announced.
var (
	testSPS = []byte{0x67, 0x42, 0xc0, 0x0b, 0xda, 0x0a, 0x11, 0xf9, 0x66, 0xa0, 0xc0, 0xc0, 0xc8,
		0x00, 0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x01, 0xe4, 0x78, 0xa1, 0x55}
	testPPS = []byte{0x68, 0xce, 0x0f, 0xc8}
)

var errNoStream = errors.New("no stream on this path")

// source stands in for the encoder: it calls its sinks with access units
// whose slice NAL unit carries the frame number, an IDR (with SPS and PPS
// before it) every gop frames and on each new subscription, as framecast's
// encoder does.
type source struct {
	fps            float64
	gop            uint32
	sizeIDR, sizeP int
	mu             sync.Mutex
	sinks          map[int]Sink
	nextID, adds   int
	tries          int   // Subscribe calls, failed ones included
	err            error // Subscribe fails with it while set
	wantIDR        bool
	n              uint32
	sentAt         map[uint32]time.Time // when each frame went to the sinks
	subscribedAt   []time.Time
}

func newSource(fps float64) *source {
	return &source{fps: fps, gop: 60, sizeIDR: 20000, sizeP: 3000, sinks: map[int]Sink{},
		sentAt: map[uint32]time.Time{}}
}

func (s *source) Subscribe(f Sink) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries++
	if s.err != nil {
		return nil, s.err
	}
	id := s.nextID
	s.nextID++
	s.adds++
	s.sinks[id] = f
	s.wantIDR = true
	s.subscribedAt = append(s.subscribedAt, time.Now())
	return func() {
		s.mu.Lock()
		delete(s.sinks, id)
		s.mu.Unlock()
	}, nil
}

func (s *source) setErr(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *source) sinkCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sinks)
}

func (s *source) addCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.adds
}

func (s *source) tryCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tries
}

func (s *source) pts(n uint32) time.Duration {
	return time.Duration(float64(n) * float64(time.Second) / s.fps)
}

// frame sends the next access unit to every sink.
func (s *source) frame() {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.n
	s.n++
	idr := s.wantIDR || n%s.gop == 0
	s.wantIDR = false
	au := makeAU(n, idr, s.sizeIDR, s.sizeP)
	now := time.Now()
	s.sentAt[n] = now
	for _, f := range s.sinks {
		f(au, s.pts(n), now)
	}
}

// run sends frames at the source's rate until the test ends.
func (s *source) run(t *testing.T) {
	testkit.Every(t, time.Duration(float64(time.Second)/s.fps), func() error {
		s.frame()
		return nil
	})
}

func (s *source) sentTime(n uint32) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.sentAt[n]
	return t, ok
}

// makeAU builds an access unit: SPS, PPS and an IDR slice, or a P slice;
// the slice starts with the frame number.
func makeAU(n uint32, idr bool, sizeIDR, sizeP int) [][]byte {
	size, typ := sizeP, byte(0x41)
	if idr {
		size, typ = sizeIDR, 0x65
	}
	slice := make([]byte, size)
	slice[0] = typ
	putNumber(slice[1:], n)
	for i := 5; i < size; i++ {
		slice[i] = byte(i) | 0x80
	}
	if idr {
		return [][]byte{testSPS, testPPS, slice}
	}
	return [][]byte{slice}
}

// putNumber writes n's low 28 bits as 4 bytes with the top bit set, so
// that the slice never contains a zero byte: two would look like the start
// code that a real encoder's emulation prevention rules out.
func putNumber(b []byte, n uint32) {
	for i := range 4 {
		b[i] = 0x80 | byte(n>>(21-7*i))&0x7f
	}
}

func readNumber(b []byte) uint32 {
	var n uint32
	for i := range 4 {
		n = n<<7 | uint32(b[i]&0x7f)
	}
	return n
}

// announce is what a receiver was announced.
type announce struct {
	path, query string
	sps, pps    []byte
}

// got is an access unit a receiver got.
type got struct {
	n       uint32 // frame number in the slice
	ts      uint32 // RTP timestamp
	idr     bool
	arrived time.Time
}

// receiver is an RTSP server (gortsplib) that accepts ANNOUNCE and RECORD,
// as mediamtx does, and keeps what it is sent.
type receiver struct {
	t    testing.TB
	srv  *gortsplib.Server
	addr string

	announceDelay time.Duration // how long ANNOUNCE takes to answer; set before a publisher connects

	mu         sync.Mutex
	announces  []announce
	frames     []got
	closed     int // publishing sessions ended
	largest    int // size of the largest RTP packet received, header included
	transports []string
	more       chan struct{} // signalled on every change
}

// startReceiver listens on addr (127.0.0.1:0 for any port). udp adds UDP
// ports for RTP and RTCP.
func startReceiver(t testing.TB, addr string, udpRTP, udpRTCP string) *receiver {
	t.Helper()
	r := &receiver{t: t, more: make(chan struct{}, 1)}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	r.srv = &gortsplib.Server{
		Handler:        r,
		RTSPAddress:    r.addr,
		UDPRTPAddress:  udpRTP,
		UDPRTCPAddress: udpRTCP,
		Listen:         func(string, string) (net.Listener, error) { return l, nil },
	}
	if err := r.srv.Start(); err != nil {
		l.Close()
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// Close stops the receiver: its publishers are disconnected.
func (r *receiver) Close() { r.srv.Close() }

func (r *receiver) changed() {
	select {
	case r.more <- struct{}{}:
	default:
	}
}

func (r *receiver) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	var forma *format.H264
	if ctx.Description.FindFormat(&forma) == nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, errors.New("no H.264 media")
	}
	time.Sleep(r.announceDelay) // a slow remote, as the test sets it: not a wait for anything
	r.mu.Lock()
	r.announces = append(r.announces, announce{path: ctx.Path, query: ctx.Query, sps: forma.SPS, pps: forma.PPS})
	r.mu.Unlock()
	r.changed()
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (r *receiver) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStateInitial {
		return &base.Response{StatusCode: base.StatusNotImplemented}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, nil, nil
}

func (r *receiver) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	var forma *format.H264
	media := ctx.Session.AnnouncedDescription().FindFormat(&forma)
	dec, err := forma.CreateDecoder()
	if err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, err
	}
	r.mu.Lock()
	r.transports = append(r.transports, ctx.Session.Transport().Protocol.String())
	r.mu.Unlock()
	ctx.Session.OnPacketRTP(media, forma, func(pkt *rtp.Packet) {
		r.mu.Lock()
		r.largest = max(r.largest, pkt.MarshalSize())
		r.mu.Unlock()
		au, err := dec.Decode(pkt)
		if err != nil {
			return // more packets needed, or a frame cut short
		}
		g := got{ts: pkt.Timestamp, arrived: time.Now()}
		for _, nalu := range au {
			if len(nalu) < 5 {
				continue
			}
			if typ := h264.NALUType(nalu[0] & 0x1f); typ == h264.NALUTypeNonIDR || typ == h264.NALUTypeIDR {
				g.n = readNumber(nalu[1:])
				g.idr = typ == h264.NALUTypeIDR
			}
		}
		r.mu.Lock()
		r.frames = append(r.frames, g)
		r.mu.Unlock()
		r.changed()
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (r *receiver) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	if ctx.Session.AnnouncedDescription() == nil {
		return
	}
	r.mu.Lock()
	r.closed++
	r.mu.Unlock()
	r.changed()
}

// wait waits until cond (called with the receiver locked) holds.
func (r *receiver) wait(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.more:
		case <-deadline.C:
			t.Fatalf("receiver: no %s within %v", what, timeout)
		}
	}
}

// waitFrames waits for n access units and returns them all.
func (r *receiver) waitFrames(t testing.TB, n int, timeout time.Duration) []got {
	t.Helper()
	r.wait(t, timeout, "frames", func() bool { return len(r.frames) >= n })
	return r.snapshot()
}

func (r *receiver) snapshot() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]got(nil), r.frames...)
}

func (r *receiver) lastAnnounce() announce {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.announces) == 0 {
		return announce{}
	}
	return r.announces[len(r.announces)-1]
}

// checkFrames checks frames as a decoder would see them: they start with
// an IDR, frame numbers increase, a gap in them lands on an IDR, and RTP
// timestamps advance by 90 kHz ticks of the source's pts.
func checkFrames(t *testing.T, src *source, frames []got) {
	t.Helper()
	if len(frames) == 0 {
		t.Fatal("no frames")
	}
	if !frames[0].idr {
		t.Fatalf("first frame received (%d) is not an IDR", frames[0].n)
	}
	for i := 1; i < len(frames); i++ {
		a, b := frames[i-1], frames[i]
		if b.n <= a.n {
			t.Fatalf("frame %d after frame %d: out of order", b.n, a.n)
		}
		if b.n != a.n+1 && !b.idr {
			t.Fatalf("frame %d after frame %d is not an IDR: a decoder would miss its references", b.n, a.n)
		}
		want := uint32(rtptime.Ticks(src.pts(b.n), h264desc.ClockRate) - rtptime.Ticks(src.pts(a.n), h264desc.ClockRate))
		if d := b.ts - a.ts; d != want {
			t.Fatalf("RTP timestamp of frame %d is %d ticks after frame %d's, want %d", b.n, d, a.n, want)
		}
	}
}

// logs keeps log records for tests to inspect, and prints them with -v.
type logs struct {
	mu      sync.Mutex
	records []record
	echo    slog.Handler
}

type record struct {
	msg   string
	attrs map[string]slog.Value
	text  string
}

func newLogs(t *testing.T) (*logs, *slog.Logger) {
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	l := &logs{echo: slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})}
	return l, slog.New(&logHandler{l: l})
}

type logHandler struct {
	l     *logs
	attrs []slog.Attr
}

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	rec := record{msg: r.Message, attrs: map[string]slog.Value{}}
	var b bytes.Buffer
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	rec.text = b.String()
	h.l.mu.Lock()
	h.l.records = append(h.l.records, rec)
	h.l.mu.Unlock()
	return h.l.echo.WithAttrs(h.attrs).Handle(ctx, r)
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{l: h.l, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }

// find returns the records with message msg.
func (l *logs) find(msg string) []record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []record
	for _, r := range l.records {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

func (l *logs) all() []record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]record(nil), l.records...)
}

// eventually polls cond every 5 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// freePort returns a loopback address nothing listens on.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// percentiles returns the p-th percentiles of d (sorted in place).
func percentiles(d []time.Duration, ps ...float64) []time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	out := make([]time.Duration, len(ps))
	for i, p := range ps {
		k := int(p / 100 * float64(len(d)-1))
		out[i] = d[k]
	}
	return out
}

// newPusher starts a Pusher closed when the test ends.
func newPusher(t *testing.T, cfg Config) *Pusher {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}
