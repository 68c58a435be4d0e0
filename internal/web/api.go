package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/framecast/framecast"
)

// routes maps the URLs the server answers. A stream's path is part of its
// URLs without the leading slash: /cam's snapshot is
// /api/v1/streams/cam/snapshot.jpg.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.servePage)
	mux.HandleFunc("GET /app.js", s.servePage)
	mux.HandleFunc("GET /style.css", s.servePage)
	mux.HandleFunc("GET /api/v1/streams", s.serveStreams)
	mux.HandleFunc("/api/v1/streams/{rest...}", s.serveStream)
	mux.HandleFunc("DELETE /api/v1/whep/{id}", s.serveWHEPDelete)
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	return mux
}

// streamsJSON is the answer of GET /api/v1/streams.
type streamsJSON struct {
	Streams []streamJSON `json:"streams"`
}

// streamJSON describes one served path.
type streamJSON struct {
	Path        string       `json:"path"`
	RTSPURL     string       `json:"rtsp_url"`
	SnapshotURL string       `json:"snapshot_url"`
	WHEPURL     string       `json:"whep_url"`
	Producer    producerJSON `json:"producer"`
	Encoder     encoderJSON  `json:"encoder"`
	Stats       statsJSON    `json:"stats"`
	Viewers     []viewerJSON `json:"viewers"`
}

