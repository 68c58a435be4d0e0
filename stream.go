package framecast

import (
	"fmt"
	"image"
	"sync"
	"sync/atomic"
	"time"

	"github.com/framecast/framecast/internal/rtsp"
	"github.com/framecast/framecast/internal/x264"
	"github.com/framecast/framecast/internal/yuv"
)

// queueLen is the number of I420 pictures a stream owns: one being encoded
// and up to queueLen-1 converted and waiting. When the encoder falls behind,
// the oldest waiting picture is dropped: for live video the newest frame wins.
const queueLen = 3

type picture struct {
	img      *yuv.I420
	pts      time.Duration
	capture  time.Time
	forceIDR bool
	skips    uint64        // Stream.skipped when it was queued: frames skipped later make it old
	flush    chan struct{} // not a picture: closed by the encoder when reached
}

// Stream is one published path. A producer writes raw frames to it; each is
// converted to I420 in the writer's goroutine and encoded in the stream's own
// goroutine, so conversion and encoding run side by side on two cores.
// Write methods may be called from any goroutine; calls are serialised.
type Stream struct {
	srv   *Server
	path  string
	owner string
	mount *rtsp.Mount
	epoch time.Time // monotonic origin of joinAt
	// joinAt is when a viewer last started playing, since epoch; joined
	// wakes the encoder for it.
	joinAt atomic.Int64
	joined chan struct{}
	// skipping is set while frames are skipped for want of viewers: the
	// encoder's last picture is then stale.
	skipping atomic.Bool
	// snapshots waiting for a picture, and a wake-up for the encoder.
	snapMu      sync.Mutex
	snapWaiters []chan *image.YCbCr
	snapPending atomic.Bool
	snapWake    chan struct{}
	// held is the latest frame written while nobody watched, kept as it
	// came: a joining viewer, a snapshot or a preview gets it at once.
	held heldFrame
	// info is the format and encoder settings in force, for readers that
	// must not wait for a writer (Streams, metrics).
	info atomic.Pointer[streamFormat]

	wmu     sync.Mutex // serialises writers and guards the fields below
	f       Format
	enc     EncoderConfig
	pipe    *pipeline
	closed  bool
	started bool
	resume  bool // frames were skipped: the next one is encoded as an IDR
	t0      time.Time
	ts0     time.Duration

	framesIn, framesOut, dropped, skipped, repeated, encodeErrors, refused atomic.Uint64
	encodeTime                                                             histogram
}

type streamFormat struct {
	f   Format
	enc EncoderConfig
}

// pipeline is the encoder of one format and the pictures queued for it.
type pipeline struct {
	x           *x264.Encoder
	free, ready chan *picture
	done        chan struct{} // closed when the encode goroutine has ended
	once        sync.Once
	fps         float64 // nominal frame rate
}

// resolveEncoder fills in the stream's encoder settings from the server's defaults.
func (s *Server) resolveEncoder(f Format) EncoderConfig {
	enc := EncoderConfig{}
	if f.Encoder != nil {
		enc = *f.Encoder
	}
	enc = enc.merge(s.cfg.Encoder)
	if enc.GOP == 0 {
		enc.GOP = max(1, int(f.FPS*2+0.5))
	}
	if enc.BitrateKbps == 0 && enc.CRF == 0 {
		enc.BitrateKbps = autoBitrate(f.Width, f.Height, f.FPS)
	}
	// The settings in force, as StreamInfo reports them.
	return enc.merge(EncoderConfig{Preset: x264.DefaultPreset, Tune: x264.DefaultTune, Profile: x264.DefaultProfile})
}

// params are x264's parameters for e at w x h and fps frames per second.
func (e EncoderConfig) params(w, h int, fps float64) x264.Params {
	num, den := fpsRational(fps)
	return x264.Params{
		Width: w, Height: h, FPSNum: num, FPSDen: den,
		BitrateKbps: e.BitrateKbps, CRF: e.CRF, GOP: e.GOP,
		Preset: e.Preset, Tune: e.Tune, Profile: e.Profile, Threads: e.Threads,
	}
}

// check reports settings x264 would refuse whatever the picture (a preset,
// tune or profile it does not know, a negative bitrate): the size and rate
// are the stream's, checked when it is published.
func (e EncoderConfig) check() error {
	return e.params(16, 16, 30).Validate()
}

