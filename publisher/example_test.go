package publisher_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/pixfmt"
	"github.com/framecast/framecast/publisher"
)

// startServer starts what `framecast serve --ingest tcp://127.0.0.1:0` runs,
// on free ports, and returns its ingest address.
func startServer() (*framecast.Server, string) {
	srv, err := framecast.NewServer(framecast.Config{RTSPAddress: "127.0.0.1:0", DisableUDP: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	addr, err := srv.ListenIngest("tcp://127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	return srv, "tcp://" + addr.String()
}

// A program in another process publishes 640x480 bgr24 frames on /cam;
// viewers play rtsp://HOST:8554/cam.
func Example() {
	srv, address := startServer()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := publisher.Format{PixelFormat: pixfmt.BGR24, Width: 640, Height: 480, FPS: 30}
	pub, err := publisher.Dial(ctx, address, "/cam", f)
	if err != nil {
		log.Fatal(err)
	}
	frame := make([]byte, f.FrameSize()) // 921600 bytes: OpenCV's frame.tobytes()
	for i := range 30 {
		for p := 2; p < len(frame); p += 3 {
			frame[p] = byte(i * 8) // red rises frame by frame
		}
		if err := pub.WriteFrame(frame); err != nil {
			log.Fatal(err)
		}
	}
	// Close returns once the server has taken every frame.
	if err := pub.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("published 30 frames on", pub.Path())
	// Output: published 30 frames on /cam
}

// The server refuses a frame of the wrong size and the stream goes on. Its
// error arrives after the frame was sent, so a later WriteFrame, or Close,
// returns it.
func Example_wrongSize() {
	srv, address := startServer()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := publisher.Dial(ctx, address, "/cam",
		publisher.Format{PixelFormat: pixfmt.BGR24, Width: 640, Height: 480})
	if err != nil {
		log.Fatal(err)
	}
	if err := pub.WriteFrame(make([]byte, 1000)); err != nil {
		log.Fatal(err) // not this one: the frame was sent
	}
	err = pub.Close()
	var e *publisher.Error
	if errors.As(err, &e) && e.Code == publisher.CodeFrameSize {
		fmt.Println(e.Code, "-", e.Message)
	}
	// Output: frame-size - frame is 1000 bytes, want 921600 for bgr24 640x480
}

// Frames carry the producer's capture time: viewers see them at the
// distance their timestamps say, whatever the delays on the way.
func ExamplePublisher_WriteFrameAt() {
	srv, address := startServer()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := publisher.Format{PixelFormat: pixfmt.Gray, Width: 320, Height: 240, FPS: 10}
	pub, err := publisher.Dial(ctx, address, "/camera", f)
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()
	frame := make([]byte, f.FrameSize())
	for i := range 10 {
		captured := time.Duration(i) * 100 * time.Millisecond // from the camera's clock
		if err := pub.WriteFrameAt(frame, captured); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("ok")
	// Output: ok
}

// A second producer on a path is refused with the first one's address.
func ExampleDial_pathInUse() {
	srv, address := startServer()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := publisher.Format{PixelFormat: pixfmt.Gray, Width: 320, Height: 240}
	first, err := publisher.Dial(ctx, address, "/cam", f)
	if err != nil {
		log.Fatal(err)
	}
	defer first.Close()
	_, err = publisher.Dial(ctx, address, "/cam", f)
	var e *publisher.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Message == fmt.Sprintf("path /cam already has a producer (from %s)", first.LocalAddr()))
	}
	// Output: path-in-use true
}

// SetFormat changes the frames mid-stream, here their size; viewers get the
// new SPS and PPS in-band.
func ExamplePublisher_SetFormat() {
	srv, address := startServer()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	small := publisher.Format{PixelFormat: pixfmt.BGR24, Width: 320, Height: 240, FPS: 30}
	pub, err := publisher.Dial(ctx, address, "/cam", small)
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()
	pub.WriteFrame(make([]byte, small.FrameSize()))
	large := small
	large.Width, large.Height = 1280, 720
	large.Encoder = &publisher.EncoderConfig{BitrateKbps: 3000}
	if err := pub.SetFormat(large); err != nil {
		log.Fatal(err)
	}
	fmt.Println(pub.WriteFrame(make([]byte, large.FrameSize())))
	// Output: <nil>
}
