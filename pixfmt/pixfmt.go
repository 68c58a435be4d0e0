// Package pixfmt names the raw pixel formats framecast takes and holds their
// layout rules: how long a row is, how many bytes a frame has, and what a
// frame of the wrong size is told. It sits at the source end of the flow
// (source → convert → encode → fan-out), is pure Go and imports nothing from
// framecast, so that a producer that only sends frames (package publisher),
// the ingest protocol and the converter (internal/yuv) share one definition
// without the producer linking the server or cgo.
package pixfmt

import (
	"errors"
	"fmt"
	"strings"
)

// PixelFormat is the layout of a raw frame, named as ffmpeg's -pix_fmt names
// it. The zero value is no format.
//
// Its numbers are not a wire format: the ingest protocol maps each format to
// a code of its own (docs/ingest-protocol.md).
type PixelFormat int

// The pixel formats. The comments give the byte order in memory, which is
// what ffmpeg's names describe (libyuv's names describe the order of a
// little-endian word instead, so they read reversed).
const (
	BGR24   PixelFormat = iota + 1 // "bgr24": B, G, R bytes per pixel (OpenCV's default)
	RGB24                          // "rgb24": R, G, B bytes per pixel
	BGRA                           // "bgra": B, G, R, A bytes per pixel
	RGBA                           // "rgba": R, G, B, A bytes per pixel (image.RGBA's layout)
	Gray                           // "gray": one 8-bit luma byte per pixel
	YUV420P                        // "yuv420p": I420, a Y plane, then U, then V at half size
	NV12                           // "nv12": a Y plane, then interleaved U, V at half size
	YUYV422                        // "yuyv422": packed Y0 U Y1 V
)

var names = [...]string{
	BGR24:   "bgr24",
	RGB24:   "rgb24",
	BGRA:    "bgra",
	RGBA:    "rgba",
	Gray:    "gray",
	YUV420P: "yuv420p",
	NV12:    "nv12",
	YUYV422: "yuyv422",
}

// ErrUnknown is wrapped by the errors about a name or value that is not a
// pixel format.
var ErrUnknown = errors.New("unknown pixel format")

// All returns every pixel format, in the order of their declaration. The
// slice is a fresh copy the caller may modify.
func All() []PixelFormat {
	return []PixelFormat{BGR24, RGB24, BGRA, RGBA, Gray, YUV420P, NV12, YUYV422}
}

// Valid reports whether pf is one of the declared formats.
func (pf PixelFormat) Valid() bool { return pf >= BGR24 && pf <= YUYV422 }

// String returns the ffmpeg -pix_fmt name of pf, e.g. "bgr24", or
// "PixelFormat(n)" for a value that is not a declared format.
func (pf PixelFormat) String() string {
	if !pf.Valid() {
		return fmt.Sprintf("PixelFormat(%d)", int(pf))
	}
	return names[pf]
}

// MarshalText returns pf's name; a value that is not a declared format is
// an error wrapping ErrUnknown.
func (pf PixelFormat) MarshalText() ([]byte, error) {
	if !pf.Valid() {
		return nil, fmt.Errorf("%w %d", ErrUnknown, int(pf))
	}
	return []byte(names[pf]), nil
}

// UnmarshalText sets pf to the format named text, matched exactly (the
// names are lower case, as ffmpeg spells them). An unknown name is an error
// wrapping ErrUnknown that lists the valid ones; pf is then unchanged.
func (pf *PixelFormat) UnmarshalText(text []byte) error {
	p, err := Parse(string(text))
	if err != nil {
		return err
	}
	*pf = p
	return nil
}

// Parse returns the format named name, as UnmarshalText does.
func Parse(name string) (PixelFormat, error) {
	for _, pf := range All() {
		if names[pf] == name {
			return pf, nil
		}
	}
	return 0, fmt.Errorf("%w %q (want one of %s)", ErrUnknown, name, strings.Join(names[BGR24:], ", "))
}
