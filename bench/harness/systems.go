package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

// The systems under test.
const (
	sysX264        = "x264"              // libx264 alone on pre-converted I420: the ceiling
	sysGoAPI       = "fc-go-api"         // framecast, frames written through the Go API in the server's process
	sysPyIngest    = "fc-py-ingest"      // framecast, frames sent by framecast.Publisher (Python) through the socket ingest
	sysGoIngest    = "fc-go-ingest"      // framecast, frames sent by the Go publisher package through the socket ingest
	sysSeed        = "seed"              // Python + gst-rtsp-server, the seed recipe
	sysSeedIDR     = "seed-idr"          // the seed recipe forcing an IDR when a viewer plays
	sysGoAPIAllIDR = "fc-go-api-all-idr" // framecast with every frame an IDR: the viewer's floor for a join
	sysGoAPII420   = "fc-go-api-yuv420p" // framecast, Go API, frames already in yuv420p: no conversion
	sysPyShmWrite  = "fc-py-shm-write"   // framecast, Python over the shared-memory ring, write(): one copy
	sysPyShmFrame  = "fc-py-shm-frame"   // framecast, Python over the shared-memory ring, frame()/commit(): stamped in the slot, no copy
	sysGoShm       = "fc-go-shm"         // framecast, the Go publisher package over the shared-memory ring, WriteFrame: one copy
)

// pyShmModes are fc_publish.py's --shm for the Python producers.
var pyShmModes = map[string]string{sysPyIngest: "off", sysPyShmWrite: "write", sysPyShmFrame: "frame"}

// systemNames are how tables name the systems.
var systemNames = map[string]string{
	sysX264:        "libx264 alone (x264 ceiling)",
	sysGoAPI:       "framecast, Go API",
	sysPyIngest:    "framecast, socket ingest from Python",
	sysGoIngest:    "framecast, socket ingest from Go",
	sysSeed:        "seed recipe (Python + gst-rtsp-server)",
	sysSeedIDR:     "seed recipe + IDR forced on PLAY",
	sysGoAPIAllIDR: "framecast, every frame an IDR (the viewer's floor)",
	sysGoAPII420:   "framecast, Go API, frames already yuv420p (no conversion)",
	sysPyShmWrite:  "framecast, shared memory from Python, write() (one copy)",
	sysPyShmFrame:  "framecast, shared memory from Python, frame()/commit() (zero copy: stamped in the slot)",
	sysGoShm:       "framecast, shared memory from Go (publisher), WriteFrame (one copy)",
}

type size struct{ W, H int }

func (s size) String() string { return fmt.Sprintf("%dx%d", s.W, s.H) }

// label is the usual name of a size: 480p, 720p, 1080p.
func (s size) label() string { return strconv.Itoa(s.H) + "p" }

// bitrate is framecast's automatic bitrate at 30 fps, used by every system.
func (s size) bitrate() int { return max(100, int(float64(s.W*s.H)*30*0.07/1000)) }

var (
	size480  = size{640, 480}
	size720  = size{1280, 720}
	size1080 = size{1920, 1080}
	size2160 = size{3840, 2160}
)

// gop is the IDR interval of every system: 2 s at 30 fps.
const gop = 60

// running is a system serving one stream.
type running struct {
	url   string
	procs []*proc // servers first, then producers
}

// pids are the processes whose CPU counts as the system's.
func (r *running) pids() []int {
	var out []int
	for _, p := range r.procs {
		out = append(out, p.pid())
	}
	return out
}

// serverPID is the process that serves RTSP.
func (r *running) serverPID() int { return r.procs[0].pid() }

func (r *running) stop() map[string]string {
	stats := map[string]string{}
	for i := len(r.procs) - 1; i >= 0; i-- {
		if s := r.procs[i].stop(); s != "" {
			stats[r.procs[i].name] = s
		}
	}
	return stats
}

// startSystem starts sys serving frames of sz at rate frames per second (0:
// as fast as it takes them). block makes framecast's writes wait for the
// encoder rather than drop (throughput runs). It returns once the stream is
// playable.
func (e *env) startSystem(sys string, sz size, rate float64, block bool) (*running, error) {
	return e.startSystemWith(sys, sz, rate, sysOptions{block: block})
}

