package main

import (
	"fmt"
	"time"
)

// joinSample is the time from starting a viewer to its first good decoded
// frame, for a viewer joining a stream that has been running (720p30, GOP
// 2 s, another viewer already playing).
type joinSample struct {
	System string  `json:"system"`
	Viewer string  `json:"viewer"`
	Rep    int     `json:"rep"`
	MS     float64 `json:"ms"`
	Broken int     `json:"broken"` // broken pictures the viewer output before
}

var joinSystems = []string{sysGoAPI, sysSeed, sysSeedIDR, sysGoAPIAllIDR}

// joinViewers are the joiners: ffmpeg with fast start (the main figure),
// ffmpeg with the benchmark's -fflags nobuffer as well, and GStreamer's
// rtspsrc with latency=0 (gst-launch's, playbin's and OpenCV's GStreamer
// backend's source).
var joinViewers = []string{viewerFFmpegBuffered, viewerFFmpeg, viewerGStreamer}

func (e *env) lateJoin() ([]joinSample, error) {
	var out []joinSample
	ref, err := e.reference(size720)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{
		viewerFFmpegBuffered: (e.plan.Joins + e.plan.Reps - 1) / e.plan.Reps,
		viewerFFmpeg:         (e.plan.JoinsNobuffer + e.plan.Reps - 1) / e.plan.Reps,
		viewerGStreamer:      (e.plan.JoinsNobuffer + e.plan.Reps - 1) / e.plan.Reps,
	}
	rng := uint32(7)
	for rep := range e.plan.Reps {
		for i := range joinSystems {
			sys := joinSystems[(i+rep)%len(joinSystems)]
			got, err := e.joinSystem(sys, rep, ref, counts, &rng)
			out = append(out, got...)
			if err != nil {
				return out, fmt.Errorf("late join %s: %w", sys, err)
			}
		}
	}
	return out, nil
}

func (e *env) joinSystem(sys string, rep int, ref *reference, counts map[string]int, rng *uint32) ([]joinSample, error) {
	r, err := e.startSystem(sys, size720, 30, false)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	// A viewer that stays, so the stream runs (gst-rtsp-server starts the
	// shared pipeline at the first PLAY) and joiners are late.
	lc, err := e.startViewers(r.url, 1, "tcp", 20*time.Second)
	if err != nil {
		return nil, err
	}
	defer lc.stop()
	time.Sleep(2500 * time.Millisecond)
	var out []joinSample
	for _, kind := range joinViewers {
		var ms []float64
		n := counts[kind]
		if sys == sysGoAPIAllIDR {
			// Every frame is an IDR: joins measure the viewer alone, and a
			// few are enough.
			if kind != viewerFFmpegBuffered {
				continue
			}
			n = counts[viewerFFmpeg]
		}
		for range n {
			// Joins fall at pseudo-random points of the GOP, and at least
			// 350 ms apart (framecast coalesces IDRs to one per 500 ms).
			*rng = *rng*1664525 + 1013904223
			time.Sleep(350*time.Millisecond + time.Duration(*rng>>22)*time.Millisecond*600/1024)
			v, err := startViewer(kind, r.url, ref)
			if err != nil {
				return out, err
			}
			d, broken, err := v.waitFirst(10 * time.Second)
			v.stop()
			if err != nil {
				return out, err
			}
			s := joinSample{System: sys, Viewer: kind, Rep: rep, MS: float64(d.Microseconds()) / 1000, Broken: broken}
			ms = append(ms, s.MS)
			out = append(out, s)
		}
		e.logf("late join %-14s %-15s rep %d: %v ms", sys, kind, rep, roundAll(ms))
	}
	return out, nil
}

func roundAll(v []float64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x + 0.5)
	}
	return out
}
