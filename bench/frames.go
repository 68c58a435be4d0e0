// Package bench holds what framecast's benchmarks share: the synthetic
// frames every system under test is fed, the pixel stamps that carry a frame
// number and a send time through the encoder, process accounting from /proc,
// and the Go micro-benchmarks (bench_test.go). The harness that runs the
// whole comparison is bench/harness; the seed recipe it compares against is
// bench/seed/seed_server.py; the RTSP load client is bench/loadclient.
package bench

import (
	"fmt"
	"os"
	"syscall"
)

// RingLen is the number of distinct frames in a ring: one second at 30 fps.
// Producers send them in a loop, so the motion repeats every RingLen frames.
const RingLen = 30

// Synth draws the synthetic bgr24 frames of one size: a textured background
// (smooth value noise, diagonal stripes and fine grain) that pans a few pixels
// per frame, and three textured boxes that move across it. It costs the
// encoder about what a camera picture of a busy scene does: every macroblock
// moves and has detail, but most of it is predictable.
type Synth struct {
	W, H int
	tex  []byte // background texture, (W+2*pad) x (H+2*pad) bgr24
	tw   int
	pad  int
}

// NewSynth prepares the frames of w x h pixels (both even).
func NewSynth(w, h int) *Synth {
	pad := RingLen * 4 // the pan moves 4 px a frame horizontally, 2 px vertically
	tw, th := w+2*pad, h+2*pad
	s := &Synth{W: w, H: h, tex: make([]byte, tw*th*3), tw: tw, pad: pad}
	// Value noise on a 32 px lattice, bilinearly interpolated.
	const cell = 32
	gw, gh := tw/cell+2, th/cell+2
	lattice := make([]uint8, gw*gh*3)
	rng := uint32(12345)
	for i := range lattice {
		rng = rng*1664525 + 1013904223
		lattice[i] = uint8(40 + (rng>>24)%176)
	}
	for y := range th {
		gy, fy := y/cell, y%cell
		for x := range tw {
			gx, fx := x/cell, x%cell
			rng = rng*1664525 + 1013904223
			grain := int(rng>>29) - 4 // ±4: fine texture, like sensor noise
			stripe := 0
			if (x+y)/6%2 == 0 {
				stripe = 12
			}
			for c := range 3 {
				a := int(lattice[(gy*gw+gx)*3+c])
				b := int(lattice[(gy*gw+gx+1)*3+c])
				d := int(lattice[((gy+1)*gw+gx)*3+c])
				e := int(lattice[((gy+1)*gw+gx+1)*3+c])
				top := a*(cell-fx) + b*fx
				bot := d*(cell-fx) + e*fx
				v := (top*(cell-fy)+bot*fy)/(cell*cell) + grain + stripe
				s.tex[(y*tw+x)*3+c] = clamp(v)
			}
		}
	}
	return s
}

func clamp(v int) byte {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return byte(v)
}

// FrameSize is the byte size of one bgr24 frame.
func (s *Synth) FrameSize() int { return s.W * s.H * 3 }

// Draw draws frame n (n modulo RingLen: the motion loops) into dst.
func (s *Synth) Draw(dst []byte, n int) {
	n %= RingLen
	w, h := s.W, s.H
	// Pan right and down, then back, so the loop has no jump.
	k := n
	if k > RingLen/2 {
		k = RingLen - k
	}
	ox, oy := s.pad+k*8-RingLen*2, s.pad+k*4-RingLen
	for y := range h {
		src := s.tex[((y+oy)*s.tw+ox)*3:]
		copy(dst[y*w*3:(y+1)*w*3], src[:w*3])
	}
	// Three boxes with their own texture, moving on their own paths.
	bw, bh := max(8, w/8), max(8, h/6)
	for i, c := range [3][3]byte{{40, 200, 240}, {220, 80, 60}, {90, 230, 90}} {
		p := (n*(i+1) + i*7) % RingLen // back and forth, faster for later boxes
		if p > RingLen/2 {
			p = RingLen - p
		}
		x := (w - bw) * p / (RingLen / 2)
		y := (h - bh) * (i + 1) / 4
		for yy := range bh {
			row := dst[((y+yy)*w+x)*3:]
			for xx := range bw {
				shade := byte(((xx/4 + yy/4 + n) % 4) * 12)
				row[xx*3], row[xx*3+1], row[xx*3+2] = c[0]-shade, c[1]-shade, c[2]-shade
			}
		}
	}
}

// WriteRing writes RingLen frames of w x h bgr24 to path, one after the
// other, for producers in other processes to load (numpy.fromfile).
func WriteRing(path string, w, h int) error {
	s := NewSynth(w, h)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, s.FrameSize())
	for n := range RingLen {
		s.Draw(buf, n)
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// ReadRing loads a ring written by WriteRing: RingLen frames of w x h bgr24.
// The frames are a private, writable mapping of the file (a producer stamps
// them before it sends them; the writes stay in this process), so that the
// ring, 80 MB at 720p, is not on the Go heap: on the heap it would double the
// garbage collector's goal (GOGC=100 lets the heap grow by as much as is
// live before collecting) and the server under test would be measured with
// that much room for garbage, which is the bench's doing, not the server's.
// The mapping lives as long as the process, as the bench's rings do.
func ReadRing(path string, w, h int) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := w * h * 3
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() < int64(size*RingLen) {
		return nil, fmt.Errorf("ring %s: %d bytes, want %d frames of %dx%d bgr24 (%d bytes)", path, fi.Size(), RingLen, w, h, size*RingLen)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, size*RingLen, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("ring %s: map: %w", path, err)
	}
	frames := make([][]byte, RingLen)
	for i := range frames {
		frames[i] = m[i*size : (i+1)*size : (i+1)*size]
	}
	return frames, nil
}

// OffHeap returns n zeroed bytes outside the Go heap (an anonymous private
// mapping), for the bench's large test data (see ReadRing).
func OffHeap(n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	m, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("map %d bytes: %w", n, err)
	}
	return m, nil
}
