// Package yuv converts raw frames in the pixel formats producers send into
// I420, the layout the H.264 encoder takes, using libyuv. It is the first
// step of framecast's pipeline: source → convert → encode → fan-out.
//
// # Colour
//
// The RGB formats are converted with libyuv's BT.601 limited-range
// ("studio swing") matrix: Y spans 16..235 and U, V span 16..240 with 128 as
// neutral. White becomes Y 235 U V 128, black Y 16 U V 128, and pure red
// Y 82 U 90 V 240 (within ±1, depending on libyuv's rounding). The encoder must signal this in the stream's VUI
// (colour_primaries/matrix_coefficients BT.601, video_full_range_flag 0),
// or players will show washed-out or over-saturated colours. The YUV formats
// (yuv420p, nv12, yuyv422) are copied or resampled without any colour
// change, so they keep whatever matrix and range the producer used; gray is
// copied into Y unchanged, with U and V set to 128.
//
// Chroma is subsampled 2x2 by averaging; odd widths and heights are
// supported, the chroma planes being (w+1)/2 x (h+1)/2.
//
// # Memory
//
// All memory is owned by Go. Convert hands libyuv pointers into the source
// and destination slices for the duration of one call only, keeps nothing,
// and allocates nothing, so a pipeline can reuse one [I420] per stream.
//
// The package requires cgo and links the system libyuv (Debian: libyuv-dev).
package yuv