func newPipeline(f Format, enc EncoderConfig) (*pipeline, error) {
	x, err := x264.Open(enc.params(f.Width, f.Height, f.FPS))
	if err != nil {
		return nil, err
	}
	p := &pipeline{
		x:     x,
		free:  make(chan *picture, queueLen),
		ready: make(chan *picture, queueLen),
		done:  make(chan struct{}),
		fps:   f.FPS,
	}
	for range queueLen {
		p.free <- &picture{img: yuv.NewI420(f.Width, f.Height)}
	}
	return p, nil
}

func newStream(s *Server, path string, f Format, owner string) (*Stream, error) {
	enc := s.resolveEncoder(f)
	p, err := newPipeline(f, enc)
	if err != nil {
		return nil, err
	}
	sps, pps := p.x.Headers()
	m, err := s.rtsp.MountWith(path, sps, pps, rtsp.MountConfig{SilentAudio: s.PathAudio(path) == AudioSilent})
	if err != nil {
		p.x.Close()
		return nil, err
	}
	st := &Stream{srv: s, path: path, owner: owner, f: f, enc: enc, pipe: p, mount: m, epoch: time.Now(),
		joined: make(chan struct{}, 1), snapWake: make(chan struct{}, 1)}
	st.info.Store(&streamFormat{f, enc})
	m.StartTimeline()
	if !s.cfg.DisableIDROnJoin {
		m.OnViewerJoin(st.requestIDR)
	}
	go st.encodeLoop(p)
	return st, nil
}

// requestIDR asks the encoder for an IDR, as for a joining viewer.
func (st *Stream) requestIDR() {
	st.joinAt.Store(int64(time.Since(st.epoch)))
	select {
	case st.joined <- struct{}{}:
	default:
	}
}

// SetFormat changes the format of the frames that follow, for example their
// size. The frames already written are encoded first; then the encoder is
// re-opened, its new SPS and PPS go to viewers in-band before an IDR, and
// viewers that join later get them in the SDP. On error the stream keeps
// its old format.
func (st *Stream) SetFormat(f Format) error {
	f = f.withDefaults()
	if err := f.validate(); err != nil {
		return fmt.Errorf("set format %s: %w", st.path, err)
	}
	st.wmu.Lock()
	defer st.wmu.Unlock()
	if st.closed {
		return fmt.Errorf("set format %s: %w", st.path, ErrStreamClosed)
	}
	if formatEqual(f, st.f) {
		return nil
	}
	enc := st.srv.resolveEncoder(f)
	p, err := newPipeline(f, enc)
	if err != nil {
		return fmt.Errorf("set format %s: %w", st.path, err)
	}
	st.pipe.stop()
	st.pipe, st.f, st.enc = p, f, enc
	st.info.Store(&streamFormat{f, enc})
	st.mount.SetParams(p.x.Headers())
	go st.encodeLoop(p)
	st.srv.log.Info("stream format changed", "path", st.path, "format", f.PixelFormat.String(),
		"size", fmt.Sprintf("%dx%d", f.Width, f.Height), "fps", f.FPS)
	return nil
}

func formatEqual(a, b Format) bool {
	if (a.Encoder == nil) != (b.Encoder == nil) || (a.Encoder != nil && *a.Encoder != *b.Encoder) {
		return false
	}
	a.Encoder, b.Encoder = nil, nil
	return a == b
}

// stop encodes what waits, ends the encode goroutine and closes the
// encoder. It is idempotent.
func (p *pipeline) stop() {
	p.once.Do(func() {
		close(p.ready)
		<-p.done
		p.x.Close()
	})
}

// Path is the stream's path, e.g. "/cam".
func (st *Stream) Path() string { return st.path }

// Format is the format of the frames the stream takes.
func (st *Stream) Format() Format { return st.info.Load().f }

// WriteFrame writes one raw frame, stamped with its arrival time on a
// monotonic clock. The frame must be f.FrameSize() bytes (or, with a
// stride, hold every row); a frame of another size is rejected with an error
// that names both sizes, and the stream goes on. WriteFrame returns once the
// frame is converted: pix may be reused at once. It never waits for the
// encoder: when the encoder is behind, the oldest waiting frame is dropped.
func (st *Stream) WriteFrame(pix []byte) error {
	return st.write(pix, 0, false)
}

