package framecast_test

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"log"
	"log/slog"

	"github.com/framecast/framecast"
)

// A program publishes its frames on /cam; viewers play
// rtsp://127.0.0.1:PORT/cam with ffplay, VLC, GStreamer or OpenCV.
func Example() {
	srv, err := framecast.NewServer(framecast.Config{
		RTSPAddress: "127.0.0.1:0", // a free port; the default is :8554
		DisableUDP:  true,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	st, err := srv.Publish("/cam", framecast.Format{
		PixelFormat: framecast.BGR24, // OpenCV's layout
		Width:       320,
		Height:      240,
		FPS:         30,
	})
	if err != nil {
		log.Fatal(err)
	}
	frame := make([]byte, 320*240*3)
	for i := range 30 {
		for p := 0; p < len(frame); p += 3 {
			frame[p] = byte(i * 8) // blue rises frame by frame
		}
		if err := st.WriteFrame(frame); err != nil {
			log.Fatal(err)
		}
	}
	st.Close()
	// Nobody was watching, so nothing was encoded: a stream encodes only
	// while it has viewers (see Config.AlwaysEncode).
	s := st.Stats()
	fmt.Println("frames in:", s.FramesIn, "skipped:", s.Skipped)
	// Output: frames in: 30 skipped: 30
}

// A frame of the wrong size is refused with an error that names both sizes;
// the stream goes on.
func ExampleStream_WriteFrame_wrongSize() {
	srv, err := framecast.NewServer(framecast.Config{RTSPAddress: "127.0.0.1:0", DisableUDP: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.BGR24, Width: 640, Height: 480})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	fmt.Println(st.WriteFrame(make([]byte, 1000)))
	fmt.Println(st.WriteFrame(make([]byte, 640*480*3)))
	// Output:
	// write /cam: frame is 1000 bytes, want 921600 for bgr24 640x480
	// <nil>
}

// Images from the image package go in as they are.
func ExampleStream_WriteImage() {
	srv, err := framecast.NewServer(framecast.Config{RTSPAddress: "127.0.0.1:0", DisableUDP: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	st, err := srv.Publish("/drawing", framecast.Format{PixelFormat: framecast.RGBA, Width: 64, Height: 48})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	img.Set(10, 10, color.RGBA{R: 255, A: 255})
	fmt.Println(st.WriteImage(img))
	// Output: <nil>
}
