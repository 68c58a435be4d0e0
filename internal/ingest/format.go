package ingest

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/framecast/framecast/internal/yuv"
)

// Format is the FORMAT payload: the layout and rate of the frames that
// follow, and encoder options. Its wire form is the pixel format (u8), a
// reserved byte, width, height, stride, fps_num and fps_den (u32 each), the
// options (u16 length, ASCII) and two reserved bytes.
//
// The pixel format's wire code is its yuv.Format value: 1 bgr24, 2 rgb24,
// 3 bgra, 4 rgba, 5 gray, 6 yuv420p, 7 nv12, 8 yuyv422.
type Format struct {
	PixelFormat    yuv.Format
	Width, Height  uint32 // even, MinDimension…MaxDimension
	Stride         uint32 // bytes per row of the first plane; 0 means tightly packed
	FPSNum, FPSDen uint32 // nominal frame rate FPSNum/FPSDen, from 1/MaxFPS to MaxFPS
	Options        Options
}

// formatFixedSize is the size of a FORMAT payload without options.
const formatFixedSize = 26

// MarshalSize is the size of f's payload.
func (f *Format) MarshalSize() int { return formatFixedSize + len(f.Options.String()) }

// MarshalTo writes f's payload into b. It checks only that f can be
// written (a pixel format code that fits in a byte, options that fit in
// 65535 bytes), not that the server will take it: see Validate.
func (f *Format) MarshalTo(b []byte) (int, error) {
	opts := f.Options.String()
	if f.PixelFormat < 0 || f.PixelFormat > math.MaxUint8 || len(opts) > math.MaxUint16 {
		return 0, fmt.Errorf("ingest: FORMAT with pixel format %d or options of %d bytes cannot be written",
			int(f.PixelFormat), len(opts))
	}
	n := formatFixedSize + len(opts)
	if len(b) < n {
		return 0, ErrShortBuffer
	}
	b[0] = byte(f.PixelFormat)
	b[1] = 0
	binary.LittleEndian.PutUint32(b[2:], f.Width)
	binary.LittleEndian.PutUint32(b[6:], f.Height)
	binary.LittleEndian.PutUint32(b[10:], f.Stride)
	binary.LittleEndian.PutUint32(b[14:], f.FPSNum)
	binary.LittleEndian.PutUint32(b[18:], f.FPSDen)
	binary.LittleEndian.PutUint16(b[22:], uint16(len(opts)))
	copy(b[24:], opts)
	b[n-2], b[n-1] = 0, 0
	return n, nil
}

// Marshal returns f's payload.
func (f *Format) Marshal() ([]byte, error) {
	b := make([]byte, f.MarshalSize())
	n, err := f.MarshalTo(b)
	return b[:n], err
}

// Unmarshal parses and validates a FORMAT payload into f. Errors are *Error:
// malformed (fatal) for a payload of the wrong length or non-zero reserved
// bytes; bad-format (not fatal) for a format the server does not take (see
// Validate) or bad options (see ParseOptions).
func (f *Format) Unmarshal(b []byte) error {
	if len(b) < formatFixedSize {
		return newError(CodeMalformed, "FORMAT payload is %d bytes, want at least %d", len(b), formatFixedSize)
	}
	optsLen := int(binary.LittleEndian.Uint16(b[22:]))
	if want := formatFixedSize + optsLen; len(b) != want {
		return newError(CodeMalformed, "FORMAT payload is %d bytes, want %d for options of %d bytes", len(b), want, optsLen)
	}
	if end := b[24+optsLen:]; b[1] != 0 || end[0] != 0 || end[1] != 0 {
		return newError(CodeMalformed, "FORMAT has reserved bytes %02x and %02x%02x, want zeros", b[1], end[0], end[1])
	}
	var g Format
	g.PixelFormat = yuv.Format(b[0])
	g.Width = binary.LittleEndian.Uint32(b[2:])
	g.Height = binary.LittleEndian.Uint32(b[6:])
	g.Stride = binary.LittleEndian.Uint32(b[10:])
	g.FPSNum = binary.LittleEndian.Uint32(b[14:])
	g.FPSDen = binary.LittleEndian.Uint32(b[18:])
	if err := g.validateFrame(); err != nil {
		return err
	}
	opts, err := ParseOptions(string(b[24 : 24+optsLen]))
	if err != nil {
		return err
	}
	g.Options = opts
	*f = g
	return nil
}

