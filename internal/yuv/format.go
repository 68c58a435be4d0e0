package yuv

import (
	"fmt"
	"strings"
)

// Format is a pixel format, named as ffmpeg's -pix_fmt names it.
type Format int

// The pixel formats Convert accepts. The comments give the byte order in
// memory, which is what ffmpeg's names describe (libyuv's names describe the
// order of a little-endian word instead, so they read reversed).
const (
	BGR24   Format = iota + 1 // "bgr24": B,G,R bytes per pixel (OpenCV's default)
	RGB24                     // "rgb24": R,G,B bytes per pixel
	BGRA                      // "bgra": B,G,R,A bytes per pixel
	RGBA                      // "rgba": R,G,B,A bytes per pixel
	Gray                      // "gray": 8-bit luma only
	YUV420P                   // "yuv420p": I420, planes Y then U then V
	NV12                      // "nv12": Y plane then interleaved UV plane
	YUYV422                   // "yuyv422": packed Y0 U Y1 V
)

var formatNames = [...]string{
	BGR24:   "bgr24",
	RGB24:   "rgb24",
	BGRA:    "bgra",
	RGBA:    "rgba",
	Gray:    "gray",
	YUV420P: "yuv420p",
	NV12:    "nv12",
	YUYV422: "yuyv422",
}

var allFormats = []Format{BGR24, RGB24, BGRA, RGBA, Gray, YUV420P, NV12, YUYV422}

// Formats returns all formats, in the order of their declaration.
// The slice is a fresh copy the caller may modify.
func Formats() []Format {
	return append([]Format(nil), allFormats...)
}

func (f Format) valid() bool { return f >= BGR24 && f <= YUYV422 }

// String returns the ffmpeg -pix_fmt name of f, or "Format(n)" for a value
// that is not one of the declared formats.
func (f Format) String() string {
	if !f.valid() {
		return fmt.Sprintf("Format(%d)", int(f))
	}
	return formatNames[f]
}

// ParseFormat returns the format with the given ffmpeg -pix_fmt name.
// Names are matched exactly (they are lower case, as ffmpeg spells them).
func ParseFormat(name string) (Format, error) {
	for _, f := range allFormats {
		if formatNames[f] == name {
			return f, nil
		}
	}
	names := make([]string, len(allFormats))
	for i, f := range allFormats {
		names[i] = formatNames[f]
	}
	return 0, fmt.Errorf("unknown pixel format %q (want one of %s)", name, strings.Join(names, ", "))
}

// chroma returns the size of a 4:2:0 chroma plane's dimensions for a w x h
// picture: (w+1)/2 x (h+1)/2.
func chroma(w, h int) (cw, ch int) { return (w + 1) / 2, (h + 1) / 2 }

// MinStride is the tight row length in bytes of the first (or only) plane of
// f at width w: 3*w for bgr24 and rgb24, 4*w for bgra and rgba, w for gray,
// yuv420p and nv12, and ((w+1)/2)*4 for yuyv422 (a trailing odd pixel
// occupies a whole Y0 U Y1 V group). It returns 0 if w <= 0 or f is not a
// declared format.
func (f Format) MinStride(w int) int {
	if w <= 0 {
		return 0
	}
	switch f {
	case BGR24, RGB24:
		return 3 * w
	case BGRA, RGBA:
		return 4 * w
	case Gray, YUV420P, NV12:
		return w
	case YUYV422:
		return (w + 1) / 2 * 4
	}
	return 0
}

// FrameSize is the byte size of one tightly packed frame (stride = minimum)
// of w x h in f. For the 4:2:0 formats the chroma planes are (w+1)/2 x
// (h+1)/2 samples: yuv420p is w*h + 2*((w+1)/2)*((h+1)/2) bytes and nv12,
// whose interleaved UV rows are 2*((w+1)/2) bytes, is the same. It returns 0
// if w <= 0, h <= 0 or f is not a declared format.
func (f Format) FrameSize(w, h int) int {
	if w <= 0 || h <= 0 || !f.valid() {
		return 0
	}
	switch f {
	case YUV420P, NV12:
		cw, ch := chroma(w, h)
		return w*h + 2*cw*ch
	}
	return f.MinStride(w) * h
}
