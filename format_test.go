package framecast_test

import (
	"errors"
	"testing"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/pixfmt"
	"github.com/framecast/framecast/publisher"
)

func TestPixelFormatIsPixfmts(t *testing.T) {
	var pf pixfmt.PixelFormat = framecast.NV12 // an alias: no conversion
	if pf != pixfmt.NV12 {
		t.Errorf("framecast.NV12 is %v", pf)
	}
	for _, want := range pixfmt.All() {
		got, err := framecast.ParsePixelFormat(want.String())
		if err != nil || got != want {
			t.Errorf("ParsePixelFormat(%q) = %v, %v", want.String(), got, err)
		}
	}
	if _, err := framecast.ParsePixelFormat("bgr"); !errors.Is(err, pixfmt.ErrUnknown) ||
		err.Error() != `unknown pixel format "bgr" (want one of bgr24, rgb24, bgra, rgba, gray, yuv420p, nv12, yuyv422)` {
		t.Errorf("ParsePixelFormat(\"bgr\") error = %v", err)
	}
}

func TestFormatFrameSizeFollowsTheStride(t *testing.T) {
	for _, tc := range []struct {
		f    framecast.Format
		want int
	}{
		{framecast.Format{PixelFormat: framecast.BGR24, Width: 640, Height: 480}, 921600},
		{framecast.Format{PixelFormat: framecast.BGR24, Width: 640, Height: 480, Stride: 2048}, 2048 * 480},
		{framecast.Format{PixelFormat: framecast.NV12, Width: 640, Height: 480, Stride: 1024}, 1024*480 + 1024*240},
		{framecast.Format{PixelFormat: 99, Width: 640, Height: 480}, 0},
	} {
		if got := tc.f.FrameSize(); got != tc.want {
			t.Errorf("%+v: FrameSize() = %d, want %d", tc.f, got, tc.want)
		}
		if got := publisherFormat(tc.f).FrameSize(); got != tc.want {
			t.Errorf("%+v: publisher.Format's FrameSize() = %d, want %d", tc.f, got, tc.want)
		}
	}
}

// publisherFormat is what a producer sends to publish frames of f.
func publisherFormat(f framecast.Format) publisher.Format {
	return publisher.Format{
		PixelFormat: f.PixelFormat, Width: f.Width, Height: f.Height, Stride: f.Stride, FPS: f.FPS,
		Encoder: (*publisher.EncoderConfig)(f.Encoder),
	}
}
