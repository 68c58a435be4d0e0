package web

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Reasons a frame is dropped, the reason label of framecast_frames_dropped_total.
const (
	// dropEncoderBehind: the queue before the encoder was full (the oldest
	// waiting frame gave way).
	dropEncoderBehind = "encoder_behind"
	// dropPreviewQueueFull: a WebRTC preview's queue was full; the preview
	// then also skips the frames up to the next IDR.
	dropPreviewQueueFull = "preview_queue_full"
)

var (
	descFramesIn = prometheus.NewDesc("framecast_frames_in_total",
		"Frames written by the stream's producers: encoded, dropped or skipped.", []string{"path"}, nil)
	descFramesEncoded = prometheus.NewDesc("framecast_frames_encoded_total",
		"Frames encoded and sent to the stream's viewers (once, whatever their number).", []string{"path"}, nil)
	descFramesDropped = prometheus.NewDesc("framecast_frames_dropped_total",
		"Frames dropped, by reason: encoder_behind (the encoder could not keep up), preview_queue_full (a WebRTC preview could not keep up).",
		[]string{"path", "reason"}, nil)
	descFramesSkipped = prometheus.NewDesc("framecast_frames_skipped_total",
		"Frames not encoded because nobody watched the stream.", []string{"path"}, nil)
	descFramesRepeated = prometheus.NewDesc("framecast_frames_repeated_total",
		"Last frames encoded again while the producer was idle.", []string{"path"}, nil)
	descEncodedBytes = prometheus.NewDesc("framecast_encoded_bytes_total",
		"H.264 bytes encoded (sent to every RTSP viewer; counted once).", []string{"path"}, nil)
	descPreviewBytes = prometheus.NewDesc("framecast_preview_bytes_sent_total",
		"RTP bytes sent to WebRTC previews.", []string{"path"}, nil)
	descPreviews = prometheus.NewDesc("framecast_previews_opened_total",
		"WebRTC previews that connected and started playing.", []string{"path"}, nil)
	descViewers = prometheus.NewDesc("framecast_viewers",
		"Viewers playing the stream now, by transport (UDP, TCP, UDP-multicast, WebRTC).", []string{"path", "transport"}, nil)
	descSlowViewers = prometheus.NewDesc("framecast_slow_viewers_total",
		"RTSP viewers disconnected for not reading fast enough.", []string{"path"}, nil)
	descDroppedUDP = prometheus.NewDesc("framecast_rtsp_udp_packets_dropped_total",
		"RTP and RTCP packets not sent to UDP viewers because the server had fallen behind sending to them (the viewers are kept).", []string{"path"}, nil)
	descWithheld = prometheus.NewDesc("framecast_rtsp_packets_withheld_total",
		"Video packets not sent to viewers that started playing in the middle of a GOP, until their first IDR (P-frames they could not decode).", []string{"path"}, nil)
	descBytesOut = prometheus.NewDesc("framecast_rtsp_bytes_sent_total",
		"RTP and RTCP bytes sent to the stream's RTSP viewers, those gone included.", []string{"path"}, nil)
	descRefused = prometheus.NewDesc("framecast_ingest_errors_total",
		"Frames refused because they were not the size their format needs.", []string{"path"}, nil)
	descEncodeErrors = prometheus.NewDesc("framecast_encode_errors_total",
		"Frames the encoder failed on.", []string{"path"}, nil)
	descEncodeTime = prometheus.NewDesc("framecast_encode_seconds",
		"Time to encode one frame with x264.", []string{"path"}, nil)
	descProducer = prometheus.NewDesc("framecast_producer_connected",
		"1 while the stream has a producer, 0 while it repeats the last frame of one that left.", []string{"path"}, nil)
)

// Series of the previews as a whole, without a path label, so that any
// scrape may see them.
var (
	descPreviewsOpen = prometheus.NewDesc("framecast_previews_open",
		"WebRTC previews open now, those still connecting included (each takes one of MaxPreviews).", nil, nil)
	descPreviewsRefused = prometheus.NewDesc("framecast_previews_refused_total",
		"WebRTC preview offers refused for a limit: max_previews (all slots taken) or max_per_address (that address has its share).",
		[]string{"reason"}, nil)
	descPreviewsUnconnected = prometheus.NewDesc("framecast_previews_unconnected_total",
		"WebRTC previews closed because the browser did not connect (ICE and DTLS) within the connect timeout.", nil, nil)
)