// FPS is the nominal frame rate FPSNum/FPSDen.
func (f *Format) FPS() float64 { return float64(f.FPSNum) / float64(f.FPSDen) }

// Validate reports whether the server takes frames of f: a known pixel
// format, an even width and height from 2 to 8192, a rate from 1/1000 to
// 1000 frames per second, a stride of 0 or at least a row, frames that fit
// in a FRAME, and valid options. Errors are *Error with code bad-format.
func (f *Format) Validate() error {
	if err := f.validateFrame(); err != nil {
		return err
	}
	if err := f.Options.Validate(); err != nil {
		return err
	}
	return nil
}

func (f *Format) validateFrame() error {
	pf, w, h := f.PixelFormat, f.Width, f.Height
	if pf < yuv.BGR24 || pf > yuv.YUYV422 {
		return newError(CodeBadFormat, "unknown pixel format %d: want 1 bgr24, 2 rgb24, 3 bgra, 4 rgba, 5 gray, 6 yuv420p, 7 nv12 or 8 yuyv422", int(pf))
	}
	if w%2 != 0 || h%2 != 0 || w < MinDimension || h < MinDimension || w > MaxDimension || h > MaxDimension {
		return newError(CodeBadFormat, "size %dx%d: width and height must be even, from %d to %d", w, h, MinDimension, MaxDimension)
	}
	num, den := uint64(f.FPSNum), uint64(f.FPSDen)
	if num == 0 || den == 0 || num > MaxFPS*den || num*MaxFPS < den {
		return newError(CodeBadFormat, "frame rate %d/%d: want from 1/%d to %d frames per second", num, den, MaxFPS, MaxFPS)
	}
	if row := uint32(pf.MinStride(int(w))); f.Stride != 0 && f.Stride < row {
		return newError(CodeBadFormat, "stride %d is less than a %v row of %d pixels (%d bytes)", f.Stride, pf, w, row)
	}
	if _, most := f.FrameSize(); most > MaxPixels {
		return newError(CodeBadFormat, "frames of %v are %d bytes, more than the %d bytes of pixels a FRAME carries",
			f.describe(), most, MaxPixels)
	}
	return nil
}

// describe names the frame layout in messages: "bgr24 640x480", with
// " with stride S" when a stride is set.
func (f *Format) describe() string {
	if f.Stride == 0 {
		return fmt.Sprintf("%v %dx%d", f.PixelFormat, f.Width, f.Height)
	}
	return fmt.Sprintf("%v %dx%d with stride %d", f.PixelFormat, f.Width, f.Height, f.Stride)
}

// FrameSize returns the smallest and largest number of pixel bytes a FRAME
// of f carries (the timestamp not included). Without a stride both are the
// tight size of the spec's table. With one, the rows of the first plane are
// Stride bytes apart: a packed format's last row may stop after its last
// pixel or run to the full stride; yuv420p and nv12 frames hold every plane
// whole, chroma strides being (Stride+1)/2 (yuv420p) and Stride rounded up
// to even (nv12). The result is meaningful for a format whose pixel format
// and size are valid.
func (f *Format) FrameSize() (least, most int64) {
	w, h, s := int64(f.Width), int64(f.Height), int64(f.Stride)
	if s == 0 {
		n := int64(f.PixelFormat.FrameSize(int(w), int(h)))
		return n, n
	}
	ch := (h + 1) / 2
	switch f.PixelFormat {
	case yuv.YUV420P:
		n := s*h + 2*((s+1)/2)*ch
		return n, n
	case yuv.NV12:
		n := s*h + ((s+1)&^1)*ch
		return n, n
	}
	return s*(h-1) + int64(f.PixelFormat.MinStride(int(w))), s * h
}

// CheckFrameSize reports whether n pixel bytes are a frame of f. The error
// is an *Error with code frame-size whose message names both sizes as the
// converter does: "frame is 1000 bytes, want 921600 for bgr24 640x480".
func (f *Format) CheckFrameSize(n int64) error {
	least, most := f.FrameSize()
	var want string
	switch {
	case n < least && least == most:
		want = fmt.Sprint(least)
	case n < least:
		want = fmt.Sprintf("at least %d", least)
	case n > most && least == most:
		want = fmt.Sprintf("exactly %d", most)
	case n > most:
		want = fmt.Sprintf("at most %d", most)
	default:
		return nil
	}
	return newError(CodeFrameSize, "frame is %d bytes, want %s for %s", n, want, f.describe())
}