// WriteFrameAt is WriteFrame with the producer's own timestamp (for example
// the capture time of a camera frame). Timestamps are relative to each other:
// the first frame plays at once and later ones at their distance from it. A
// timestamp that goes backwards is placed just after the previous frame.
func (st *Stream) WriteFrameAt(pix []byte, ts time.Duration) error {
	return st.write(pix, ts, true)
}

func (st *Stream) write(pix []byte, ts time.Duration, hasTS bool) error {
	check := func() error {
		return yuv.CheckSize(len(pix), st.f.PixelFormat, st.f.Width, st.f.Height, st.f.Stride)
	}
	hold := func(h *heldFrame) {
		h.setRaw(pix, st.f.PixelFormat, st.f.Stride, st.f.Width, st.f.Height)
	}
	return st.writeWith(ts, hasTS, check, hold, func(dst *yuv.I420) error {
		// Called with wmu held: st.f is the format of dst.
		return yuv.Convert(dst, pix, st.f.PixelFormat, st.f.Stride)
	})
}

// WriteImage writes an image of the stream's size: *image.RGBA,
// *image.NRGBA (alpha ignored), *image.Gray or *image.YCbCr in 4:2:0. The
// stream's PixelFormat does not apply; the image's own layout is used.
func (st *Stream) WriteImage(img image.Image) error {
	b := img.Bounds()
	if f := st.Format(); b.Dx() != f.Width || b.Dy() != f.Height {
		return fmt.Errorf("write %s: image is %dx%d, want %dx%d", st.path, b.Dx(), b.Dy(), f.Width, f.Height)
	}
	var pix []byte
	var stride int
	var pf PixelFormat
	switch m := img.(type) {
	case *image.RGBA:
		pix, stride, pf = m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, RGBA
	case *image.NRGBA:
		pix, stride, pf = m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, RGBA
	case *image.Gray:
		pix, stride, pf = m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, Gray
	case *image.YCbCr:
		if m.SubsampleRatio != image.YCbCrSubsampleRatio420 {
			return fmt.Errorf("write %s: YCbCr subsampling %v, want 4:2:0", st.path, m.SubsampleRatio)
		}
		convert := func(dst *yuv.I420) error {
			copyPlane(dst.Y, dst.StrideY, m.Y[m.YOffset(b.Min.X, b.Min.Y):], m.YStride, dst.Width, dst.Height)
			ci := m.COffset(b.Min.X, b.Min.Y)
			cw, ch := (dst.Width+1)/2, (dst.Height+1)/2
			copyPlane(dst.U, dst.StrideU, m.Cb[ci:], m.CStride, cw, ch)
			copyPlane(dst.V, dst.StrideV, m.Cr[ci:], m.CStride, cw, ch)
			return nil
		}
		hold := func(h *heldFrame) { h.setI420(b.Dx(), b.Dy(), convert) }
		return st.writeWith(0, false, nil, hold, convert)
	default:
		return fmt.Errorf("write %s: image type %T, want *image.RGBA, *image.NRGBA, *image.Gray or *image.YCbCr", st.path, img)
	}
	// Sub-images leave the last row short of a full stride: trim to what
	// the rows need so the converter's size check sees a strided frame.
	need := stride*(b.Dy()-1) + pf.MinStride(b.Dx())
	if len(pix) > need {
		pix = pix[:need]
	}
	return st.writeWith(0, false, func() error {
		return yuv.CheckSize(len(pix), pf, b.Dx(), b.Dy(), stride)
	}, func(h *heldFrame) {
		h.setRaw(pix, pf, stride, b.Dx(), b.Dy())
	}, func(dst *yuv.I420) error {
		return yuv.Convert(dst, pix, pf, stride)
	})
}

func copyPlane(dst []byte, dstStride int, src []byte, srcStride, w, h int) {
	for y := range h {
		copy(dst[y*dstStride:y*dstStride+w], src[y*srcStride:y*srcStride+w])
	}
}

