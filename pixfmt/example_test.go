package pixfmt_test

import (
	"fmt"

	"github.com/framecast/framecast/pixfmt"
)

func Example() {
	var pf pixfmt.PixelFormat
	if err := pf.UnmarshalText([]byte("bgr24")); err != nil { // e.g. from a flag or a config file
		fmt.Println(err)
		return
	}
	frame := make([]byte, pf.FrameSize(640, 480, 0))
	fmt.Println(pf, len(frame), "bytes, rows of", pf.MinStride(640))
	fmt.Println(pixfmt.CheckSize(len(frame), pf, 640, 480, 0))
	fmt.Println(pixfmt.CheckSize(1000, pf, 640, 480, 0))
	fmt.Println(pf.UnmarshalText([]byte("bgr")))
	// Output:
	// bgr24 921600 bytes, rows of 1920
	// <nil>
	// frame is 1000 bytes, want 921600 for bgr24 640x480
	// unknown pixel format "bgr" (want one of bgr24, rgb24, bgra, rgba, gray, yuv420p, nv12, yuyv422)
}

// Rows padded to a multiple of 64 bytes, as a camera or a GPU may deliver
// them: the stride says where each row starts.
func ExamplePixelFormat_FrameSize() {
	const w, h = 1000, 2
	stride := (pixfmt.NV12.MinStride(w) + 63) &^ 63
	fmt.Println(stride, pixfmt.NV12.ChromaStride(stride), pixfmt.NV12.FrameSize(w, h, stride))
	// Output: 1024 1024 3072
}
