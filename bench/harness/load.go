package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// loadReady is the loadclient's READY line.
type loadReady struct {
	Viewers     int     `json:"viewers"`
	Playing     int     `json:"playing"`
	Failed      int     `json:"failed"`
	JoinSeconds float64 `json:"join_seconds"`
	FirstError  string  `json:"first_error"`
}

// loadReport is the loadclient's REPORT line.
type loadReport struct {
	Seconds            float64 `json:"seconds"`
	Viewers            int     `json:"viewers"`
	Ended              int     `json:"ended"`
	Packets            uint64  `json:"packets"`
	Frames             uint64  `json:"frames"`
	Lost               uint64  `json:"lost"`
	LostReported       uint64  `json:"lost_reported"`
	MinFramesPerViewer uint64  `json:"min_frames_per_viewer"`
	FPSPerViewer       float64 `json:"fps_per_viewer"`
	SilenceP50         float64 `json:"silence_p50_ms"`
	SilenceP95         float64 `json:"silence_p95_ms"`
	SilenceMax         float64 `json:"silence_max_ms"`
	FrameWaitP50       float64 `json:"frame_wait_p50_ms"`
	FrameWaitP95       float64 `json:"frame_wait_p95_ms"`
	FrameWaitMax       float64 `json:"frame_wait_max_ms"`
}

// viewers is a running loadclient.
type viewers struct {
	p     *proc
	ready loadReady
}

// startViewers connects n viewers of url over transport and returns when
// they all play (or failed to).
func (e *env) startViewers(url string, n int, transport string, timeout time.Duration) (*viewers, error) {
	p, err := startProc("loadclient", []string{e.loadclient, "-url", url, "-n", strconv.Itoa(n),
		"-transport", transport, "-timeout", timeout.String()}, nil)
	if err != nil {
		return nil, err
	}
	line, err := p.expect("READY ", timeout+30*time.Second)
	if err != nil {
		p.stop()
		return nil, err
	}
	v := &viewers{p: p}
	if err := json.Unmarshal([]byte(line), &v.ready); err != nil {
		p.stop()
		return nil, fmt.Errorf("loadclient READY %q: %w", line, err)
	}
	return v, nil
}

func (v *viewers) mark() error { return v.p.send("mark") }

func (v *viewers) report() (loadReport, error) {
	var r loadReport
	if err := v.p.send("report"); err != nil {
		return r, err
	}
	line, err := v.p.expect("REPORT ", 10*time.Second)
	if err != nil {
		return r, err
	}
	err = json.Unmarshal([]byte(line), &r)
	return r, err
}

// stop disconnects the viewers, each with a TEARDOWN, and waits for the
// load client to exit (a UDP session that is only dropped would live on in
// the server and be counted in the next step).
func (v *viewers) stop() {
	v.p.send("quit")
	v.p.stdin.Close()
	select {
	case <-v.p.done:
	case <-time.After(30 * time.Second):
	}
	v.p.stop()
}
