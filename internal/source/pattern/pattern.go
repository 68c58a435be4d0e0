// Package pattern is the test-pattern source of framecast serve --testsrc:
// it publishes internal/testsrc's moving bgr24 pattern on one path at a
// steady frame rate. It sits at the start of framecast's flow (source →
// convert → encode → fan-out) and uses only the public API (Publish,
// WriteFrame). Like every source under internal/source, it is a
// framecast.Component: the program attaches it to the Server at
// StageSource, and Shutdown closes it before anything downstream.
package pattern

import (
	"fmt"
	"sync"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testsrc"
)

// Source writes the test pattern to one stream. Its methods are safe for
// concurrent use.
type Source struct {
	st   *framecast.Stream
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the writer has stopped and st is closed
	once sync.Once
}

// Start publishes path on srv with f's size and rate (its FPS; 0 means
// 30) and starts the goroutine that writes a frame every 1/FPS seconds,
// until Close or until the stream refuses a frame (the server is shutting
// down). The pattern is bgr24: f.PixelFormat must be framecast.BGR24 or
// zero, and f.Stride 0. It costs one frame buffer and one drawing per
// frame.
func Start(srv *framecast.Server, path string, f framecast.Format) (*Source, error) {
	if f.PixelFormat == 0 {
		f.PixelFormat = framecast.BGR24
	}
	if f.PixelFormat != framecast.BGR24 || f.Stride != 0 {
		return nil, fmt.Errorf("test pattern on %s: is bgr24 without stride, not %s with stride %d", path, f.PixelFormat, f.Stride)
	}
	st, err := srv.Publish(path, f)
	if err != nil {
		return nil, err
	}
	s := &Source{st: st, stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s, nil
}

// Stream is the published stream.
func (s *Source) Stream() *framecast.Stream { return s.st }

// Close stops writing, closes the stream (its producer leaves; the server's
// Linger and Idle say what viewers get then) and returns when the source's
// goroutine has stopped. It may be called more than once.
func (s *Source) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

// run writes frame n at n/FPS on a fixed schedule from its start and
// stamps it so (WriteFrameAt), so that viewers see evenly spaced, strictly
// increasing timestamps whatever the machine's load: stamped with the time
// it was drawn, a late frame and the one hurried after it came out a
// fraction of a frame apart, and ffmpeg reported non-monotonic DTS. A frame
// may be written up to one period late; frames further behind are skipped,
// not written in a burst, so the stream stays live and a skipped frame is a
// gap of whole periods in the timestamps. The clock drawn is wall time.
func (s *Source) run() {
	defer close(s.done)
	defer s.st.Close()
	f := s.st.Format()
	p := testsrc.New(f.Width, f.Height)
	buf := make([]byte, p.FrameSize())
	at := func(n int64) time.Duration { return time.Duration(float64(n) * float64(time.Second) / f.FPS) }
	timer := time.NewTimer(0)
	defer timer.Stop()
	start := time.Now()
	for n := int64(0); ; {
		timer.Reset(time.Until(start.Add(at(n))))
		select {
		case <-s.stop:
			return
		case <-timer.C:
		}
		p.Draw(buf, uint32(n), time.Now())
		if err := s.st.WriteFrameAt(buf, at(n)); err != nil {
			return
		}
		// The next frame, or, when that one is already more than a
		// period late, the last one due.
		n = max(n+1, lastDue(time.Since(start), f.FPS))
	}
}

// lastDue is the number of the last frame due at elapsed, at fps frames a
// second.
func lastDue(elapsed time.Duration, fps float64) int64 {
	return int64(elapsed.Seconds() * fps)
}
