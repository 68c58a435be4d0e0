package pixfmt

import (
	"fmt"
	"math"
	"math/bits"
)

// The layout rules. A frame is w x h pixels; its first (or only) plane has h
// rows, each starting stride bytes after the previous one, stride 0 meaning
// the tight MinStride(w). Planes follow one another without gaps:
//
//   - packed formats (bgr24, rgb24, bgra, rgba, gray, yuyv422) have one
//     plane; with an explicit stride its last row may stop right after its
//     last pixel, so a frame has from stride*(h-1)+MinStride(w) to
//     stride*h bytes;
//   - yuv420p is Y, then U and V of (h+1)/2 rows each, their stride
//     (stride+1)/2;
//   - nv12 is Y, then interleaved UV of (h+1)/2 rows whose stride is stride
//     rounded up to even (so that it holds the 2*((w+1)/2) bytes of an
//     odd-width row).
//
// Every plane of a planar frame is whole: it has exactly FrameSize bytes.

// MinStride is the tight row length in bytes of the first (or only) plane
// of pf at width w: 3*w for bgr24 and rgb24, 4*w for bgra and rgba, w for
// gray, yuv420p and nv12, and ((w+1)/2)*4 for yuyv422 (a trailing odd pixel
// occupies a whole Y0 U Y1 V group). It is 0 if w <= 0 or pf is not a
// declared format.
func (pf PixelFormat) MinStride(w int) int { return clamp(pf.minStride(w)) }

// ChromaStride is the row length in bytes of the chroma plane(s) of a
// frame of pf whose first plane's rows are stride bytes apart (stride > 0):
// (stride+1)/2 for each of yuv420p's U and V, stride rounded up to even for
// nv12's interleaved UV. It is 0 for the packed formats, which have no
// chroma plane, and for stride <= 0.
func (pf PixelFormat) ChromaStride(stride int) int {
	if stride <= 0 {
		return 0
	}
	return clamp(chromaStride(pf, uint64(stride)))
}

// FrameSize is the byte size of a w x h frame of pf with every plane whole,
// the size a producer sends: for stride 0 the tight size (w*h*3 for bgr24;
// w*h + 2*((w+1)/2)*((h+1)/2) for yuv420p and nv12), otherwise the size
// with rows stride bytes apart (stride*h for a packed format). It is 0 if pf
// is not a declared format, w or h is not positive, or stride is negative
// or shorter than MinStride(w); a size that does not fit in an int is
// math.MaxInt.
func (pf PixelFormat) FrameSize(w, h, stride int) int {
	l, ok := pf.layout(w, h, stride)
	if !ok {
		return 0
	}
	return clamp(l.most)
}

// MinFrameSize is the smallest byte size of a frame FrameSize describes:
// the same, except that with an explicit stride a packed format's last row
// may stop after its last pixel (stride*(h-1) + MinStride(w) bytes).
func (pf PixelFormat) MinFrameSize(w, h, stride int) int {
	l, ok := pf.layout(w, h, stride)
	if !ok {
		return 0
	}
	return clamp(l.least)
}

// CheckSize reports whether n bytes are a w x h frame of pf whose rows are
// stride bytes apart (0: tight): from MinFrameSize to FrameSize bytes. The
// error says what was expected, in the words a producer sees:
//
//	frame is 1000 bytes, want 921600 for bgr24 640x480
//	frame is 921601 bytes, want exactly 921600 for bgr24 640x480
//	frame is 3000 bytes, want at least 3884 for bgr24 640x480 with stride 2000
//	frame is 3841 bytes, want at most 3840 for gray 64x48 with stride 80
//
// A format that is not declared, a size that is not positive, or a stride
// shorter than a row is an error too. CheckSize allocates only to build an
// error.
func CheckSize(n int, pf PixelFormat, w, h, stride int) error {
	if !pf.Valid() {
		return fmt.Errorf("%w %v", ErrUnknown, pf)
	}
	if w <= 0 || h <= 0 {
		return fmt.Errorf("size %dx%d: want a positive width and height", w, h)
	}
	if err := CheckStride(pf, w, stride); err != nil {
		return err
	}
	l, _ := pf.layout(w, h, stride)
	var want string
	switch m := int64(n); {
	case m < l.least && l.least == l.most:
		want = fmt.Sprint(l.least)
	case m < l.least:
		want = fmt.Sprintf("at least %d", l.least)
	case m > l.most && l.least == l.most:
		want = fmt.Sprintf("exactly %d", l.most)
	case m > l.most:
		want = fmt.Sprintf("at most %d", l.most)
	default:
		return nil
	}
	if stride == 0 {
		return fmt.Errorf("frame is %d bytes, want %s for %v %dx%d", n, want, pf, w, h)
	}
	return fmt.Errorf("frame is %d bytes, want %s for %v %dx%d with stride %d", n, want, pf, w, h, stride)
}

// CheckStride reports whether stride is a row length of a frame of pf, w
// pixels wide: 0 (tight rows) or at least MinStride(w) bytes. The error
// says, e.g., "stride 1919 is less than a bgr24 row of 640 pixels (1920
// bytes)". pf must be a declared format and w positive.
func CheckStride(pf PixelFormat, w, stride int) error {
	if row := pf.minStride(w); stride < 0 || stride > 0 && uint64(stride) < row {
		return fmt.Errorf("stride %d is less than a %v row of %d pixels (%d bytes)", stride, pf, w, row)
	}
	return nil
}

// sizes is the least and most bytes of a frame, saturated at
// math.MaxInt64 so that no size overflows.
type sizes struct{ least, most int64 }

// layout computes the sizes of a frame; ok is false when pf, w, h or stride
// is invalid.
func (pf PixelFormat) layout(w, h, stride int) (sizes, bool) {
	row := pf.minStride(w)
	if row == 0 || h <= 0 || stride < 0 || stride > 0 && uint64(stride) < row {
		return sizes{}, false
	}
	s, rows := row, uint64(h)
	if stride > 0 {
		s = uint64(stride)
	}
	switch pf {
	case YUV420P, NV12:
		planes := uint64(1) // nv12's UV
		if pf == YUV420P {
			planes = 2 // U and V
		}
		n := add(mul(s, rows), mul(planes, mul(chromaStride(pf, s), (rows+1)/2)))
		return sizes{sat(n), sat(n)}, true
	}
	return sizes{sat(add(mul(s, rows-1), row)), sat(mul(s, rows))}, true
}

func (pf PixelFormat) minStride(w int) uint64 {
	if w <= 0 {
		return 0
	}
	n := uint64(w)
	switch pf {
	case BGR24, RGB24:
		return 3 * n
	case BGRA, RGBA:
		return 4 * n
	case Gray, YUV420P, NV12:
		return n
	case YUYV422:
		return (n + 1) / 2 * 4
	}
	return 0
}

// chromaStride is ChromaStride for a stride s > 0 (at most math.MaxInt64).
func chromaStride(pf PixelFormat, s uint64) uint64 {
	switch pf {
	case YUV420P:
		return (s + 1) / 2
	case NV12:
		return (s + 1) &^ 1
	}
	return 0
}

// mul and add saturate at math.MaxUint64.
func mul(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

func add(a, b uint64) uint64 {
	n, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return n
}

func sat(n uint64) int64 { return int64(min(n, math.MaxInt64)) }

func clamp[T int64 | uint64](n T) int {
	if uint64(n) > math.MaxInt {
		return math.MaxInt
	}
	return int(n)
}
