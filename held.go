package framecast

import (
	"sync"
	"time"

	"github.com/framecast/framecast/internal/yuv"
)

// heldFrame is the latest frame a stream was given while nobody watched.
// It is copied as it came (no conversion, no encoding: a memory copy per
// frame, reusing one buffer), so that a viewer, preview or snapshot that
// arrives later gets a picture at once even from a producer that paused,
// sends one frame a second, or left.
type heldFrame struct {
	mu      sync.Mutex
	valid   bool
	buf     []byte // the raw frame, in pf with stride (raw frames)
	ext     []byte // instead of buf, the frame where it came, not copied: ingest_shm.go
	pf      PixelFormat
	stride  int
	w, h    int
	img     *yuv.I420 // the frame as I420 (frames written as *image.YCbCr)
	isImg   bool
	pts     time.Duration
	capture time.Time
}

// setRaw keeps a copy of pix. Called with h.mu held.
func (h *heldFrame) setRaw(pix []byte, pf PixelFormat, stride, w, hgt int) {
	if cap(h.buf) < len(pix) {
		h.buf = make([]byte, len(pix))
	}
	h.buf = h.buf[:len(pix)]
	copy(h.buf, pix)
	h.ext = nil
	h.pf, h.stride, h.w, h.h, h.isImg, h.valid = pf, stride, w, hgt, false, true
}

// setI420 keeps a copy made by fill into an I420 picture of w×hgt. Called
// with h.mu held.
func (h *heldFrame) setI420(w, hgt int, fill func(*yuv.I420) error) {
	if h.img == nil || h.img.Width != w || h.img.Height != hgt {
		h.img = yuv.NewI420(w, hgt)
	}
	h.buf, h.ext = nil, nil
	h.w, h.h, h.isImg = w, hgt, true
	h.valid = fill(h.img) == nil
}

// convertTo converts the held frame into dst, which must be of its size.
// Called with h.mu held.
func (h *heldFrame) convertTo(dst *yuv.I420) (pts time.Duration, capture time.Time, ok bool) {
	if !h.valid || h.w != dst.Width || h.h != dst.Height {
		return 0, time.Time{}, false
	}
	if h.isImg {
		copyPlane(dst.Y, dst.StrideY, h.img.Y, h.img.StrideY, h.w, h.h)
		cw, ch := (h.w+1)/2, (h.h+1)/2
		copyPlane(dst.U, dst.StrideU, h.img.U, h.img.StrideU, cw, ch)
		copyPlane(dst.V, dst.StrideV, h.img.V, h.img.StrideV, cw, ch)
	} else if err := yuv.Convert(dst, h.raw(), h.pf, h.stride); err != nil {
		return 0, time.Time{}, false
	}
	return h.pts, h.capture, true
}

// raw is the raw frame held: ext when set, else buf.
func (h *heldFrame) raw() []byte {
	if h.ext != nil {
		return h.ext
	}
	return h.buf
}

// loadHeld converts the held frame into the encoder's last picture (taking
// a free one if there is none) and marks the last picture fresh. It runs on
// the encoder's goroutine, which owns *last.
func (st *Stream) loadHeld(pipe *pipeline, last **picture) bool {
	p := *last
	if p == nil {
		select {
		case p = <-pipe.free:
		default:
			return false
		}
	}
	st.held.mu.Lock()
	defer st.held.mu.Unlock()
	pts, capture, ok := st.held.convertTo(p.img)
	if !ok {
		if *last == nil {
			pipe.free <- p
		}
		return false
	}
	p.pts, p.capture, p.forceIDR = pts, capture, false
	*last = p
	// Under the held frame's lock, which the writer holds to mark the
	// last picture stale: a frame skipped after this one marks it again.
	st.skipping.Store(false)
	return true
}