type producerJSON struct {
	// Address describes the producer ("the Go API", a remote address,
	// "stdin"); it is empty while the path has none.
	Address     string  `json:"address"`
	Connected   bool    `json:"connected"`
	PixelFormat string  `json:"pixel_format"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	FPS         float64 `json:"fps"`    // nominal
	FPSIn       float64 `json:"fps_in"` // measured over the last second
}

type encoderJSON struct {
	BitrateKbps int     `json:"bitrate_kbps"` // target; 0 with CRF
	CRF         float64 `json:"crf"`
	GOP         int     `json:"gop"`
	Preset      string  `json:"preset"`
	Tune        string  `json:"tune"`
	Profile     string  `json:"profile"`
	Threads     int     `json:"threads"`
	FPSOut      float64 `json:"fps_out"`  // measured over the last second
	KbpsOut     float64 `json:"kbps_out"` // measured over the last second
	Dropped     uint64  `json:"dropped"`  // frames dropped because the encoder was behind
}

type statsJSON struct {
	FramesIn      uint64 `json:"frames_in"`
	FramesEncoded uint64 `json:"frames_encoded"`
	Dropped       uint64 `json:"dropped"`
	Skipped       uint64 `json:"skipped"`
	Repeated      uint64 `json:"repeated"`
	SlowViewers   uint64 `json:"slow_viewers"`
	DroppedUDP    uint64 `json:"dropped_udp_packets"`
	Withheld      uint64 `json:"withheld_packets"`
	BytesEncoded  uint64 `json:"bytes_encoded"`
	PreviewBytes  uint64 `json:"preview_bytes"`
	PreviewDrops  uint64 `json:"preview_dropped"`
}

type viewerJSON struct {
	Address   string    `json:"address"`
	Transport string    `json:"transport"` // UDP, TCP, UDP-multicast or WebRTC
	Since     time.Time `json:"since"`
	Bytes     uint64    `json:"bytes"`
}

// describe turns what the library and the previews say into the API's form.
func (s *Server) describe(r *http.Request, infos []framecast.StreamInfo) []streamJSON {
	previews := s.previews()
	host, port := s.rtspHost(r)
	out := make([]streamJSON, 0, len(infos))
	for _, in := range infos {
		rt, _ := s.rates.get(in.Path)
		rel := "/api/v1/streams" + escapePath(in.Path)
		st := streamJSON{
			Path:        in.Path,
			RTSPURL:     "rtsp://" + net.JoinHostPort(host, strconv.Itoa(port)) + escapePath(in.Path),
			SnapshotURL: rel + "/snapshot.jpg",
			WHEPURL:     rel + "/whep",
			Producer: producerJSON{
				Address: in.Producer, Connected: in.Producer != "", PixelFormat: in.Format.PixelFormat.String(),
				Width: in.Format.Width, Height: in.Format.Height, FPS: in.Format.FPS, FPSIn: round1(rt.fpsIn),
			},
			Encoder: encoderJSON{
				BitrateKbps: in.Encoder.BitrateKbps, CRF: in.Encoder.CRF, GOP: in.Encoder.GOP,
				Preset: in.Encoder.Preset, Tune: in.Encoder.Tune,
				Profile: in.Encoder.Profile, Threads: in.Encoder.Threads,
				FPSOut: round1(rt.fpsOut), KbpsOut: round1(rt.kbps), Dropped: in.Stats.Dropped,
			},
			Stats: statsJSON{
				FramesIn: in.Stats.FramesIn, FramesEncoded: in.Stats.FramesEncoded, Dropped: in.Stats.Dropped,
				Skipped: in.Stats.Skipped, Repeated: in.Stats.Repeated, SlowViewers: in.Stats.SlowViewers,
				DroppedUDP: in.Stats.DroppedUDPPackets, Withheld: in.Stats.WithheldPackets, BytesEncoded: in.Stats.BytesSent,
			},
			Viewers: []viewerJSON{},
		}
		if c := s.pathCounters(in.Path); c != nil {
			st.Stats.PreviewBytes, st.Stats.PreviewDrops = c.bytes.Load(), c.dropped.Load()
		}
		for _, v := range append(in.Viewers, previews[in.Path]...) {
			st.Viewers = append(st.Viewers, viewerJSON{Address: v.Remote, Transport: v.Transport, Since: v.Since, Bytes: v.BytesSent})
		}
		sort.SliceStable(st.Viewers, func(i, j int) bool { return st.Viewers[i].Since.Before(st.Viewers[j].Since) })
		out = append(out, st)
	}
	return out
}

func (s *Server) pathCounters(path string) *pathCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counted[path]
}

// rtspHost is the host and port of the RTSP URLs shown: the RTSP
// listener's address when it is bound to one, else the host the page was
// asked for.
func (s *Server) rtspHost(r *http.Request) (string, int) {
	host, port := "127.0.0.1", s.opts.RTSPPort
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	} else if r.Host != "" {
		host = strings.Trim(r.Host, "[]")
	}
	if a, ok := s.fc.Addr().(*net.TCPAddr); ok {
		if port == 0 {
			port = a.Port
		}
		if a.IP != nil && !a.IP.IsUnspecified() {
			host = a.IP.String()
		}
	}
	return host, port
}

// escapePath escapes a stream path for a URL, keeping its slashes.
func escapePath(p string) string {
	return (&url.URL{Path: p}).EscapedPath()
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func (s *Server) serveStreams(w http.ResponseWriter, r *http.Request) {
	infos, ok := s.visible(r)
	if !ok {
		unauthorized(w)
		return
	}
	writeJSON(w, streamsJSON{Streams: s.describe(r, infos)})
}

// visible returns the streams r may see, and false when it may not see
// some and presented no credentials: it should be asked for them.
func (s *Server) visible(r *http.Request) ([]framecast.StreamInfo, bool) {
	infos := s.fc.Streams()
	if s.opts.Authorize == nil {
		return infos, true
	}
	shown := infos[:0]
	for _, in := range infos {
		if s.opts.Authorize(r, in.Path) {
			shown = append(shown, in)
		}
	}
	return shown, len(shown) == len(infos) || r.Header.Get("Authorization") != ""
}

// authorized reports whether r may see path, answering 401 when not.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request, path string) bool {
	if s.opts.Authorize == nil || s.opts.Authorize(r, path) {
		return true
	}
	unauthorized(w)
	return false
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="framecast", charset="UTF-8"`)
	http.Error(w, "credentials needed", http.StatusUnauthorized)
}

// serveStream answers /api/v1/streams/PATH (GET: the stream as JSON),
// /api/v1/streams/PATH/snapshot.jpg (GET) and /api/v1/streams/PATH/whep
// (POST: a WebRTC offer).
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	rest := "/" + r.PathValue("rest")
	switch {
	case strings.HasSuffix(rest, "/snapshot.jpg"):
		path := strings.TrimSuffix(rest, "/snapshot.jpg")
		if !allow(w, r, http.MethodGet, http.MethodHead) || !s.authorized(w, r, path) {
			return
		}
		s.serveSnapshot(w, r, path)
	case strings.HasSuffix(rest, "/whep"):
		path := strings.TrimSuffix(rest, "/whep")
		if !allow(w, r, http.MethodPost) || !s.authorized(w, r, path) {
			return
		}
		s.serveWHEP(w, r, path)
	default:
		if !allow(w, r, http.MethodGet, http.MethodHead) || !s.authorized(w, r, rest) {
			return
		}
		in, ok := s.streamInfo(rest)
		if !ok {
			http.Error(w, "no stream on "+rest, http.StatusNotFound)
			return
		}
		writeJSON(w, s.describe(r, []framecast.StreamInfo{in})[0])
	}
}

