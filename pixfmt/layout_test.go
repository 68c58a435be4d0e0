package pixfmt_test

import (
	"math"
	"testing"

	"github.com/framecast/framecast/pixfmt"
)

func TestSizesOfTightAndStridedFrames(t *testing.T) {
	const none = pixfmt.PixelFormat(0)
	for _, tc := range []struct {
		pf           pixfmt.PixelFormat
		w, h, stride int
		minStride    int
		least, most  int
		chroma       int // ChromaStride(stride), or of MinStride(w) when stride is 0
	}{
		{pixfmt.BGR24, 640, 480, 0, 1920, 921600, 921600, 0},
		{pixfmt.RGB24, 7, 5, 0, 21, 105, 105, 0},
		{pixfmt.BGRA, 7, 5, 0, 28, 140, 140, 0},
		{pixfmt.RGBA, 1920, 1080, 0, 7680, 8294400, 8294400, 0},
		{pixfmt.Gray, 7, 5, 0, 7, 35, 35, 0},
		{pixfmt.YUV420P, 640, 480, 0, 640, 460800, 460800, 320},
		{pixfmt.YUV420P, 7, 5, 0, 7, 35 + 2*4*3, 35 + 2*4*3, 4},
		{pixfmt.NV12, 7, 5, 0, 7, 35 + 8*3, 35 + 8*3, 8},
		{pixfmt.NV12, 1920, 1080, 0, 1920, 3110400, 3110400, 1920},
		{pixfmt.YUYV422, 7, 5, 0, 16, 16 * 5, 16 * 5, 0},
		{pixfmt.YUYV422, 640, 480, 0, 1280, 614400, 614400, 0},
		// With a stride a packed frame's last row may stop after its last pixel.
		{pixfmt.BGR24, 6, 4, 20, 18, 20*3 + 18, 20 * 4, 0},
		{pixfmt.BGRA, 6, 4, 32, 24, 32*3 + 24, 32 * 4, 0},
		{pixfmt.Gray, 6, 4, 7, 6, 7*3 + 6, 7 * 4, 0},
		{pixfmt.YUYV422, 6, 4, 13, 12, 13*3 + 12, 13 * 4, 0},
		// Planar frames are whole, their chroma strides derived from stride.
		{pixfmt.YUV420P, 6, 4, 7, 6, 7*4 + 2*4*2, 7*4 + 2*4*2, 4},
		{pixfmt.NV12, 6, 4, 7, 6, 7*4 + 8*2, 7*4 + 8*2, 8},
		{pixfmt.NV12, 6, 4, 8, 6, 8*4 + 8*2, 8*4 + 8*2, 8},
		// No frame at all.
		{pixfmt.BGR24, 0, 480, 0, 0, 0, 0, 0},
		{pixfmt.BGR24, 640, 0, 0, 1920, 0, 0, 0},
		{pixfmt.BGR24, 640, 480, 1919, 1920, 0, 0, 0},
		{pixfmt.BGR24, 640, 480, -1, 1920, 0, 0, 0},
		{none, 640, 480, 0, 0, 0, 0, 0},
		{pixfmt.PixelFormat(99), 640, 480, 0, 0, 0, 0, 0},
		// Sizes that do not fit saturate rather than wrap.
		{pixfmt.Gray, 2, math.MaxInt, math.MaxInt, 2, math.MaxInt, math.MaxInt, 0},
		{pixfmt.YUV420P, 2, 2, math.MaxInt, 2, math.MaxInt, math.MaxInt, math.MaxInt/2 + 1},
	} {
		pf, w, h, s := tc.pf, tc.w, tc.h, tc.stride
		if got := pf.MinStride(w); got != tc.minStride {
			t.Errorf("%v.MinStride(%d) = %d, want %d", pf, w, got, tc.minStride)
		}
		if got := pf.MinFrameSize(w, h, s); got != tc.least {
			t.Errorf("%v.MinFrameSize(%d, %d, %d) = %d, want %d", pf, w, h, s, got, tc.least)
		}
		if got := pf.FrameSize(w, h, s); got != tc.most {
			t.Errorf("%v.FrameSize(%d, %d, %d) = %d, want %d", pf, w, h, s, got, tc.most)
		}
		if s == 0 {
			s = pf.MinStride(w)
		}
		if got := pf.ChromaStride(s); got != tc.chroma && tc.most != 0 {
			t.Errorf("%v.ChromaStride(%d) = %d, want %d", pf, s, got, tc.chroma)
		}
	}
}

