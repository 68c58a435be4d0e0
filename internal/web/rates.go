package web

import (
	"sync"
	"time"

	"github.com/framecast/framecast"
)

// rateInterval is how often the streams' counters are sampled for the rates
// the page shows.
const rateInterval = time.Second

// rate is what a stream did per second over the last sampling interval.
type rate struct {
	fpsIn, fpsOut, kbps float64
}

// rates turns the streams' counters into per-second rates. Prometheus
// computes its own from the counters; the page and the API need them
// ready-made.
type rates struct {
	mu   sync.Mutex
	prev map[string]sample
	last map[string]rate
}

type sample struct {
	at    time.Time
	stats framecast.StreamStats
}

func newRates() *rates {
	return &rates{prev: make(map[string]sample), last: make(map[string]rate)}
}

// observe records the counters of the streams in infos at time now.
func (r *rates) observe(now time.Time, infos []framecast.StreamInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]bool, len(infos))
	for _, in := range infos {
		seen[in.Path] = true
		cur := sample{at: now, stats: in.Stats}
		p, ok := r.prev[in.Path]
		r.prev[in.Path] = cur
		dt := now.Sub(p.at).Seconds()
		if !ok || dt <= 0 || in.Stats.FramesIn < p.stats.FramesIn || in.Stats.FramesEncoded < p.stats.FramesEncoded ||
			in.Stats.BytesSent < p.stats.BytesSent {
			// New, or a new producer's stream whose counters started again.
			delete(r.last, in.Path)
			continue
		}
		r.last[in.Path] = rate{
			fpsIn:  float64(in.Stats.FramesIn-p.stats.FramesIn) / dt,
			fpsOut: float64(in.Stats.FramesEncoded-p.stats.FramesEncoded) / dt,
			kbps:   float64(in.Stats.BytesSent-p.stats.BytesSent) * 8 / 1000 / dt,
		}
	}
	for path := range r.prev {
		if !seen[path] {
			delete(r.prev, path)
			delete(r.last, path)
		}
	}
}

// get returns path's rates, and false until two samples were taken.
func (r *rates) get(path string) (rate, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.last[path]
	return v, ok
}

// sampleRates samples the streams every rateInterval until Close.
func (s *Server) sampleRates() {
	defer s.wg.Done()
	tick := time.NewTicker(rateInterval)
	defer tick.Stop()
	s.rates.observe(time.Now(), s.fc.Streams())
	for {
		select {
		case <-s.done:
			return
		case now := <-tick.C:
			s.rates.observe(now, s.fc.Streams())
		}
	}
}