// writeWith takes a free picture (or the oldest waiting one), fills it with
// convert, stamps it and queues it for the encoder. When nobody watches it
// only checks the frame (check may be nil) and keeps a copy with hold,
// unconverted, for the next viewer's first picture.
func (st *Stream) writeWith(ts time.Duration, hasTS bool, check func() error, hold func(*heldFrame),
	convert func(*yuv.I420) error) error {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	if st.closed {
		return fmt.Errorf("write %s: %w", st.path, ErrStreamClosed)
	}
	now := time.Now()
	if !st.started {
		st.started, st.t0, st.ts0 = true, now, ts
	}
	if !st.srv.cfg.AlwaysEncode && !st.mount.Active() && !st.snapPending.Load() {
		// Nobody watches: neither convert nor encode. The next encoded
		// frame is an IDR, since the decoder state of the frames before
		// is gone.
		if check != nil {
			if err := check(); err != nil {
				st.refused.Add(1)
				return fmt.Errorf("write %s: %w", st.path, err)
			}
		}
		st.framesIn.Add(1)
		st.skipped.Add(1)
		st.resume = true
		st.held.mu.Lock()
		hold(&st.held)
		st.held.pts, st.held.capture = st.stamp(now, ts, hasTS)
		st.skipping.Store(true)
		st.held.mu.Unlock()
		return nil
	}
	pipe := st.pipe
	var p *picture
	select {
	case p = <-pipe.free:
	default:
		if st.srv.cfg.WhenFull == Block {
			p = <-pipe.free
			break
		}
		// No free picture: the queue is full, so the oldest waiting frame
		// gives way. Pictures are free, waiting, or the one the encoder
		// holds, so when none waits one is about to be free.
		select {
		case p = <-pipe.ready:
			st.dropped.Add(1)
		default:
			p = <-pipe.free
		}
	}
	if err := convert(p.img); err != nil {
		pipe.free <- p
		st.refused.Add(1)
		return fmt.Errorf("write %s: %w", st.path, err)
	}
	p.pts, p.capture = st.stamp(now, ts, hasTS)
	p.forceIDR, st.resume = st.resume, false
	p.skips = st.skipped.Load()
	st.skipping.Store(false)
	st.framesIn.Add(1)
	pipe.ready <- p
	return nil
}

// stamp returns the presentation and capture times of a frame written at
// now (with the producer's timestamp ts if hasTS). Called with wmu held.
func (st *Stream) stamp(now time.Time, ts time.Duration, hasTS bool) (time.Duration, time.Time) {
	pts := now.Sub(st.t0)
	if hasTS {
		pts = ts - st.ts0
	}
	return pts, st.t0.Add(pts)
}

// joinSettle is how long after a viewer's PLAY its IDR may be encoded.
// gortsplib makes the session active just after the PLAY callback returns;
// an IDR written before that would miss the viewer, who would then wait a
// whole GOP.
const joinSettle = 2 * time.Millisecond

// joinWait is how long a joining viewer may wait for the producer's next
// frame before the last one is encoded again for it.
const joinWait = 40 * time.Millisecond

// joinBurst is how long the last picture is repeated at burstSpacing after
// a join it answered (the producer paused, slow or gone): ffmpeg, GStreamer
// and OpenCV read a few frames, or a few frames' worth of time, before they
// show the first, and at one repeat a second that took them 25 s.
const joinBurst = time.Second

// burstSpacing is the distance between the repeats of a burst: the stream's
// frame interval, at least 1/60 s and at most 100 ms.
func burstSpacing(fps float64) time.Duration {
	return min(max(time.Duration(float64(time.Second)/fps), time.Second/60), 100*time.Millisecond)
}

// pausedAfter is how long overdue a producer's next frame must be before a
// joining viewer gets the last picture again instead of waiting for it:
// four frame intervals, at least joinWait. A frame only late (a loaded
// machine) is the viewer's IDR when it comes; a repeat in its place would
// take its timestamp's slot, and the late frame would follow it by a tick
// (ffmpeg: "non monotonically increasing dts").
func pausedAfter(fps float64) time.Duration {
	return max(joinWait, 4*burstSpacing(fps))
}

// nobufferProbe is the number of frames after a join's IDR that a second
// IDR follows it. ffmpeg (and ffplay) probe an RTSP stream by reading 28
// frames from the first IDR on (7 to guess H.264's decoder delay, during
// which they get no DTS, then 21 to estimate the frame rate) and, with
// -fflags nobuffer, the most common low-latency recipe, drop what they
// probed and start decoding at the frame after: measured with ffmpeg 5.1,
// the 29th. Without a second IDR there, they wait for the next one of the
// GOP, which the join's IDR has just restarted (2.2 s with a 2 s GOP
// instead of 1.1 s). Two frames of margin cover a lost packet. Only joins
// get this follow-up, so it is rate-limited as they are (IDRInterval).
const nobufferProbe = 30