/*
#cgo LDFLAGS: -lyuv
#include <stdint.h>
#include <libyuv/convert.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/framecast/framecast/pixfmt"
)

// I420 is a planar 4:2:0 picture whose memory is owned by Go.
//
// Y has Height rows of Width samples, each row starting StrideY bytes after
// the previous one; U and V have (Height+1)/2 rows of (Width+1)/2 samples
// with strides StrideU and StrideV.
type I420 struct {
	Width, Height             int
	Y, U, V                   []byte
	StrideY, StrideU, StrideV int
}

// NewI420 returns a w x h picture with tight strides (StrideY = w,
// StrideU = StrideV = (w+1)/2), its three planes carved out of a single
// allocation. A zero w or h gives an empty picture that Convert rejects;
// NewI420 panics if w or h is negative.
func NewI420(w, h int) *I420 {
	if w < 0 || h < 0 {
		panic(fmt.Sprintf("yuv: NewI420 with negative size %dx%d", w, h))
	}
	if w == 0 || h == 0 {
		w, h = 0, 0
	}
	cw, ch := chroma(w, h)
	ny, nc := w*h, cw*ch
	buf := make([]byte, ny+2*nc)
	return &I420{
		Width:   w,
		Height:  h,
		Y:       buf[:ny:ny],
		U:       buf[ny : ny+nc : ny+nc],
		V:       buf[ny+nc:],
		StrideY: w,
		StrideU: cw,
		StrideV: cw,
	}
}

// chroma returns the dimensions of an I420 chroma plane of a w x h
// picture: (w+1)/2 x (h+1)/2.
func chroma(w, h int) (cw, ch int) { return (w + 1) / 2, (h + 1) / 2 }

// planeNeed is the number of bytes a plane of rows rows of rowBytes bytes,
// stride bytes apart, occupies: it need not extend past its last sample.
func planeNeed(stride, rowBytes, rows int) int64 {
	return int64(stride)*int64(rows-1) + int64(rowBytes)
}

func checkDst(dst *I420) error {
	if dst == nil {
		return errors.New("yuv: destination is nil")
	}
	w, h := dst.Width, dst.Height
	if w <= 0 || h <= 0 || w > math.MaxInt32 || h > math.MaxInt32 {
		return fmt.Errorf("yuv: invalid destination size %dx%d", w, h)
	}
	cw, ch := chroma(w, h)
	planes := [...]struct {
		name        string
		p           []byte
		stride      int
		rowBytes, n int
	}{
		{"Y", dst.Y, dst.StrideY, w, h},
		{"U", dst.U, dst.StrideU, cw, ch},
		{"V", dst.V, dst.StrideV, cw, ch},
	}
	for _, pl := range planes {
		if pl.stride < pl.rowBytes || pl.stride > math.MaxInt32 {
			return fmt.Errorf("yuv: destination Stride%s %d is invalid for width %d, want %d..%d",
				pl.name, pl.stride, w, pl.rowBytes, math.MaxInt32)
		}
		if need := planeNeed(pl.stride, pl.rowBytes, pl.n); int64(len(pl.p)) < need || need > math.MaxInt32 {
			return fmt.Errorf("yuv: destination plane %s is %d bytes, want at least %d for %dx%d with stride %d",
				pl.name, len(pl.p), need, w, h, pl.stride)
		}
	}
	return nil
}

// Convert converts one frame src of format f, dst.Width x dst.Height, into
// dst. dst's planes may have any strides at least as long as their rows.
//
// stride is the byte length of one row of src's first plane; 0 means the
// tight f.MinStride(w). src holds the frame as package pixfmt lays it out
// (see pixfmt.CheckSize): with stride 0 it is exactly f.FrameSize(w, h, 0)
// bytes; with a stride it has at least f.MinFrameSize(w, h, stride) bytes
// (a packed frame may end right after the last pixel of its last row), and
// may be longer: a strided frame can be a window into a larger buffer, and
// the bytes after f.FrameSize(w, h, stride) are not read.
//
// A stride shorter than f.MinStride(w) is an error. Errors name the
// expected and received sizes, e.g. "frame is 1000 bytes, want 921600 for
// bgr24 640x480"; Convert returns an error rather than panicking on any bad
// argument, including a destination whose planes are too small. Frames of
// 2 GiB or more are rejected. src and dst must not overlap.
//
// Convert does not allocate, except to build an error. It may be called
// concurrently with distinct destinations.
func Convert(dst *I420, src []byte, f Format, stride int) error {
	if !f.Valid() {
		return fmt.Errorf("yuv: %w %v", pixfmt.ErrUnknown, f)
	}
	if err := checkDst(dst); err != nil {
		return err
	}
	return convert(dst, src, f, stride)
}

// CheckSize reports whether a frame of n bytes is what Convert takes for f at
// w x h with the given stride (0: tight rows), with the same errors as
// Convert, without converting anything: pixfmt.CheckSize's, except that a
// strided frame may be longer, and that libyuv's limit of 2 GiB applies.
func CheckSize(n int, f Format, w, h, stride int) error {
	most := f.FrameSize(w, h, stride)
	if stride != 0 {
		n = min(n, most)
	}
	if err := pixfmt.CheckSize(n, f, w, h, stride); err != nil {
		return err
	}
	if most > math.MaxInt32 {
		return fmt.Errorf("frame of %d bytes for %v %dx%d is too large", most, f, w, h)
	}
	return nil
}

func convert(dst *I420, src []byte, f Format, stride int) error {
	w, h := dst.Width, dst.Height
	if err := CheckSize(len(src), f, w, h, stride); err != nil {
		return err
	}
	if stride == 0 {
		stride = f.MinStride(w)
	}
	// CheckSize bounded the frame to 2 GiB: no offset overflows.
	_, chromaRows := chroma(w, h)
	stride1 := f.ChromaStride(stride)
	off1 := stride * h
	off2 := off1 + stride1*chromaRows
	dy, du, dv := ptr(dst.Y), ptr(dst.U), ptr(dst.V)
	dsy, dsu, dsv := C.int(dst.StrideY), C.int(dst.StrideU), C.int(dst.StrideV)
	cw, ch, s := C.int(w), C.int(h), C.int(stride)
	var rc C.int
	switch f {
	case BGR24:
		rc = C.RGB24ToI420(ptr(src), s, dy, dsy, du, dsu, dv, dsv, cw, ch)
	case RGB24:
		rc = C.RAWToI420(ptr(src), s, dy, dsy, du, dsu, dv, dsv, cw, ch)
	case BGRA:
		rc = C.ARGBToI420(ptr(src), s, dy, dsy, du, dsu, dv, dsv, cw, ch)
	case RGBA:
		rc = C.ABGRToI420(ptr(src), s, dy, dsy, du, dsu, dv, dsv, cw, ch)
	case Gray:
		rc = C.I400ToI420(ptr(src), s, dy, dsy, du, dsu, dv, dsv, cw, ch)
	case YUYV422:
		rc = C.YUY2ToI420(ptr(src), s, dy, dsy, du, dsu, dv, dsv, cw, ch)
	case NV12:
		rc = C.NV12ToI420(ptr(src), s, ptr(src[off1:]), C.int(stride1),
			dy, dsy, du, dsu, dv, dsv, cw, ch)
	case YUV420P:
		rc = C.I420Copy(ptr(src), s, ptr(src[off1:]), C.int(stride1), ptr(src[off2:]), C.int(stride1),
			dy, dsy, du, dsu, dv, dsv, cw, ch)
	}
	if rc != 0 {
		return fmt.Errorf("yuv: libyuv failed converting %v %dx%d (code %d)", f, w, h, int(rc))
	}
	return nil
}

// ptr returns a C pointer to b's first byte; b must not be empty. The
// pointer is only valid for the duration of the cgo call it is passed to.
func ptr(b []byte) *C.uint8_t {
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b)))
}