// collector reads the streams' counters when Prometheus scrapes: nothing is
// counted twice, and nothing runs between scrapes. It reports the paths
// show accepts; nil shows every path.
type collector struct {
	s    *Server
	show func(path string) bool
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFramesIn, descFramesEncoded, descFramesDropped, descFramesSkipped,
		descFramesRepeated, descEncodedBytes, descPreviewBytes, descPreviews, descViewers, descSlowViewers, descDroppedUDP, descWithheld, descProducer,
		descBytesOut, descRefused, descEncodeErrors, descEncodeTime} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	previews := c.s.previews()
	for _, in := range c.s.fc.Streams() {
		if c.show != nil && !c.show(in.Path) {
			continue
		}
		p, st := in.Path, in.Stats
		counter(descFramesIn, st.FramesIn, p)
		counter(descFramesEncoded, st.FramesEncoded, p)
		counter(descFramesDropped, st.Dropped, p, dropEncoderBehind)
		counter(descFramesSkipped, st.Skipped, p)
		counter(descFramesRepeated, st.Repeated, p)
		counter(descEncodedBytes, st.BytesSent, p)
		counter(descSlowViewers, st.SlowViewers, p)
		counter(descDroppedUDP, st.DroppedUDPPackets, p)
		counter(descWithheld, st.WithheldPackets, p)
		counter(descBytesOut, st.BytesOut, p)
		counter(descRefused, st.Refused, p)
		counter(descEncodeErrors, st.EncodeErrors, p)
		buckets := make(map[float64]uint64, len(st.EncodeTime.Bounds))
		for i, b := range st.EncodeTime.Bounds {
			buckets[b.Seconds()] = st.EncodeTime.Counts[i]
		}
		ch <- prometheus.MustNewConstHistogram(descEncodeTime, st.EncodeTime.Count, st.EncodeTime.Sum.Seconds(), buckets, p)
		var bytes, dropped, opened uint64
		if pc := c.s.pathCounters(p); pc != nil {
			bytes, dropped, opened = pc.bytes.Load(), pc.dropped.Load(), pc.previews.Load()
		}
		counter(descFramesDropped, dropped, p, dropPreviewQueueFull)
		counter(descPreviewBytes, bytes, p)
		counter(descPreviews, opened, p)
		viewers := map[string]int{"UDP": 0, "TCP": 0, "WebRTC": 0}
		for _, v := range in.Viewers {
			viewers[v.Transport]++
		}
		viewers["WebRTC"] += len(previews[p])
		for tr, n := range viewers {
			gauge(descViewers, float64(n), p, tr)
		}
		connected := 0.0
		if in.Producer != "" {
			connected = 1
		}
		gauge(descProducer, connected, p)
	}
}

// previewsCollector reports the previews' limits and timeouts.
type previewsCollector struct{ s *Server }

func (c previewsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPreviewsOpen
	ch <- descPreviewsRefused
	ch <- descPreviewsUnconnected
}

func (c previewsCollector) Collect(ch chan<- prometheus.Metric) {
	c.s.mu.Lock()
	open := len(c.s.peers)
	c.s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descPreviewsOpen, prometheus.GaugeValue, float64(open))
	ch <- prometheus.MustNewConstMetric(descPreviewsRefused, prometheus.CounterValue, float64(c.s.refused.total.Load()), "max_previews")
	ch <- prometheus.MustNewConstMetric(descPreviewsRefused, prometheus.CounterValue, float64(c.s.refused.perAddress.Load()), "max_per_address")
	ch <- prometheus.MustNewConstMetric(descPreviewsUnconnected, prometheus.CounterValue, float64(c.s.unconnected.Load()))
}

// newRegistry holds the metrics every scrape sees: the previews' as a
// whole, the Go runtime's and the process's. The streams' are gathered per
// scrape (serveMetrics), as what a scrape may see depends on who asks.
func newRegistry(s *Server) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		previewsCollector{s: s},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// serveMetrics answers a Prometheus scrape. With MetricsCredentials, it
// asks for them and then shows every path; without, it shows the paths
// Authorize lets the request see, so that an anonymous scrape names no
// protected path.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var show func(string) bool
	if len(s.metricsCreds) > 0 {
		user, pass, _ := r.BasicAuth()
		if !matchAny(s.metricsCreds, user, pass) {
			unauthorized(w)
			return
		}
	} else if s.opts.Authorize != nil {
		show = func(path string) bool { return s.opts.Authorize(r, path) }
	}
	streams := prometheus.NewRegistry()
	if err := streams.Register(&collector{s: s, show: show}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	promhttp.HandlerFor(prometheus.Gatherers{s.reg, streams}, promhttp.HandlerOpts{ErrorLog: slogPrinter{s.log}}).ServeHTTP(w, r)
}
