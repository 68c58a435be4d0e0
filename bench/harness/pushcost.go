package main

// role-pushcost measures what a push target costs framecast: the CPU of
// this process (the server) with no push, then with N pushes of one
// protocol to real receivers in other processes (ffmpeg as an RTSP server
// and as an SRT listener, nginx-rtmp), at 720p30 by default. It runs by
// itself, not in make bench:
//
//	go run ./bench/harness role-pushcost [-size 1280x720] [-targets 4] [-seconds 10] [-reps 3]
//
// and prints one line per protocol and repeat, then the medians.

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/bench"
)

func rolePushCost(args []string) error {
	fs := flag.NewFlagSet("role-pushcost", flag.ContinueOnError)
	size := fs.String("size", "1280x720", "frame size")
	fps := fs.Float64("fps", 30, "frames per second")
	targets := fs.Int("targets", 4, "push targets of one protocol at once (the cost is divided by it)")
	seconds := fs.Float64("seconds", 10, "length of each measurement")
	reps := fs.Int("reps", 3, "repeats")
	protocols := fs.String("protocols", "rtsp,rtmp,srt", "protocols to measure, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var w, h int
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil {
		return fmt.Errorf("size %q: %w", *size, err)
	}
	window := time.Duration(*seconds * float64(time.Second))
	tmp, err := os.MkdirTemp("", "framecast-pushcost-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	ringFile := filepath.Join(tmp, "ring.bgr")
	if err := bench.WriteRing(ringFile, w, h); err != nil {
		return err
	}
	ring, err := bench.ReadRing(ringFile, w, h)
	if err != nil {
		return err
	}
	// Converted beforehand: the loop costs the encoder and the pushes only.
	if ring, err = toYUV420P(ring, w, h); err != nil {
		return err
	}
	srv, err := framecast.NewServer(framecast.Config{
		RTSPAddress:    "127.0.0.1:0",
		DisableUDP:     true,
		AlwaysEncode:   true,
		StatusInterval: -1,
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	st, err := srv.Publish("/bench", framecast.Format{PixelFormat: framecast.YUV420P, Width: w, Height: h, FPS: *fps})
	if err != nil {
		return err
	}
	defer st.Close()
	stop := make(chan struct{})
	wrote := make(chan error, 1)
	go func() {
		p := newPacer(*fps)
		for n := 0; ; n++ {
			select {
			case <-stop:
				wrote <- nil
				return
			default:
			}
			p.wait(n)
			if err := st.WriteFrame(ring[n%len(ring)]); err != nil {
				wrote <- err
				return
			}
		}
	}()
	defer func() {
		close(stop)
		<-wrote
	}()

	measure := func() float64 {
		c0, t0 := selfCPU(), time.Now()
		time.Sleep(window)
		return 100 * float64(selfCPU()-c0) / float64(time.Since(t0))
	}
	time.Sleep(2 * time.Second) // the encoder settles
	per := map[string][]float64{}
	names := strings.Split(*protocols, ",")
	for rep := range *reps {
		for _, proto := range names {
			base := measure()
			cleanup, urls, err := startPushReceivers(tmp, proto, *targets)
			if err != nil {
				return fmt.Errorf("%s receivers: %w", proto, err)
			}
			var pts []*framecast.PushTarget
			for _, u := range urls {
				pt, err := srv.Push("/bench", u)
				if err != nil {
					cleanup()
					return err
				}
				pts = append(pts, pt)
			}
			err = waitConnected(pts, 20*time.Second)
			if err == nil {
				time.Sleep(2 * time.Second) // warm up
				with := measure()
				var sent, dropped uint64
				for _, pt := range pts {
					s := pt.Stats()
					sent += s.FramesSent
					dropped += s.Dropped
				}
				cost := (with - base) / float64(*targets)
				per[proto] = append(per[proto], cost)
				fmt.Printf("PUSHCOST rep=%d protocol=%s targets=%d base=%.2f%% with=%.2f%% per_target=%.2f%% of a core (sent %d, dropped %d)\n",
					rep+1, proto, *targets, base, with, cost, sent, dropped)
			}
			for _, pt := range pts {
				pt.Close()
			}
			cleanup()
			if err != nil {
				return fmt.Errorf("%s: %w", proto, err)
			}
		}
	}
	for _, proto := range names {
		c := per[proto]
		slices.Sort(c)
		if len(c) > 0 {
			fmt.Printf("PUSHCOST median protocol=%s per_target=%.2f%% of a core at %s %gfps (%d repeats)\n", proto, c[len(c)/2], *size, *fps, len(c))
		}
	}
	return nil
}

func waitConnected(pts []*framecast.PushTarget, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		all := true
		for _, pt := range pts {
			all = all && pt.Stats().Connected
		}
		if all {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("pushes not all connected")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startPushReceivers starts n receivers of proto on 127.0.0.1 and returns
// the push URLs and a function that stops them.
func startPushReceivers(tmp, proto string, n int) (cleanup func(), urls []string, err error) {
	var cmds []*exec.Cmd
	cleanup = func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	}
	start := func(name string, args ...string) error {
		c := exec.Command(name, args...)
		if err := c.Start(); err != nil {
			return err
		}
		cmds = append(cmds, c)
		return nil
	}
	switch proto {
	case "rtsp":
		for range n {
			addr, err := freeAddr("tcp")
			if err != nil {
				return cleanup, nil, err
			}
			if err := start("ffmpeg", "-nostdin", "-v", "error", "-rtsp_flags", "listen", "-i", "rtsp://"+addr+"/cam",
				"-c", "copy", "-f", "null", "-"); err != nil {
				return cleanup, nil, err
			}
			urls = append(urls, "rtsp://"+addr+"/cam")
		}
		time.Sleep(500 * time.Millisecond) // ffmpeg listening; the pushes retry anyway
	case "srt":
		for range n {
			addr, err := freeAddr("udp")
			if err != nil {
				return cleanup, nil, err
			}
			if err := start("ffmpeg", "-nostdin", "-v", "error", "-i", "srt://"+addr+"?mode=listener",
				"-c", "copy", "-f", "null", "-"); err != nil {
				return cleanup, nil, err
			}
			urls = append(urls, "srt://"+addr)
		}
		time.Sleep(500 * time.Millisecond)
	case "rtmp":
		addr, err := freeAddr("tcp")
		if err != nil {
			return cleanup, nil, err
		}
		dir := filepath.Join(tmp, "nginx")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return cleanup, nil, err
		}
		conf := fmt.Sprintf("load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\ndaemon off;\nmaster_process off;\n"+
			"error_log %s/error.log;\npid %s/nginx.pid;\nevents {}\nrtmp { server { listen %s; application live { live on; } } }\n", dir, dir, addr)
		if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
			return cleanup, nil, err
		}
		if err := start("nginx", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log")); err != nil {
			return cleanup, nil, err
		}
		for i := range n {
			urls = append(urls, fmt.Sprintf("rtmp://%s/live/cam%d", addr, i))
		}
	default:
		return cleanup, nil, fmt.Errorf("unknown protocol %q (want rtsp, rtmp or srt)", proto)
	}
	return cleanup, urls, nil
}

func freeAddr(network string) (string, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.LocalAddr().String(), nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
