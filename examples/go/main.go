// Command example publishes frames drawn in Go as a live RTSP stream.
//
//	go run ./examples/go
//	ffplay -rtsp_transport tcp rtsp://127.0.0.1:8554/cam
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/framecast/framecast"
)

func main() {
	addr := flag.String("rtsp", ":8554", "RTSP listen address")
	frames := flag.Int("frames", 0, "stop after this many frames (0: run until Ctrl-C)")
	flag.Parse()

	srv, err := framecast.NewServer(framecast.Config{RTSPAddress: *addr})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	const w, h, fps = 640, 480, 30
	st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: fps})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	fmt.Printf("watch: ffplay -rtsp_transport tcp rtsp://%s/cam\n", srv.Addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	tick := time.NewTicker(time.Second / fps)
	defer tick.Stop()
	frame := make([]byte, w*h*3) // B, G, R bytes, as OpenCV lays them out
	for n := 0; *frames == 0 || n < *frames; n++ {
		// A diagonal gradient that scrolls one pixel a frame.
		for y := range h {
			for x := range w {
				p := (y*w + x) * 3
				frame[p], frame[p+1], frame[p+2] = byte(x+n), byte(y), byte(x+y-n)
			}
		}
		if err := st.WriteFrame(frame); err != nil {
			log.Fatal(err)
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}