// fastProbe is the number of frames after a join's IDR that an earlier
// follow-up IDR comes, for ffmpeg with -fflags nobuffer and the fast-start
// flags (-analyzeduration 0 -probesize 32): its probe reads one frame, the
// join's IDR, and drops it; it decodes from the next frame on, so that one
// is an IDR too. (Its first decoded frame's timestamp is 90-170 ms after
// zero, which once passed for frames it dropped while opening its decoder:
// ffmpeg takes the PLAY response's RTP-Info rtptime as zero, and gortsplib
// puts that 100 ms before the stream's present; a client that logs every
// frame gets them all, 33 ms apart.) A viewer whose probe read more still
// has the one at nobufferProbe.
const fastProbe = 1

// encodeLoop encodes pipe's waiting pictures until its ready queue is
// closed. It keeps the last picture: when no new one comes for
// IdleInterval, it encodes it again with a fresh timestamp (with IdleRepeat),
// so that players and NVRs see a live stream while the producer stalls or
// is gone. When a viewer joins, it encodes the last picture again as an IDR
// at once, so the viewer need not wait for the producer's next frame (a
// whole second for a 1 fps producer).
func (st *Stream) encodeLoop(pipe *pipeline) {
	defer close(pipe.done)
	cfg := &st.srv.cfg
	var (
		lastForced time.Time
		served     int64 // joinAt already answered with an IDR
		n          int64
		last       *picture // the last picture encoded, held for repeats
		lastSkips  uint64   // st.skipped when last was queued or loaded: frames skipped since make it old
		lastWall   time.Time
		spacing    = time.Duration(float64(time.Second) / pipe.fps)
		burstUntil time.Time // repeats come at burstSpacing until then
		// followUp counts the frames written since the last IDR that
		// answered a join, up to nobufferProbe; the frames at fastProbe
		// and nobufferProbe are forced to IDRs too; 0 when none is due.
		followUp int
	)
	idle := time.NewTimer(cfg.IdleInterval)
	defer idle.Stop()
	if cfg.Idle != IdleRepeat {
		idle.Stop()
	}
	// armIdle sets the timer of the next repeat: burstSpacing during a
	// join's burst, IdleInterval with IdleRepeat, none otherwise.
	armIdle := func() {
		switch {
		case time.Now().Before(burstUntil):
			idle.Reset(burstSpacing(pipe.fps))
		case cfg.Idle == IdleRepeat:
			idle.Reset(cfg.IdleInterval)
		default:
			idle.Stop()
		}
	}
	// burst starts the repeats that follow a join answered with the last
	// picture: players probe a few frames before they show the first one.
	burst := func() {
		burstUntil = time.Now().Add(joinBurst)
		armIdle()
	}
	join := time.NewTimer(time.Hour)
	join.Stop()
	defer join.Stop()
	encode := func(p *picture, force bool) {
		joinDue := func() (int64, bool) {
			join := st.joinAt.Load()
			return join, join > served && time.Since(lastForced) >= cfg.IDRInterval
		}
		answers := false // this frame is an IDR for joins
		if join, due := joinDue(); due && time.Since(st.epoch)-time.Duration(join) >= joinSettle {
			// One IDR answers every join up to now.
			force, served, lastForced, answers = true, join, time.Now(), true
		}
		if followUp == fastProbe || followUp == nobufferProbe {
			force = true
		}
		img := p.img
		pic := &x264.Picture{
			Y: img.Y, U: img.U, V: img.V,
			StrideY: img.StrideY, StrideU: img.StrideU, StrideV: img.StrideV,
		}
		began := time.Now()
		au, idr, err := pipe.x.Encode(pic, n, force)
		n++
		if join, due := joinDue(); err == nil && !idr && due {
			// A viewer joined while this P-frame was being encoded: it
			// would get the P-frame before any IDR, which decoders report
			// as missing references. The same picture as an IDR serves
			// everyone instead; the P-frame is never sent.
			if d := joinSettle - (time.Since(st.epoch) - time.Duration(join)); d > 0 {
				time.Sleep(d)
			}
			au, _, err = pipe.x.Encode(pic, n, true)
			n++
			served, lastForced, answers = join, time.Now(), true
		}
		st.encodeTime.observe(time.Since(began))
		if err != nil {
			if st.encodeErrors.Add(1) == 1 {
				st.srv.log.Error("encode failed", "path", st.path, "error", err)
			}
			return
		}
		if len(au) > 0 {
			if err := st.mount.WriteAccessUnit(au, p.pts, p.capture); err != nil {
				st.srv.log.Debug("write access unit", "path", st.path, "error", err)
			}
			switch {
			case answers:
				followUp = 1
			case followUp == nobufferProbe:
				followUp = 0
			case followUp > 0:
				followUp++
			}
		}
	}
	repeat := func() {
		now := time.Now()
		last.pts += now.Sub(lastWall)
		last.capture = last.capture.Add(now.Sub(lastWall))
		lastWall = now
		encode(last, false)
		st.repeated.Add(1)
	}
	// old reports whether last is no picture of the present: none yet, or
	// frames were skipped since it was queued (repeating it would give a
	// joining viewer an old picture first).
	old := func() bool { return last == nil || st.skipping.Load() || st.skipped.Load() != lastSkips }
	// loadHeld makes the held frame, the latest skipped, the last picture.
	loadHeld := func() bool {
		if !st.loadHeld(pipe, &last) {
			return false
		}
		lastWall, lastSkips = time.Now(), st.skipped.Load()
		return true
	}
	for {
		select {
		case <-st.joined:
			// Wait out the settle time and the IDR rate limit, then answer.
			wait := max(joinSettle-(time.Since(st.epoch)-time.Duration(st.joinAt.Load())),
				cfg.IDRInterval-time.Since(lastForced), 0)
			join.Reset(wait)
		case <-st.snapWake:
			if !old() || loadHeld() {
				st.answerSnapshots(last.img)
			}
		case <-join.C:
			if st.joinAt.Load() <= served {
				continue
			}
			if old() {
				// Nobody watched: the latest frame was kept as it came.
				// Converted now and encoded as the IDR, it is the
				// viewer's picture at once, whether the producer is
				// paused, slow or gone. (The producer's frame that ended
				// the skipping may be waiting already: it follows, but
				// last is older than the frames skipped, and repeating it
				// would give the viewer an old picture first.)
				if loadHeld() {
					encode(last, true)
					served, lastForced, followUp = st.joinAt.Load(), time.Now(), 1
					st.repeated.Add(1)
					burst()
				}
				continue
			}
			// The producer's next frame, forced to an IDR, will serve the
			// viewer unless it is far off or the producer has paused: then
			// the last picture is encoded again as the IDR, at the cost of
			// one repeated frame for the viewers already watching.
			if eta := lastWall.Add(spacing).Sub(time.Now()); eta > joinWait || -eta > pausedAfter(pipe.fps) {
				// A slow producer's next frame is far off, a paused one's
				// long overdue: repeats follow until players have probed.
				repeat()
				burst()
			} else {
				join.Reset(eta + pausedAfter(pipe.fps)) // then it has paused: look again
			}
		case p, ok := <-pipe.ready:
			if !ok {
				if last != nil {
					pipe.free <- last
				}
				return
			}
			if p.flush != nil {
				close(p.flush)
				continue
			}
			encode(p, p.forceIDR)
			st.framesOut.Add(1)
			now := time.Now()
			if now.Sub(lastWall) < 2*burstSpacing(pipe.fps) {
				// The producer is fast again: its frames need no repeats.
				burstUntil = time.Time{}
			}
			if last != nil {
				pipe.free <- last
				// A moving average of the producer's frame spacing.
				spacing += (now.Sub(lastWall) - spacing) / 8
			}
			last, lastWall, lastSkips = p, now, p.skips
			if st.snapPending.Load() {
				st.answerSnapshots(p.img)
			}
			armIdle()
		case <-idle.C:
			bursting := time.Now().Before(burstUntil)
			armIdle()
			// An old last is not repeated: a viewer has just come (the
			// mount is active again), and its join answers with the
			// latest frame.
			if old() || !st.mount.Active() || (cfg.Idle != IdleRepeat && !bursting) ||
				(bursting && time.Since(lastWall) < burstSpacing(pipe.fps)/2) {
				continue
			}
			repeat()
		}
	}
}

