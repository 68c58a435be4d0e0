package main

import (
	"fmt"
	"time"

	"github.com/framecast/framecast/bench"
)

// fanStep is one step of the fan-out: n viewers at 720p30 held for a while.
type fanStep struct {
	System       string  `json:"system"`
	Transport    string  `json:"transport"`
	Viewers      int     `json:"viewers"`
	Playing      int     `json:"playing"`
	Failed       int     `json:"failed"`
	Ended        int     `json:"ended"` // viewers that lost their session during the hold
	JoinSeconds  float64 `json:"join_seconds"`
	HoldSeconds  float64 `json:"hold_seconds"`
	ServerCores  float64 `json:"server_cores"`
	ClientCores  float64 `json:"client_cores"`
	ServerRSS    int64   `json:"server_rss_bytes"`
	Lost         uint64  `json:"lost"`
	FPSPerViewer float64 `json:"fps_per_viewer"`
	MinFrames    uint64  `json:"min_frames_per_viewer"`
	SilenceP50   float64 `json:"silence_p50_ms"`
	SilenceP95   float64 `json:"silence_p95_ms"`
	SilenceMax   float64 `json:"silence_max_ms"`
	// A viewer's longest wait for a whole frame: the longest time between
	// two packets with the marker bit, the last of an access unit.
	FrameWaitP50 float64 `json:"frame_wait_p50_ms"`
	FrameWaitP95 float64 `json:"frame_wait_p95_ms"`
	FrameWaitMax float64 `json:"frame_wait_max_ms"`
	FirstError   string  `json:"first_error,omitempty"` // why a viewer failed to join
	Error        string  `json:"error,omitempty"`       // why the step could not be measured
	OK           bool    `json:"ok"`                    // every viewer played the whole hold, no loss
	// Against the one-viewer baseline of the same server:
	CoresPer100  float64 `json:"cores_per_100_viewers,omitempty"`
	RSSPerViewer float64 `json:"rss_bytes_per_viewer,omitempty"`

	client *proc // the load client, for diagnostics
}

var fanSystems = []string{sysGoAPI, sysSeed}

func (e *env) fanOut() ([]fanStep, error) {
	var out []fanStep
	for _, transport := range []string{"tcp", "udp"} {
		for _, sys := range fanSystems {
			steps, err := e.fanOutSystem(sys, transport)
			out = append(out, steps...)
			if err != nil {
				return out, fmt.Errorf("fan-out %s %s: %w", sys, transport, err)
			}
		}
	}
	return out, nil
}

func (e *env) fanOutSystem(sys, transport string) ([]fanStep, error) {
	r, err := e.startSystem(sys, size720, 30, false)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	var out []fanStep
	base, err := e.fanStepOnce(r, sys, transport, 1, e.plan.FanBaseHold)
	if err != nil {
		return nil, diagnose(err, append(r.procs, base.client))
	}
	out = append(out, base)
	e.logf("fan-out %-14s %s %4d viewers: server %.3f cores, %d MiB", sys, transport, 1, base.ServerCores, base.ServerRSS>>20)
	for i, n := range e.plan.FanSteps {
		hold := e.plan.FanHold
		if i == len(e.plan.FanSteps)-1 {
			hold = e.plan.FanHoldTopRest
			if sys == sysGoAPI && transport == "tcp" {
				hold = e.plan.FanHoldTop
			}
		}
		s, err := e.fanStepOnce(r, sys, transport, n, hold)
		if err != nil {
			// Keep what the other systems and steps measure: note it and
			// stop climbing.
			s.Error = diagnose(err, append(r.procs, s.client)).Error()
			out = append(out, s)
			e.logf("fan-out %-14s %s %4d viewers: %s", sys, transport, n, s.Error)
			break
		}
		s.CoresPer100 = (s.ServerCores - base.ServerCores) / float64(n-1) * 100
		s.RSSPerViewer = float64(s.ServerRSS-base.ServerRSS) / float64(n-1)
		out = append(out, s)
		e.logf("fan-out %-14s %s %4d viewers: ok=%v playing %d ended %d lost %d, server %.3f cores (+%.3f/100), client %.3f cores, RSS +%.1f KiB/viewer, silence p95 %.0f ms, frame wait p95 %.0f ms, %.1f fps/viewer",
			sys, transport, n, s.OK, s.Playing, s.Ended, s.Lost, s.ServerCores, s.CoresPer100, s.ClientCores,
			s.RSSPerViewer/1024, s.SilenceP95, s.FrameWaitP95, s.FPSPerViewer)
		if s.Ended > 0 || s.Lost > 0 || s.FPSPerViewer < 0.9*30 {
			// The server (or these two cores) is saturated: more viewers
			// would fail too, so spend the time elsewhere.
			break
		}
	}
	return out, nil
}

func (e *env) fanStepOnce(r *running, sys, transport string, n int, hold time.Duration) (fanStep, error) {
	s := fanStep{System: sys, Transport: transport, Viewers: n}
	v, err := e.startViewers(r.url, n, transport, 60*time.Second)
	if err != nil {
		return s, err
	}
	defer v.stop()
	s.client = v.p
	s.Playing, s.Failed, s.JoinSeconds, s.FirstError = v.ready.Playing, v.ready.Failed, v.ready.JoinSeconds, v.ready.FirstError
	time.Sleep(2 * time.Second) // let the joins' IDRs and queues settle
	cpu, err := startCPU(r.serverPID(), v.p.pid())
	if err != nil {
		return s, err
	}
	if err := v.mark(); err != nil {
		return s, err
	}
	time.Sleep(hold)
	rep, err := v.report()
	if err != nil {
		return s, err
	}
	cores, err := cpu.cores()
	if err != nil {
		return s, err
	}
	s.ServerCores, s.ClientCores = cores[0], cores[1]
	if s.ServerRSS, err = bench.RSS(r.serverPID()); err != nil {
		return s, err
	}
	s.HoldSeconds = rep.Seconds
	s.Ended, s.Lost, s.FPSPerViewer, s.MinFrames = rep.Ended, max(rep.Lost, rep.LostReported), rep.FPSPerViewer, rep.MinFramesPerViewer
	s.SilenceP50, s.SilenceP95, s.SilenceMax = rep.SilenceP50, rep.SilenceP95, rep.SilenceMax
	s.FrameWaitP50, s.FrameWaitP95, s.FrameWaitMax = rep.FrameWaitP50, rep.FrameWaitP95, rep.FrameWaitMax
	// Every viewer must have played the whole hold at the stream's rate.
	s.OK = s.Playing == n && s.Ended == 0 && s.Lost == 0 && float64(s.MinFrames) >= 0.9*30*rep.Seconds
	return s, nil
}

// diagnose adds to err what became of the processes that have exited.
func diagnose(err error, procs []*proc) error {
	for _, p := range procs {
		if p == nil {
			continue
		}
		select {
		case <-p.done:
			err = fmt.Errorf("%w; %s (pid %d) exited: %v: %s", err, p.name, p.pid(), p.err, p.stderr)
		case <-time.After(300 * time.Millisecond):
		}
	}
	return err
}
