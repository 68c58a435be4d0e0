package framecast

import (
	"context"
	"fmt"
	"image"
	"sort"
	"time"

	"github.com/framecast/framecast/internal/yuv"
)

// StreamInfo describes a served path.
type StreamInfo struct {
	Path string
	// Producer describes who publishes the path ("the Go API", a remote
	// address, "stdin"), or is empty while the path has no producer.
	Producer string
	Format   Format
	Encoder  EncoderConfig // the encoder settings in force
	Audio    Audio         // the audio track beside the video
	Stats    StreamStats
	Viewers  []ViewerInfo
}

// ViewerInfo describes one RTSP viewer.
type ViewerInfo struct {
	Remote    string    // address of the viewer
	Transport string    // "UDP", "TCP" or "UDP-multicast"
	Since     time.Time // when it started playing
	BytesSent uint64    // bytes sent to it, RTP and RTCP
}

// Streams describes every served path, sorted by path. It never waits for
// an encoder.
func (s *Server) Streams() []StreamInfo {
	streams, owners := s.entries()
	out := make([]StreamInfo, 0, len(streams))
	for i, st := range streams {
		fi := st.info.Load()
		info := StreamInfo{Path: st.path, Producer: owners[i], Format: fi.f, Encoder: fi.enc, Audio: s.PathAudio(st.path)}
		info.Stats = st.Stats()
		for _, v := range st.mount.ViewerInfos() {
			info.Viewers = append(info.Viewers, ViewerInfo(v))
		}
		sort.Slice(info.Viewers, func(i, j int) bool { return info.Viewers[i].Since.Before(info.Viewers[j].Since) })
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// ErrNoStream is returned for a path that nobody publishes.
var ErrNoStream = fmt.Errorf("no stream on this path")

// Snapshot returns the latest picture of path as a 4:2:0 image (BT.601,
// limited range, as encoded). When nobody watches the stream, it converts
// the producer's next frame for the snapshot; it waits for at most ctx.
func (s *Server) Snapshot(ctx context.Context, path string) (*image.YCbCr, error) {
	st := s.lookup(path)
	if st == nil {
		return nil, fmt.Errorf("snapshot %s: %w", path, ErrNoStream)
	}
	ch := make(chan *image.YCbCr, 1)
	st.snapMu.Lock()
	st.snapWaiters = append(st.snapWaiters, ch)
	st.snapPending.Store(true)
	st.snapMu.Unlock()
	select {
	case st.snapWake <- struct{}{}:
	default:
	}
	select {
	case img := <-ch:
		return img, nil
	case <-ctx.Done():
		st.snapMu.Lock()
		for i, c := range st.snapWaiters {
			if c == ch {
				st.snapWaiters = append(st.snapWaiters[:i], st.snapWaiters[i+1:]...)
				break
			}
		}
		st.snapPending.Store(len(st.snapWaiters) > 0)
		st.snapMu.Unlock()
		return nil, fmt.Errorf("snapshot %s: no frame: %w", path, ctx.Err())
	}
}

// answerSnapshots gives every waiting snapshot a copy of img. It runs on
// the encoder's goroutine, which owns img.
func (st *Stream) answerSnapshots(img *yuv.I420) {
	st.snapMu.Lock()
	waiters := st.snapWaiters
	st.snapWaiters = nil
	st.snapPending.Store(false)
	st.snapMu.Unlock()
	if len(waiters) == 0 {
		return
	}
	out := image.NewYCbCr(image.Rect(0, 0, img.Width, img.Height), image.YCbCrSubsampleRatio420)
	copyPlane(out.Y, out.YStride, img.Y, img.StrideY, img.Width, img.Height)
	cw, ch := (img.Width+1)/2, (img.Height+1)/2
	copyPlane(out.Cb, out.CStride, img.U, img.StrideU, cw, ch)
	copyPlane(out.Cr, out.CStride, img.V, img.StrideV, cw, ch)
	for _, w := range waiters {
		w <- out
	}
}

// AddSink registers f to receive every encoded access unit of path (NAL
// units without start codes, valid only during the call; the presentation
// time on the path's timeline, which never goes backwards; the capture
// time). f runs on the encoder's goroutine and must not block: copy and
// queue. Like a joining viewer, a new sink gets an IDR at once and keeps an
// on-demand stream encoding. The sink stays across producer restarts until
// remove is called, even across the path's removal after its linger: when
// the path is published again the sink gets its frames, starting with an
// IDR. SPS and PPS come in-band before every IDR.
func (s *Server) AddSink(path string, f func(au [][]byte, pts time.Duration, capture time.Time)) (remove func(), err error) {
	remove, err = s.addSink(path, f)
	if err != nil {
		return nil, fmt.Errorf("add sink %s: %w", path, err)
	}
	return remove, nil
}

// RequestIDR asks the encoder of path for an IDR, as a joining viewer does
// (rate-limited by Config.IDRInterval), for a consumer that lost packets.
func (s *Server) RequestIDR(path string) error {
	st := s.lookup(path)
	if st == nil {
		return fmt.Errorf("request IDR %s: %w", path, ErrNoStream)
	}
	st.requestIDR()
	return nil
}
