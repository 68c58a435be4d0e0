package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// tpSample is one throughput run: frames in → RTP out, as fast as the
// system goes, with one TCP viewer counting frames.
type tpSample struct {
	System string            `json:"system"`
	Size   string            `json:"size"`
	Rep    int               `json:"rep"`
	FPS    float64           `json:"fps"`
	Cores  float64           `json:"cores"` // CPU of the system's processes while at it
	Lost   uint64            `json:"lost,omitempty"`
	Stats  map[string]string `json:"stats,omitempty"`
}

var tpSystems = []string{sysX264, sysGoAPI, sysPyIngest, sysGoIngest, sysSeed, sysGoAPII420}

// onlyAt limits a system to one size: the yuv420p row only says what the
// conversion costs where the target is.
var onlyAt = map[string]size{sysGoAPII420: size1080}

// throughput measures every system at every size, alternating the systems
// within each repeat (in an order that rotates from one repeat to the next).
func (e *env) throughput() ([]tpSample, error) {
	var out []tpSample
	for rep := range e.plan.Reps {
		for _, sz := range e.plan.Sizes {
			for i := range tpSystems {
				sys := tpSystems[(i+rep)%len(tpSystems)]
				if at, ok := onlyAt[sys]; ok && at != sz {
					continue
				}
				s, err := e.throughputOnce(sys, sz)
				if err != nil {
					return out, fmt.Errorf("throughput %s %v: %w", sys, sz, err)
				}
				s.Rep = rep
				e.logf("throughput %-14s %-9v rep %d: %6.1f frames/s, %.2f cores", sys, sz, rep, s.FPS, s.Cores)
				out = append(out, s)
			}
		}
	}
	return out, nil
}

func (e *env) throughputOnce(sys string, sz size) (s tpSample, err error) {
	s = tpSample{System: sys, Size: sz.String()}
	if sys == sysX264 {
		ring, err := e.ring(sz)
		if err != nil {
			return s, err
		}
		p, err := startProc(sys, []string{e.self, "role-x264", "-size", sz.String(), "-ring", ring, "-rate", "0",
			"-bitrate", strconv.Itoa(sz.bitrate()), "-gop", strconv.Itoa(gop),
			"-warmup", secs(e.plan.TPWarmup), "-seconds", secs(e.plan.TPMeasure)}, nil)
		if err != nil {
			return s, err
		}
		<-p.done
		var st struct{ FPS, Cores float64 }
		stats := p.stop()
		if err := json.Unmarshal([]byte(stats), &st); err != nil {
			return s, fmt.Errorf("x264 role: %v (%q): %s", err, stats, p.stderr)
		}
		s.FPS, s.Cores = st.FPS, st.Cores
		return s, nil
	}
	r, err := e.startSystem(sys, sz, 0, true)
	if err != nil {
		return s, err
	}
	defer func() { s.Stats = r.stop() }()
	v, err := e.startViewers(r.url, 1, "tcp", 20*time.Second)
	if err != nil {
		return s, err
	}
	defer v.stop()
	if v.ready.Playing != 1 {
		return s, fmt.Errorf("viewer did not play: %s", v.ready.FirstError)
	}
	time.Sleep(e.plan.TPWarmup)
	cpu, err := startCPU(r.pids()...)
	if err != nil {
		return s, err
	}
	if err := v.mark(); err != nil {
		return s, err
	}
	time.Sleep(e.plan.TPMeasure)
	rep, err := v.report()
	if err != nil {
		return s, err
	}
	s.Cores = cpu.total()
	s.FPS = float64(rep.Frames) / rep.Seconds
	s.Lost = rep.Lost
	return s, nil
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }
