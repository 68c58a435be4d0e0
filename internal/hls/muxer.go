package hls

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/framecast/framecast/internal/auqueue"
	"github.com/framecast/framecast/internal/rtptime"
	"github.com/framecast/framecast/internal/silence"
)

// idrAskInterval is the least time between two IDRs a muxer asks for after
// drops.
const idrAskInterval = time.Second

// gapFile is the URI gohlslib gives segments marked #EXT-X-GAP.
const gapFile = "gap.mp4"

// checkInterval is the longest time between two checks of a muxer's idle
// time and of its path's existence.
const checkInterval = time.Second

// clock turns presentation times into the video track's ticks, on the grid
// of the nominal frame rate when a time is near it.
type clock struct {
	fps   float64
	last  int64
	begun bool
}

// ticks returns pts in 1/90000 s, put on the frame grid when within a
// quarter frame of it, and always after the previous one.
func (c *clock) ticks(pts time.Duration) int64 {
	t := rtptime.Ticks(pts, videoClockRate)
	if c.fps > 0 {
		slot := math.Round(pts.Seconds() * c.fps)
		grid := int64(math.Round(slot * videoClockRate / c.fps))
		if d := t - grid; d*4 < int64(videoClockRate/c.fps) && -d*4 < int64(videoClockRate/c.fps) {
			t = grid
		}
	}
	if c.begun && t <= c.last {
		t = c.last + 1
	}
	c.last, c.begun = t, true
	return t
}

// silentTrack is the state of a muxer's silent audio track: its frames
// are timed by the video's presentation times, on the video's timeline.
type silentTrack struct {
	frames silence.Frames
	base   int64 // the track's timestamp of sample 0, in 1/SampleRate s
	begun  bool  // base is set
}

// due returns the silent frames due by the video presentation time pts,
// consecutive ones, none if no frame is due; and the first one's timestamp
// in 1/SampleRate s and its presentation time. The timestamps increase
// from one call to the next. aus is reused by the next call.
func (a *silentTrack) due(pts time.Duration) (ts int64, at time.Duration, aus [][]byte) {
	samples, aus := a.frames.Due(pts)
	if len(samples) == 0 {
		return 0, 0, nil
	}
	if !a.begun {
		a.base, a.begun = rtptime.Ticks(a.frames.PTS(0), silence.SampleRate), true
	}
	n := samples[0]
	return a.base + n, a.frames.PTS(n), aus
}

// muxer is one path's HLS session: a gohlslib muxer fed by a sink on the
// path's stream. The sink (the queue's Push) copies each access unit into
// a bounded queue; the muxer's goroutine writes them into the gohlslib
// muxer, whose HTTP handler answers the players.
type muxer struct {
	s    *Server
	path string

	started  chan struct{} // closed when start is done
	startErr error         // set before started is closed

	hls        *gohlslib.Muxer
	tracks     tracks
	segmentMin time.Duration // SegmentMinDuration, at least a GOP
	remove     func()        // detaches the sink

	// queue takes the access units from the stream's encoder goroutine to
	// the muxer's. Its drops count in the server's too; run asks for the
	// IDRs it wants, one per idrAskInterval at most.
	queue *auqueue.Queue

	ready     chan struct{} // closed when the first segment is complete
	readyOnce sync.Once
	stop      chan struct{} // closed by close
	stopOnce  sync.Once
	done      chan struct{} // closed when the muxer is closed

	lastRequest  atomic.Int64 // Unix ns, of the last request's start or end
	inflight     atomic.Int32
	waiting      atomic.Int32 // requests waiting for the first segment
	encodeErrors atomic.Uint64

	// The muxer's goroutine's own.
	sps, pps []byte // the stream's parameter sets, copied once
	firstIDR time.Duration
	sawIDR   bool
	clock    clock
	audio    silentTrack // used when tracks.audio is set
}

func newMuxer(s *Server, path string) *muxer {
	m := &muxer{
		s: s, path: path, started: make(chan struct{}),
		queue: auqueue.New(auqueue.Config{Len: s.cfg.QueueLen, Total: &s.dropped}),
		ready: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	m.touch()
	return m
}

// start starts the gohlslib muxer, attaches the sink and starts the
// muxer's goroutine. On failure it forgets the muxer.
func (m *muxer) start() {
	defer close(m.started)
	fail := func(err error) {
		m.startErr = err
		m.s.forget(m)
		close(m.done)
		m.s.wg.Done()
	}
	m.segmentMin = m.s.cfg.SegmentMinDuration
	if m.s.cfg.Timing != nil {
		fps, gop := m.s.cfg.Timing(m.path)
		if fps > 0 {
			m.clock.fps = fps
			m.segmentMin = max(m.segmentMin, time.Duration(float64(gop)/fps*float64(time.Second)))
		}
	}
	m.tracks = newTracks(m.s.cfg.SilentAudio != nil && m.s.cfg.SilentAudio(m.path))
	m.hls = &gohlslib.Muxer{
		Tracks:             m.tracks.list(),
		Variant:            gohlslib.MuxerVariantLowLatency,
		SegmentCount:       m.s.cfg.SegmentCount,
		SegmentMinDuration: m.segmentMin,
		PartMinDuration:    m.s.cfg.PartMinDuration,
		SegmentMaxSize:     m.s.cfg.SegmentMaxSize,
		OnEncodeError: func(err error) {
			if m.encodeErrors.Add(1) == 1 {
				m.s.log.Warn("hls muxer", "path", m.path, "error", err)
			} else {
				m.s.log.Debug("hls muxer", "path", m.path, "error", err)
			}
		},
	}
	if err := m.hls.Start(); err != nil {
		fail(fmt.Errorf("hls %s: start muxer: %w", m.path, err))
		return
	}
	// A new sink is a joining viewer: the stream encodes an IDR at once,
	// so the first segment starts without waiting for the GOP.
	remove, err := m.s.src(m.path, m.queue.Push)
	if err != nil {
		m.hls.Close()
		fail(fmt.Errorf("%w on %s: %w", errNoStream, m.path, err))
		return
	}
	m.remove = remove
	m.s.opened.Add(1)
	m.s.log.Info("hls session opened", "path", m.path)
	go m.run()
}

// touch records a request.
func (m *muxer) touch() { m.lastRequest.Store(time.Now().UnixNano()) }

// close ends the muxer; its goroutine closes it.
func (m *muxer) close() { m.stopOnce.Do(func() { close(m.stop) }) }

// run writes the queued access units into the muxer until it is closed,
// goes idle, or its stream goes away or changes format.
func (m *muxer) run() {
	defer m.s.wg.Done()
	reason := "closed"
	defer func() { m.finish(reason) }()
	cfg := &m.s.cfg
	tick := time.NewTicker(min(cfg.IdleTimeout/4, checkInterval))
	defer tick.Stop()
	var lastAsk time.Time
	ask := time.NewTimer(time.Hour)
	ask.Stop()
	defer ask.Stop()
	for {
		select {
		case <-m.stop:
			return
		case u := <-m.queue.Units():
			if r := m.write(u); r != "" {
				reason = r
				return
			}
			m.queue.Release(u)
		case <-m.queue.Wanted():
			ask.Reset(max(0, idrAskInterval-time.Since(lastAsk)))
		case <-ask.C:
			lastAsk = time.Now()
			if cfg.RequestIDR != nil {
				if err := cfg.RequestIDR(m.path); err != nil {
					m.s.log.Debug("hls request IDR", "path", m.path, "error", err)
				}
			}
		case <-tick.C:
			// A player waiting for the first segment is not idle; one
			// waiting in gohlslib (a blocking reload) is, as the wait
			// may last as long as the stream stalls.
			if idle := time.Since(time.Unix(0, m.lastRequest.Load())); idle >= cfg.IdleTimeout && m.waiting.Load() == 0 {
				reason = "idle"
				return
			}
			if cfg.Exists != nil && !cfg.Exists(m.path) {
				reason = "stream gone"
				return
			}
		}
	}
}

// write writes one access unit into the muxer. It returns why the muxer
// must end, or "".
func (m *muxer) write(u *auqueue.Unit) string {
	for i, n := range u.NALUs {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS, h264.NALUTypePPS:
			// gohlslib keeps the parameter sets it is given: it gets a
			// copy made once. New ones are a new format (the path was
			// published again at another size): players need a new
			// session, with new file names, not a changed init file.
			ps := &m.sps
			if h264.NALUType(n[0]&0x1f) == h264.NALUTypePPS {
				ps = &m.pps
			}
			if *ps == nil {
				*ps = bytes.Clone(n)
			} else if !bytes.Equal(*ps, n) {
				return "stream format changed"
			}
			u.NALUs[i] = *ps
		}
	}
	if err := m.hls.WriteH264(m.tracks.video, u.Capture, m.clock.ticks(u.PTS), u.NALUs); err != nil {
		m.writeError(fmt.Errorf("write video: %w", err))
		return ""
	}
	if m.tracks.audio != nil {
		m.writeAudio(u)
	}
	if u.IDR {
		// The muxer ends a segment at the first IDR segmentMin after it
		// began; once written, the first segment is complete.
		switch {
		case !m.sawIDR:
			m.sawIDR, m.firstIDR = true, u.PTS
		case u.PTS-m.firstIDR >= m.segmentMin:
			m.readyOnce.Do(func() { close(m.ready) })
		}
	}
	return ""
}

