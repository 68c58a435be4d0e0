// Command framecast publishes frames made by a program as live H.264 RTSP
// streams. See "framecast serve --help".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/framecast/framecast/internal/gcpercent"
)

const usage = `framecast publishes frames made by a program as live H.264 RTSP streams.

Usage:
  framecast serve [flags]    run the RTSP server (see "framecast serve --help")
  framecast help             show this help
  framecast --version        print "framecast VERSION"

Examples:
  framecast serve --testsrc /test
      serve a moving test pattern at rtsp://127.0.0.1:8554/test
  ffmpeg -re -f lavfi -i testsrc2=size=640x480:rate=30 -f rawvideo -pix_fmt bgr24 - | \
    framecast serve --stdin /cam --size 640x480 --fps 30 --pix-fmt bgr24
      serve raw frames read from standard input at rtsp://127.0.0.1:8554/cam
`

// version is what --version prints. Builds through the Makefile set it with
// -ldflags "-X main.version=…" from the Python package's __version__
// (clients/python/framecast/__init__.py), the one place the version is kept.
var version = "dev"

func main() {
	gcpercent.Apply() // a server's heap is its viewers': see internal/gcpercent and serve --help
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "framecast %s\n", version)
		return 0
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := serve(ctx, args[1:], stdin, stdout, stderr)
		if errors.Is(err, errHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "framecast serve: %v\n", err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(stderr, "framecast: unknown command %q (want serve, help or version)\n", args[0])
		return 2
	}
}
