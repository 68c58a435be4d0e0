package bench

import (
	"time"

	"github.com/framecast/framecast/internal/testsrc"
)

// A frame carries two stamps along its bottom-left edge, as rows of 16 black
// and white blocks (internal/testsrc's layout, white = 1, most significant bit
// first) that survive compression: the frame number in the bottom row
// (testsrc.ReadNumber reads it too), and the send time in milliseconds modulo
// 2^16 in the row above. bench/python/benchframes.py draws the same rows.
const (
	RowNumber = 0 // the bottom row
	RowSent   = 1 // the row above it
)

// StampRow draws v's low 16 bits as row (RowNumber or RowSent) of a packed
// bgr24 frame of w x h.
func StampRow(frame []byte, w, h, row int, v uint32) {
	b := testsrc.StampBlock(w)
	y0 := h - (row+1)*b
	for i := range testsrc.StampBits {
		var c byte
		if v&(1<<(testsrc.StampBits-1-i)) != 0 {
			c = 255
		}
		for y := y0; y < y0+b; y++ {
			px := frame[(y*w+i*b)*3 : (y*w+(i+1)*b)*3]
			for j := range px {
				px[j] = c
			}
		}
	}
}

// Stamp draws the frame number n and the send time t.
func Stamp(frame []byte, w, h int, n uint32, t time.Time) {
	StampRow(frame, w, h, RowNumber, n)
	StampRow(frame, w, h, RowSent, SentMillis(t))
}

// SentMillis is t in milliseconds since the Unix epoch modulo 2^16, the
// clock every producer stamps (Python's time.time_ns() // 10**6 & 0xffff).
func SentMillis(t time.Time) uint32 { return uint32(t.UnixMilli()) & 0xffff }

// ReadRow reads row (RowNumber or RowSent) from a decoded luma plane of w x h
// (stride w), sampling the middle of each block.
func ReadRow(luma []byte, w, h, row int) uint32 {
	b := testsrc.StampBlock(w)
	y := h - row*b - b/2 - 1
	var v uint32
	for i := range testsrc.StampBits {
		v <<= 1
		if luma[y*w+i*b+b/2] >= 128 {
			v |= 1
		}
	}
	return v
}

// AgeMillis is how many milliseconds before now a frame stamped with sent
// (SentMillis) was sent; it is right for ages under 65 s.
func AgeMillis(sent uint32, now time.Time) int {
	return int((SentMillis(now) - sent) & 0xffff)
}