// writeAudio writes the silent frames due by u's presentation time, after
// u. Their NTP time is u's capture time less how much earlier they start.
func (m *muxer) writeAudio(u *auqueue.Unit) {
	ts, at, aus := m.audio.due(u.PTS)
	if len(aus) == 0 {
		return
	}
	if err := m.hls.WriteMPEG4Audio(m.tracks.audio, u.Capture.Add(at-u.PTS), ts, aus); err != nil {
		m.writeError(fmt.Errorf("write audio: %w", err))
	}
}

// writeError counts an error of the gohlslib muxer's writes, and logs the
// first.
func (m *muxer) writeError(err error) {
	if m.encodeErrors.Add(1) == 1 {
		m.s.log.Warn("hls write", "path", m.path, "error", err)
	}
}

// finish detaches the sink, forgets the muxer and closes it, which answers
// the requests waiting in it.
func (m *muxer) finish(reason string) {
	m.close()
	m.s.forget(m)
	m.remove()
	m.hls.Close()
	close(m.done)
	m.s.log.Info("hls session closed", "path", m.path, "reason", reason,
		"dropped", m.queue.Dropped(), "mux_errors", m.encodeErrors.Load())
}

// serve answers one request from the muxer. A playlist waits for the
// first segment (gohlslib would wait without bound).
func (m *muxer) serve(w http.ResponseWriter, r *http.Request, name string, playlist bool) {
	m.touch()
	defer m.touch()
	if n := m.inflight.Add(1); int(n) > m.s.cfg.MaxRequests {
		m.inflight.Add(-1)
		m.s.refused.Add(1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, fmt.Sprintf("%v: at most %d requests at once on %s", errTooMany, m.s.cfg.MaxRequests, m.path), http.StatusServiceUnavailable)
		return
	}
	defer m.inflight.Add(-1)
	if playlist && !m.awaitFirstSegment(w, r) {
		return
	}
	if name == gapFile {
		// Segments marked #EXT-X-GAP (the muxer lists seven before the
		// first, for iOS) are not to be loaded, but VLC 3 loads them,
		// and stops at a 404: an empty segment lets it skip them.
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Cache-Control", "max-age=3600")
		w.WriteHeader(http.StatusOK)
		return
	}
	tw := &trackingWriter{ResponseWriter: w}
	m.hls.Handle(tw, r)
	if !tw.wrote {
		// gohlslib answers nothing for a file it does not have (an
		// expired segment, a name it never made).
		http.Error(w, "no "+name+" in the HLS session of "+m.path, http.StatusNotFound)
	}
}

// awaitFirstSegment waits until the muxer has a segment, and answers the
// request and returns false when it will not have one in time.
func (m *muxer) awaitFirstSegment(w http.ResponseWriter, r *http.Request) bool {
	select {
	case <-m.ready:
		return true
	default:
	}
	m.waiting.Add(1)
	defer m.waiting.Add(-1)
	// A segment ends at the first IDR segmentMin after the first: with
	// a long GOP, that may take two of them.
	wait := max(m.s.cfg.StartTimeout, 2*m.segmentMin+time.Second)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-m.ready:
		return true
	case <-m.done:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "the HLS session of "+m.path+" has closed", http.StatusServiceUnavailable)
	case <-r.Context().Done():
	case <-t.C:
		w.Header().Set("Retry-After", "1")
		http.Error(w, fmt.Sprintf("no segment of %s within %v: is anything publishing?", m.path, wait), http.StatusServiceUnavailable)
	}
	return false
}

// trackingWriter notes whether a handler answered.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *trackingWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *trackingWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Flush lets gohlslib's io.Copy reach the client as it goes.
func (w *trackingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