func TestCheckSizeSaysWhatWasExpected(t *testing.T) {
	for _, tc := range []struct {
		n            int
		pf           pixfmt.PixelFormat
		w, h, stride int
		want         string // "" for no error
	}{
		{921600, pixfmt.BGR24, 640, 480, 0, ""},
		{1000, pixfmt.BGR24, 640, 480, 0, "frame is 1000 bytes, want 921600 for bgr24 640x480"},
		{921601, pixfmt.BGR24, 640, 480, 0, "frame is 921601 bytes, want exactly 921600 for bgr24 640x480"},
		{0, pixfmt.RGBA, 640, 480, 0, "frame is 0 bytes, want 1228800 for rgba 640x480"},
		{921600, pixfmt.BGR24, 640, 480, 2000, "frame is 921600 bytes, want at least 959920 for bgr24 640x480 with stride 2000"},
		{959920, pixfmt.BGR24, 640, 480, 2000, ""},
		{960000, pixfmt.BGR24, 640, 480, 2000, ""},
		{3841, pixfmt.Gray, 64, 48, 80, "frame is 3841 bytes, want at most 3840 for gray 64x48 with stride 80"},
		{307200, pixfmt.NV12, 640, 480, 640, "frame is 307200 bytes, want 460800 for nv12 640x480 with stride 640"},
		{460801, pixfmt.YUV420P, 640, 480, 640, "frame is 460801 bytes, want exactly 460800 for yuv420p 640x480 with stride 640"},
		{921600, pixfmt.BGR24, 640, 480, 1919, "stride 1919 is less than a bgr24 row of 640 pixels (1920 bytes)"},
		{921600, pixfmt.BGR24, 640, 480, -1, "stride -1 is less than a bgr24 row of 640 pixels (1920 bytes)"},
		{0, pixfmt.Gray, 0, 0, 0, "size 0x0: want a positive width and height"},
		{100, pixfmt.PixelFormat(42), 10, 10, 0, "unknown pixel format PixelFormat(42)"},
		{100, 0, 10, 10, 0, "unknown pixel format PixelFormat(0)"},
	} {
		err := pixfmt.CheckSize(tc.n, tc.pf, tc.w, tc.h, tc.stride)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckSize(%d, %v, %d, %d, %d) = %v, want nil", tc.n, tc.pf, tc.w, tc.h, tc.stride, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("CheckSize(%d, %v, %d, %d, %d) = %v, want %q", tc.n, tc.pf, tc.w, tc.h, tc.stride, err, tc.want)
		}
	}
}

// TestCheckSizeTakesExactlyTheRange checks CheckSize against FrameSize and
// MinFrameSize for every format, odd and even sizes and strides.
func TestCheckSizeTakesExactlyTheRange(t *testing.T) {
	for _, pf := range pixfmt.All() {
		for _, sz := range [][2]int{{1, 1}, {7, 5}, {64, 48}} {
			w, h := sz[0], sz[1]
			for _, stride := range []int{0, pf.MinStride(w), pf.MinStride(w) + 1, pf.MinStride(w) + 13} {
				least, most := pf.MinFrameSize(w, h, stride), pf.FrameSize(w, h, stride)
				if least <= 0 || least > most {
					t.Fatalf("%v %dx%d stride %d: sizes %d..%d", pf, w, h, stride, least, most)
				}
				for n := least - 1; n <= most+1; n++ {
					err := pixfmt.CheckSize(n, pf, w, h, stride)
					if in := n >= least && n <= most; in != (err == nil) {
						t.Errorf("%v %dx%d stride %d: CheckSize(%d) = %v, frames are %d..%d bytes", pf, w, h, stride, n, err, least, most)
					}
				}
			}
		}
	}
}

func BenchmarkCheckSize(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := pixfmt.CheckSize(460800, pixfmt.YUV420P, 640, 480, 0); err != nil {
			b.Fatal(err)
		}
	}
}