// StreamStats counts what a stream has done since it was published.
type StreamStats struct {
	FramesIn      uint64 // frames written: encoded, dropped or skipped
	FramesEncoded uint64 // frames encoded and sent to viewers
	Dropped       uint64 // frames dropped because the encoder was behind
	Skipped       uint64 // frames not encoded because nobody was watching
	Repeated      uint64 // last frames encoded again while the producer was idle
	Viewers       int    // viewers playing now
	SlowViewers   uint64 // viewers disconnected for not reading fast enough
	// DroppedUDPPackets are RTP and RTCP packets not sent to UDP viewers
	// because the server had fallen behind sending to them; the viewers
	// are kept (internal/rtsp, OnStreamWriteError).
	DroppedUDPPackets uint64
	// WithheldPackets are video packets not sent to viewers that had
	// started playing in the middle of a GOP, until their first IDR:
	// P-frames they could not decode (internal/rtsp, joingate.go).
	WithheldPackets uint64
	BytesSent       uint64 // H.264 bytes sent (once, whatever the number of viewers)
	BytesOut        uint64 // RTP and RTCP bytes sent to all RTSP viewers, those gone included
	Refused         uint64 // frames refused: not the size their format needs
	EncodeErrors    uint64 // frames the encoder failed on
	EncodeTime      Histogram
}

