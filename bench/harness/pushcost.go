package main

// role-pushcost measures what a push target costs framecast: the CPU of
// this process (the server) with no push, then with N pushes of one
// protocol to real receivers in other processes (ffmpeg as an RTSP server
// and as an SRT listener, nginx-rtmp), at 720p30 by default. make bench
// runs it with short settings (see env.pushCost); by hand:
//
//	go run ./bench/harness role-pushcost [-size 1280x720] [-targets 4] [-seconds 10] [-reps 3]
//
// It prints one line per protocol and repeat, then the medians. A protocol
// whose receiver is not installed is skipped, one that fails is reported,
// and the others are measured all the same:
//
//	PUSHCOST rep=1 protocol=rtsp targets=2 base=16.01% with=17.92% per_target=0.96% of a core (sent 422, dropped 0)
//	PUSHCOST skipped protocol=rtmp reason="..."
//	PUSHCOST failed rep=1 protocol=srt error="..."
//	PUSHCOST median protocol=rtsp per_target=0.96% of a core at 1280x720 30fps (1 repeats)

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/bench"
)

// nginxRTMPModule is the nginx module the RTMP receiver loads (Debian's
// libnginx-mod-rtmp).
const nginxRTMPModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

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
	if *targets < 1 {
		return fmt.Errorf("-targets %d: want at least 1", *targets)
	}
	var names []string
	for _, proto := range strings.Split(*protocols, ",") {
		why, err := receiverMissing(proto)
		if err != nil {
			return err
		}
		if why != "" {
			fmt.Printf("PUSHCOST skipped protocol=%s reason=%q\n", proto, why)
			continue
		}
		names = append(names, proto)
	}
	if len(names) == 0 {
		return nil
	}
	window := time.Duration(*seconds * float64(time.Second))
	ctx, cancel := untilSignal()
	defer cancel()
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

	// measure is the CPU this process uses over the window, in % of a core.
	measure := func() (float64, error) {
		c0, t0 := selfCPU(), time.Now()
		if err := sleepCtx(ctx, window); err != nil {
			return 0, err
		}
		return 100 * float64(selfCPU()-c0) / float64(time.Since(t0)), nil
	}
	if err := sleepCtx(ctx, 2*time.Second); err != nil { // the encoder settles
		return err
	}
	per := map[string][]float64{}
	var failed []error
	for rep := range *reps {
		for _, proto := range names {
			err := pushCostOnce(ctx, srv, tmp, proto, rep+1, *targets, measure, per)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				fmt.Printf("PUSHCOST failed rep=%d protocol=%s error=%q\n", rep+1, proto, err.Error())
				failed = append(failed, fmt.Errorf("%s, repeat %d: %w", proto, rep+1, err))
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
	return errors.Join(failed...)
}

// pushCostOnce measures one repeat of proto: the CPU with no push, then
// with targets pushes to receivers of their own; it prints the PUSHCOST
// line and adds the cost per target to per.
func pushCostOnce(ctx context.Context, srv *framecast.Server, tmp, proto string, rep, targets int,
	measure func() (float64, error), per map[string][]float64) error {
	base, err := measure()
	if err != nil {
		return err
	}
	cleanup, urls, err := startPushReceivers(tmp, proto, targets)
	defer cleanup()
	if err != nil {
		return fmt.Errorf("receivers: %w", err)
	}
	var pts []*framecast.PushTarget
	defer func() {
		for _, pt := range pts {
			pt.Close()
		}
	}()
	for _, u := range urls {
		pt, err := srv.Push("/bench", u)
		if err != nil {
			return err
		}
		pts = append(pts, pt)
	}
	if err := waitConnected(ctx, pts, 20*time.Second); err != nil {
		return err
	}
	if err := sleepCtx(ctx, 2*time.Second); err != nil { // warm up
		return err
	}
	with, err := measure()
	if err != nil {
		return err
	}
	var sent, dropped uint64
	for _, pt := range pts {
		s := pt.Stats()
		sent += s.FramesSent
		dropped += s.Dropped
	}
	cost := (with - base) / float64(targets)
	per[proto] = append(per[proto], cost)
	fmt.Printf("PUSHCOST rep=%d protocol=%s targets=%d base=%.2f%% with=%.2f%% per_target=%.2f%% of a core (sent %d, dropped %d)\n",
		rep, proto, targets, base, with, cost, sent, dropped)
	return nil
}

// receiverMissing says why proto's receiver cannot run on this machine, or
// "" if it can. The error is for a protocol it does not know.
func receiverMissing(proto string) (string, error) {
	switch proto {
	case "rtsp", "srt":
		if _, err := exec.LookPath("ffmpeg"); err != nil {
			return "ffmpeg is not installed (make deps installs it)", nil
		}
		if proto == "srt" && !ffmpegReadsSRT() {
			return "this ffmpeg reads no SRT (it was built without libsrt)", nil
		}
	case "rtmp":
		if _, err := exec.LookPath("nginx"); err != nil {
			return "nginx is not installed (make deps installs nginx and libnginx-mod-rtmp)", nil
		}
		if _, err := os.Stat(nginxRTMPModule); err != nil {
			return "nginx's RTMP module " + nginxRTMPModule + " is not installed (make deps installs libnginx-mod-rtmp)", nil
		}
	default:
		return "", fmt.Errorf("unknown protocol %q (want rtsp, rtmp or srt)", proto)
	}
	return "", nil
}

// ffmpegReadsSRT reports whether ffmpeg -protocols lists srt as an input.
func ffmpegReadsSRT() bool {
	out, err := exec.Command("ffmpeg", "-hide_banner", "-protocols").Output()
	if err != nil {
		return false
	}
	input := false
	for line := range strings.Lines(string(out)) {
		switch line = strings.TrimSpace(line); line {
		case "Input:":
			input = true
		case "Output:":
			input = false
		case "srt":
			if input {
				return true
			}
		}
	}
	return false
}

// sleepCtx sleeps for d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitConnected waits until every push of pts is connected.
func waitConnected(ctx context.Context, pts []*framecast.PushTarget, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil {
		n := 0
		for _, pt := range pts {
			if pt.Stats().Connected {
				n++
			}
		}
		if n == len(pts) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d pushes connected within %v", n, len(pts), timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ctx.Err()
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

// pushProtocols are the push protocols make bench measures, each to its
// own kind of receiver.
var pushProtocols = []string{"rtsp", "rtmp", "srt"}

// pushReceivers are how tables name the receivers of each protocol.
var pushReceivers = map[string]string{
	"rtsp": "ffmpeg as an RTSP server (-rtsp_flags listen)",
	"rtmp": "nginx-rtmp",
	"srt":  "ffmpeg as an SRT listener",
}

// pushSample is one line of role-pushcost: what a protocol's push targets
// cost the server in one repeat, or why the protocol was skipped or failed.
type pushSample struct {
	Protocol  string  `json:"protocol"`
	Rep       int     `json:"rep,omitempty"`     // from 1
	Targets   int     `json:"targets,omitempty"` // pushes at once
	Base      float64 `json:"base_pct"`          // the server's CPU with no push, in % of a core
	With      float64 `json:"with_pct"`          // the same with Targets pushes
	PerTarget float64 `json:"per_target_pct"`    // (With - Base) / Targets
	Sent      uint64  `json:"frames_sent"`       // by the pushes, in all
	Dropped   uint64  `json:"dropped"`           // by the pushes' queues
	Skipped   string  `json:"skipped,omitempty"` // why not measured: its receiver is missing
	Error     string  `json:"error,omitempty"`   // why the repeat failed
}

// pushCost runs role-pushcost with the plan's short settings at 720p30 and
// returns its lines. A protocol whose receiver is missing comes back
// skipped, not as an error.
func (e *env) pushCost() ([]pushSample, error) {
	argv := []string{e.self, "role-pushcost", "-size", size720.String(), "-fps", "30",
		"-targets", strconv.Itoa(e.plan.PushTargets), "-seconds", secs(e.plan.PushMeasure),
		"-reps", strconv.Itoa(e.plan.PushReps), "-protocols", strings.Join(pushProtocols, ",")}
	e.logf("push cost: %s", strings.Join(argv[1:], " "))
	p, err := startProc("role-pushcost", argv, nil)
	if err != nil {
		return nil, err
	}
	// Each protocol and repeat: two windows, the receivers, up to 20 s for
	// the pushes to connect and 2 s of warm-up.
	timeout := time.Minute + time.Duration(e.plan.PushReps*len(pushProtocols))*(2*e.plan.PushMeasure+30*time.Second)
	var out []pushSample
	var bad []error
	err = p.collect(timeout, func(line string) {
		s, ok, err := parsePushCost(line)
		if err != nil {
			bad = append(bad, err)
			return
		}
		if !ok {
			return
		}
		switch {
		case s.Skipped != "":
			e.logf("push cost %-4s skipped: %s", s.Protocol, s.Skipped)
		case s.Error != "":
			e.logf("push cost %-4s rep %d failed: %s", s.Protocol, s.Rep, s.Error)
		default:
			e.logf("push cost %-4s rep %d: %+.2f %% of a core per target (%d targets, %.2f → %.2f %%; %d frames sent, %d dropped)",
				s.Protocol, s.Rep, s.PerTarget, s.Targets, s.Base, s.With, s.Sent, s.Dropped)
		}
		out = append(out, s)
	})
	return out, errors.Join(append(bad, err)...)
}

// parsePushCost reads a line of role-pushcost's output. ok is false for
// the lines the harness does not keep (its medians, anything else).
func parsePushCost(line string) (s pushSample, ok bool, err error) {
	rest, found := strings.CutPrefix(line, "PUSHCOST ")
	if !found {
		return s, false, nil
	}
	word, _, _ := strings.Cut(rest, " ")
	if word == "median" {
		return s, false, nil
	}
	f, err := parseFields(rest)
	if err != nil {
		return s, false, fmt.Errorf("PUSHCOST line %q: %w", line, err)
	}
	s.Protocol = f["protocol"]
	if s.Protocol == "" {
		return s, false, fmt.Errorf("PUSHCOST line %q: no protocol", line)
	}
	var errs []error
	switch word {
	case "skipped":
		s.Skipped = f["reason"]
		if s.Skipped == "" {
			s.Skipped = "no reason given"
		}
	case "failed":
		s.Rep = f.integer("rep", &errs)
		s.Error = f["error"]
		if s.Error == "" {
			s.Error = "no error given"
		}
	default:
		s.Rep = f.integer("rep", &errs)
		s.Targets = f.integer("targets", &errs)
		s.Base = f.num("base", &errs)
		s.With = f.num("with", &errs)
		s.PerTarget = f.num("per_target", &errs)
		_, counts, _ := strings.Cut(rest, "(sent ")
		if _, err := fmt.Sscanf(counts, "%d, dropped %d)", &s.Sent, &s.Dropped); err != nil {
			errs = append(errs, fmt.Errorf("(sent N, dropped N): %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return s, false, fmt.Errorf("PUSHCOST line %q: %w", line, err)
	}
	return s, true, nil
}