func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}

// serveSnapshot answers the stream's latest picture as a JPEG (full-range
// YCbCr, as JPEG wants); ?quality=1..100 sets its quality (default 85).
func (s *Server) serveSnapshot(w http.ResponseWriter, r *http.Request, path string) {
	quality := 85
	if q := r.URL.Query().Get("quality"); q != "" {
		v, err := strconv.Atoi(q)
		if err != nil || v < 1 || v > 100 {
			http.Error(w, "quality must be a number from 1 to 100", http.StatusBadRequest)
			return
		}
		quality = v
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.SnapshotTimeout)
	defer cancel()
	img, err := s.fc.Snapshot(ctx, path)
	if errors.Is(err, framecast.ErrNoStream) {
		http.Error(w, "no stream on "+path, http.StatusNotFound)
		return
	}
	if err != nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, fullRange(img), &jpeg.Options{Quality: quality}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(buf.Bytes())
}

// fullRange returns a copy of a limited-range (BT.601 "TV") picture in full
// range, which JPEG decoders assume: black 16 becomes 0, white 235 255. The
// copy has src's layout, as Snapshot's pictures are made by image.NewYCbCr.
func fullRange(src *image.YCbCr) *image.YCbCr {
	var ly, lc [256]byte
	for i := range 256 {
		ly[i] = clamp8((float64(i) - 16) * 255 / 219)
		lc[i] = clamp8((float64(i)-128)*255/224 + 128)
	}
	b := src.Bounds()
	dst := image.NewYCbCr(b, src.SubsampleRatio)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		si, di := src.YOffset(b.Min.X, y), dst.YOffset(b.Min.X, y)
		for x := range b.Dx() {
			dst.Y[di+x] = ly[src.Y[si+x]]
		}
	}
	for i := range src.Cb {
		if i < len(dst.Cb) {
			dst.Cb[i], dst.Cr[i] = lc[src.Cb[i]], lc[src.Cr[i]]
		}
	}
	return dst
}

func clamp8(v float64) byte {
	return byte(math.Round(min(255, max(0, v))))
}

// serveWHEP answers a browser's SDP offer for a preview of path with an
// SDP answer (201 Created; Location is the preview, to DELETE).
func (s *Server) serveWHEP(w http.ResponseWriter, r *http.Request, path string) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/sdp" {
		http.Error(w, "want Content-Type application/sdp", http.StatusUnsupportedMediaType)
		return
	}
	offer, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		http.Error(w, "reading the offer: "+err.Error(), http.StatusBadRequest)
		return
	}
	if _, ok := s.streamInfo(path); !ok {
		http.Error(w, "no stream on "+path, http.StatusNotFound)
		return
	}
	if err := checkOffer(string(offer)); errors.Is(err, errNoH264) {
		http.Error(w, err.Error(), http.StatusNotAcceptable)
		return
	} else if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p, err := s.newPeer(path, r.RemoteAddr)
	if err != nil {
		// A slot frees itself within ConnectTimeout when its offer never connects.
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(s.opts.ConnectTimeout.Seconds()))))
		code := http.StatusServiceUnavailable
		if errors.Is(err, errTooManyFromHost) {
			code = http.StatusTooManyRequests
		}
		http.Error(w, err.Error(), code)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	answer, err := p.answer(ctx, string(offer))
	if err != nil {
		p.close()
		code := http.StatusBadRequest
		if errors.Is(err, errNoH264) {
			code = http.StatusNotAcceptable
		}
		http.Error(w, err.Error(), code)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/api/v1/whep/"+p.id)
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

// serveWHEPDelete closes a preview.
func (s *Server) serveWHEPDelete(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p := s.peers[r.PathValue("id")]
	s.mu.Unlock()
	if p == nil {
		http.Error(w, "no such preview", http.StatusNotFound)
		return
	}
	p.close()
	w.WriteHeader(http.StatusOK)
}

// slogPrinter is promhttp's error log.
type slogPrinter struct {
	log interface{ Warn(string, ...any) }
}

func (p slogPrinter) Println(v ...any) {
	p.log.Warn("metrics", "error", strings.TrimSpace(fmt.Sprintln(v...)))
}
