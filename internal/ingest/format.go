package ingest

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/framecast/framecast/pixfmt"
)

// Format is the FORMAT payload: the layout and rate of the frames that
// follow, and encoder options. Its wire form is the pixel format (u8), a
// reserved byte, width, height, stride, fps_num and fps_den (u32 each), the
// options (u16 length, ASCII) and two reserved bytes.
//
// The pixel format's wire code is the protocol's own (see PixelFormatCode):
// 1 bgr24, 2 rgb24, 3 bgra, 4 rgba, 5 gray, 6 yuv420p, 7 nv12, 8 yuyv422.
type Format struct {
	PixelFormat    pixfmt.PixelFormat
	Width, Height  uint32 // even, MinDimension…MaxDimension
	Stride         uint32 // bytes per row of the first plane; 0 means tightly packed
	FPSNum, FPSDen uint32 // nominal frame rate FPSNum/FPSDen, from 1/MaxFPS to MaxFPS
	Options        Options
}

// pixelFormatCodes are the wire codes of the pixel formats, as
// docs/ingest-protocol.md and the Python client spell them. They belong to
// the protocol, not to package pixfmt: a code never changes once published.
var pixelFormatCodes = [...]struct {
	pf   pixfmt.PixelFormat
	code uint8
}{
	{pixfmt.BGR24, 1},
	{pixfmt.RGB24, 2},
	{pixfmt.BGRA, 3},
	{pixfmt.RGBA, 4},
	{pixfmt.Gray, 5},
	{pixfmt.YUV420P, 6},
	{pixfmt.NV12, 7},
	{pixfmt.YUYV422, 8},
}

// PixelFormatCode returns the wire code of pf; ok is false for a value
// that is not a pixel format the protocol carries.
func PixelFormatCode(pf pixfmt.PixelFormat) (code uint8, ok bool) {
	for _, c := range pixelFormatCodes {
		if c.pf == pf {
			return c.code, true
		}
	}
	return 0, false
}

// PixelFormatOf returns the pixel format whose wire code is code; ok is
// false for a code the protocol does not define.
func PixelFormatOf(code uint8) (pf pixfmt.PixelFormat, ok bool) {
	for _, c := range pixelFormatCodes {
		if c.code == code {
			return c.pf, true
		}
	}
	return 0, false
}

// wireCode is the code f's pixel format is written with: its wire code, or
// for a value that is not a pixel format, the value itself (which the
// server refuses), so that a test can send a code that does not exist.
func (f *Format) wireCode() (int, bool) {
	if code, ok := PixelFormatCode(f.PixelFormat); ok {
		return int(code), true
	}
	return int(f.PixelFormat), false
}

// unknownPixelFormat is the error about a pixel format code that does not
// exist; it lists the ones that do.
func unknownPixelFormat(code int) *Error {
	want := make([]string, len(pixelFormatCodes))
	for i, c := range pixelFormatCodes {
		want[i] = fmt.Sprintf("%d %v", c.code, c.pf)
	}
	return newError(CodeBadFormat, "unknown pixel format %d: want %s or %s", code,
		strings.Join(want[:len(want)-1], ", "), want[len(want)-1])
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
	code, _ := f.wireCode()
	if code < 0 || code > math.MaxUint8 || len(opts) > math.MaxUint16 {
		return 0, fmt.Errorf("ingest: FORMAT with pixel format %d or options of %d bytes cannot be written",
			code, len(opts))
	}
	n := formatFixedSize + len(opts)
	if len(b) < n {
		return 0, ErrShortBuffer
	}
	b[0] = byte(code)
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
	pf, ok := PixelFormatOf(b[0])
	if !ok {
		return unknownPixelFormat(int(b[0]))
	}
	g.PixelFormat = pf
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
	if code, ok := f.wireCode(); !ok {
		return unknownPixelFormat(code)
	}
	if w%2 != 0 || h%2 != 0 || w < MinDimension || h < MinDimension || w > MaxDimension || h > MaxDimension {
		return newError(CodeBadFormat, "size %dx%d: width and height must be even, from %d to %d", w, h, MinDimension, MaxDimension)
	}
	num, den := uint64(f.FPSNum), uint64(f.FPSDen)
	if num == 0 || den == 0 || num > MaxFPS*den || num*MaxFPS < den {
		return newError(CodeBadFormat, "frame rate %d/%d: want from 1/%d to %d frames per second", num, den, MaxFPS, MaxFPS)
	}
	if err := pixfmt.CheckStride(pf, int(w), toInt(f.Stride)); err != nil {
		return newError(CodeBadFormat, "%v", err)
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
// of f carries (the timestamp not included): pixfmt's MinFrameSize and
// FrameSize. Without a stride both are the tight size of the spec's table;
// with one, a packed format's last row may stop after its last pixel or run
// to the full stride, and yuv420p and nv12 frames hold every plane whole.
// The result is meaningful for a format whose pixel format and size are
// valid.
func (f *Format) FrameSize() (least, most int64) {
	pf, w, h, s := f.PixelFormat, toInt(f.Width), toInt(f.Height), toInt(f.Stride)
	return int64(pf.MinFrameSize(w, h, s)), int64(pf.FrameSize(w, h, s))
}

// CheckFrameSize reports whether n pixel bytes are a frame of f. The error
// is an *Error with code frame-size and pixfmt.CheckSize's message, which
// names both sizes: "frame is 1000 bytes, want 921600 for bgr24 640x480".
func (f *Format) CheckFrameSize(n int64) error {
	err := pixfmt.CheckSize(int(min(n, math.MaxInt)), f.PixelFormat, toInt(f.Width), toInt(f.Height), toInt(f.Stride))
	if err != nil {
		return newError(CodeFrameSize, "%v", err)
	}
	return nil
}

// toInt converts a wire size to an int, saturating where an int is 32 bits
// (the size rules then see a frame too large to exist).
func toInt(v uint32) int { return int(min(uint64(v), math.MaxInt)) }