// Histogram is a distribution of durations: Counts[i] observations of at
// most Bounds[i] (cumulative, as Prometheus takes them), Count in all, Sum
// their total.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// encodeBounds are the buckets of the encode-time histogram.
var encodeBounds = [...]time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
}

// histogram counts durations into encodeBounds without locks.
type histogram struct {
	counts [len(encodeBounds)]atomic.Uint64
	count  atomic.Uint64
	sum    atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	for i, b := range encodeBounds {
		if d <= b {
			h.counts[i].Add(1)
		}
	}
	h.count.Add(1)
	h.sum.Add(int64(d))
}

func (h *histogram) snapshot() Histogram {
	out := Histogram{Bounds: encodeBounds[:], Counts: make([]uint64, len(encodeBounds)),
		Count: h.count.Load(), Sum: time.Duration(h.sum.Load())}
	for i := range h.counts {
		out.Counts[i] = h.counts[i].Load()
	}
	return out
}

// Stats returns the stream's counters.
func (st *Stream) Stats() StreamStats {
	return StreamStats{
		FramesIn:          st.framesIn.Load(),
		FramesEncoded:     st.framesOut.Load(),
		Dropped:           st.dropped.Load(),
		Skipped:           st.skipped.Load(),
		Repeated:          st.repeated.Load(),
		Viewers:           st.mount.Viewers(),
		SlowViewers:       st.mount.SlowViewers(),
		DroppedUDPPackets: st.mount.DroppedUDPPackets(),
		WithheldPackets:   st.mount.WithheldPackets(),
		BytesSent:         st.mount.BytesSent(),
		BytesOut:          st.mount.BytesOut(),
		Refused:           st.refused.Load(),
		EncodeErrors:      st.encodeErrors.Load(),
		EncodeTime:        st.encodeTime.snapshot(),
	}
}

// Close ends the producer's use of the stream and frees the path for
// another producer. The frames still waiting are encoded. Viewers stay
// connected: with IdleRepeat they keep getting the last frame until a later
// Publish on the same path sends them its frames. Close is idempotent.
func (st *Stream) Close() error {
	st.wmu.Lock()
	if st.closed {
		st.wmu.Unlock()
		return nil
	}
	st.closed = true
	flushed := make(chan struct{})
	st.pipe.ready <- &picture{flush: flushed}
	st.wmu.Unlock()
	<-flushed
	st.srv.release(st)
	s := st.Stats()
	st.srv.log.Info("producer left", "path", st.path, "producer", st.owner, "frames_in", s.FramesIn,
		"frames_encoded", s.FramesEncoded, "dropped", s.Dropped, "skipped", s.Skipped)
	return nil
}

// stopEncoding ends the stream's encoder (after Close, when a new producer
// takes the path or the server closes).
func (st *Stream) stopEncoding() {
	st.wmu.Lock()
	st.closed = true
	st.pipe.stop()
	st.wmu.Unlock()
	st.mount.OnViewerJoin(nil)
}