// sysOptions are startSystemWith's settings beyond the rate.
type sysOptions struct {
	block bool // framecast's writes wait for the encoder rather than drop
	// idle runs framecast as it is by default, converting and encoding
	// nothing while nobody watches (the harness's framecast otherwise
	// always encodes): what ingest costs alone.
	idle bool
	// mmapRing has a Python producer map its ring file rather than read it
	// (the 4K ring is 750 MB).
	mmapRing bool
}

// startSystemWith is startSystem with more settings.
func (e *env) startSystemWith(sys string, sz size, rate float64, o sysOptions) (*running, error) {
	block := o.block
	ring, err := e.ring(sz)
	if err != nil {
		return nil, err
	}
	common := []string{"-size", sz.String(), "-ring", ring, "-rate", fmtRate(rate),
		"-bitrate", strconv.Itoa(sz.bitrate()), "-gop", strconv.Itoa(gop)}
	r := &running{}
	fail := func(err error) (*running, error) {
		r.stop()
		return nil, err
	}
	switch sys {
	case sysGoAPI, sysGoAPIAllIDR, sysGoAPII420:
		args := append([]string{e.self, "role-framecast", "-api", fmt.Sprintf("-block=%v", block),
			fmt.Sprintf("-always-encode=%v", !o.idle)}, common...)
		switch sys {
		case sysGoAPIAllIDR:
			args = append(args, "-gop", "1") // the last -gop wins
		case sysGoAPII420:
			args = append(args, "-yuv420p")
		}
		p, err := startProc(sys, args, nil)
		if err != nil {
			return fail(err)
		}
		r.procs = append(r.procs, p)
		if r.url, err = p.expect("RTSP ", 10*time.Second); err != nil {
			return fail(err)
		}
		if _, err := p.expect("PUBLISHING", 10*time.Second); err != nil {
			return fail(err)
		}
	case sysPyIngest, sysGoIngest, sysPyShmWrite, sysPyShmFrame, sysGoShm:
		e.nsock++
		sock := "unix://" + filepath.Join(e.tmp, fmt.Sprintf("ingest-%d.sock", e.nsock))
		p, err := startProc("framecast", []string{e.self, "role-framecast", "-ingest", sock,
			fmt.Sprintf("-block=%v", block), fmt.Sprintf("-always-encode=%v", !o.idle),
			"-bitrate", strconv.Itoa(sz.bitrate()), "-gop", strconv.Itoa(gop)}, nil)
		if err != nil {
			return fail(err)
		}
		r.procs = append(r.procs, p)
		if r.url, err = p.expect("RTSP ", 10*time.Second); err != nil {
			return fail(err)
		}
		if _, err := p.expect("INGEST ", 10*time.Second); err != nil {
			return fail(err)
		}
		var argv []string
		if mode, ok := pyShmModes[sys]; ok {
			argv = []string{e.python, filepath.Join(e.root, "bench", "python", "fc_publish.py"),
				"--address", sock, "--ring", ring, "--size", sz.String(), "--fps", fmtRate(rate),
				"--bitrate", strconv.Itoa(sz.bitrate()), "--gop", strconv.Itoa(gop)}
			if mode != "off" {
				argv = append(argv, "--shm", mode)
			}
			if o.mmapRing {
				argv = append(argv, "--ring-mmap")
			}
		} else {
			argv = append([]string{e.self, "role-gopub", "-address", sock}, common...)
			if sys == sysGoShm {
				argv = append(argv, "-shm")
			}
		}
		prod, err := startProc("producer", argv, nil)
		if err != nil {
			return fail(err)
		}
		r.procs = append(r.procs, prod)
		if _, err := prod.expect("PUBLISHING", 20*time.Second); err != nil {
			return fail(err)
		}
	case sysSeed, sysSeedIDR:
		argv := []string{e.python, filepath.Join(e.root, "bench", "seed", "seed_server.py"),
			"--ring", ring, "--size", sz.String(), "--fps", fmtRate(rate),
			"--bitrate", strconv.Itoa(sz.bitrate()), "--gop", strconv.Itoa(gop), "--path", "/bench"}
		if sys == sysSeedIDR {
			argv = append(argv, "--idr-on-play")
		}
		p, err := startProc(sys, argv, nil)
		if err != nil {
			return fail(err)
		}
		r.procs = append(r.procs, p)
		port, err := p.expect("PORT ", 20*time.Second)
		if err != nil {
			return fail(err)
		}
		r.url = "rtsp://127.0.0.1:" + port + "/bench"
	default:
		return nil, fmt.Errorf("unknown system %q", sys)
	}
	return r, nil
}

func fmtRate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) }
