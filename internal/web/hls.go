package web

import (
	"net/http"
	"strings"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/hls"
	"github.com/framecast/framecast/internal/pathname"
	"github.com/prometheus/client_golang/prometheus"
)

// hlsPlaylist is the file a player opens: /PATH/index.m3u8.
const hlsPlaylist = "index.m3u8"

// newHLS makes the HLS muxers' server for s's streams: each path's muxer
// takes the stream's H.264 through AddSink, as previews do, and adds the
// silent audio track when the stream has it (framecast.AudioSilent).
func (s *Server) newHLS(cfg hls.Config) *hls.Server {
	if cfg.Logger == nil {
		cfg.Logger = s.log
	}
	if cfg.RequestIDR == nil {
		cfg.RequestIDR = s.fc.RequestIDR
	}
	if cfg.Timing == nil {
		cfg.Timing = func(path string) (float64, int) {
			in, _ := s.streamInfo(path)
			return in.Format.FPS, in.Encoder.GOP
		}
	}
	if cfg.Exists == nil {
		cfg.Exists = func(path string) bool { _, ok := s.streamInfo(path); return ok }
	}
	if cfg.SilentAudio == nil {
		cfg.SilentAudio = func(path string) bool {
			in, _ := s.streamInfo(path)
			return in.Audio == framecast.AudioSilent
		}
	}
	return hls.New(func(path string, sink hls.Sink) (func(), error) { return s.fc.AddSink(path, sink) }, cfg)
}

// hlsFile splits a URL path as sent (escaped) into a stream path and the
// name of an HLS file (hls.IsFile) after it: /a/b/index.m3u8 is /a/b's
// index.m3u8.
func hlsFile(escaped string) (streamPath, name string, ok bool) {
	i := strings.LastIndexByte(escaped, '/')
	if i <= 0 || !hls.IsFile(escaped[i+1:]) {
		return "", "", false
	}
	return escaped[:i], escaped[i+1:], true
}

// withHLS answers the URLs of HLS files, /PATH/index.m3u8 and the
// segments, parts and init file under /PATH/, and passes every other
// request to next. The path is read from the URL as sent and must be
// canonical (pathname.Check; 400 otherwise, as the API answers), then the
// request must be allowed to see it (Authorize; 401 otherwise).
func (s *Server) withHLS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, _, ok := hlsFile(r.URL.EscapedPath())
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if err := pathname.Check(path); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !s.authorized(w, r, path) {
			return
		}
		s.hls.ServeHTTP(w, r, path)
	})
}

// hlsURL is the URL of path's HLS playlist, relative to the server.
func hlsURL(path string) string { return escapePath(path) + "/" + hlsPlaylist }

// The HLS series, without a path label, so that any scrape may see them.
var (
	descHLSRequests = prometheus.NewDesc("framecast_hls_requests_total",
		"HLS requests (playlists, segments, parts), refused ones included.", nil, nil)
	descHLSOpen = prometheus.NewDesc("framecast_hls_sessions_open",
		"HLS muxers open now, one per path watched over HLS.", nil, nil)
	descHLSOpened = prometheus.NewDesc("framecast_hls_sessions_opened_total",
		"HLS muxers opened.", nil, nil)
	descHLSRefused = prometheus.NewDesc("framecast_hls_refused_total",
		"HLS requests answered 503 for a limit (muxers open at once, requests in flight in one).", nil, nil)
	descHLSDropped = prometheus.NewDesc("framecast_hls_dropped_total",
		"Access units an HLS muxer could not take in time, dropped up to the next IDR.", nil, nil)
)

// hlsCollector reports the HLS server's counters.
type hlsCollector struct{ s *Server }

func (c hlsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHLSRequests, descHLSOpen, descHLSOpened, descHLSRefused, descHLSDropped} {
		ch <- d
	}
}

func (c hlsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.hls.Stats()
	ch <- prometheus.MustNewConstMetric(descHLSRequests, prometheus.CounterValue, float64(st.Requests))
	ch <- prometheus.MustNewConstMetric(descHLSOpen, prometheus.GaugeValue, float64(st.Open))
	ch <- prometheus.MustNewConstMetric(descHLSOpened, prometheus.CounterValue, float64(st.Opened))
	ch <- prometheus.MustNewConstMetric(descHLSRefused, prometheus.CounterValue, float64(st.Refused))
	ch <- prometheus.MustNewConstMetric(descHLSDropped, prometheus.CounterValue, float64(st.Dropped))
}
