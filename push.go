package framecast

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/framecast/framecast/internal/pathname"
	"github.com/framecast/framecast/internal/push"
)

// PushConfig configures a push; the zero value takes the defaults below
// (and, for RTSP, TCP).
type PushConfig struct {
	// Transport is "tcp" or "udp", for rtsp:// and rtsps:// URLs only. ""
	// means the URL's transport query parameter
	// (rtsp://host:8554/cam?transport=udp, not sent to the server), or
	// tcp.
	Transport string
	// QueueSize is the number of encoded frames that may wait to be written
	// to the remote; when it is full the newest is dropped and counted and
	// the push skips to the next IDR. 0 means 32.
	QueueSize int
	// MinBackoff and MaxBackoff bound the wait between connection attempts:
	// it doubles after each failure, from MinBackoff (0 means 500 ms) up to
	// MaxBackoff (0 means 10 s), and starts again from MinBackoff after a
	// connection that lasted MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

// PushTarget is one path pushed to one remote server (RTSP, RTMP or SRT).
// Its methods are safe for concurrent use.
type PushTarget struct {
	srv  *Server
	path string
	p    *push.Pusher
	once sync.Once
}

// PushStats counts what a push has done since it started.
type PushStats struct {
	Connected  bool   // recording to the remote now
	FramesSent uint64 // encoded frames written to the remote
	Dropped    uint64 // frames the remote did not get while connected: queue full, then up to the next IDR
	Reconnects uint64 // connections after the first
	Failures   uint64 // failed connection attempts and lost connections
}

// Push publishes path's encoded stream to url on a media server. The
// URL's scheme says how:
//
//   - rtsp://[user:pass@]host[:port]/path or rtsps://: RTSP ANNOUNCE and
//     RECORD (mediamtx, Wowza, ffmpeg -rtsp_flags listen); credentials
//     answer Basic or Digest authentication.
//   - rtmp://[user:pass@]host[:port]/app/key or rtmps:// (TLS): RTMP
//     publish of the stream key to the application (nginx-rtmp, SRS,
//     YouTube, Twitch); the port defaults to 1935, or 443 for rtmps.
//   - srt://host:port?streamid=…: MPEG-TS over SRT, in caller mode, to an
//     SRT listener (ffmpeg, SRS, OvenMediaEngine); the parameters are
//     those of srt-live-transmit and ffmpeg (streamid, passphrase and
//     pbkeylen for AES, latency in ms, conntimeo, …).
//
// It is PushWith with the zero PushConfig.
func (s *Server) Push(path, url string) (*PushTarget, error) {
	return s.PushWith(path, url, PushConfig{})
}

// PushWith starts pushing path to url and returns at once; connecting
// happens in the background. The path need not be published yet: the push
// waits for it (polling four times a second), so a push configured before
// the producer connects works. It waits for an IDR, announces its SPS and
// PPS (RTSP's SDP, RTMP's sequence header; in MPEG-TS they are in-band),
// and writes every encoded frame as soon as the encoder produces it.
// Frames are encoded once, whatever the number of viewers and pushes; a
// push keeps an on-demand stream encoding, except between connection
// attempts. When the remote goes away the push reconnects with exponential
// back-off, logging each failure once with the URL (secrets redacted: the
// password, an RTMP stream key, an SRT streamid and passphrase), and
// starts again from a fresh IDR. A malformed url is refused at once with
// an error naming what is wrong and the form expected.
//
// Close stops the push. Server.Close stops every push of the server.
func (s *Server) PushWith(path, url string, cfg PushConfig) (*PushTarget, error) {
	if err := pathname.Check(path); err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	t := &PushTarget{srv: s, path: path}
	p, err := push.New(push.Config{
		URL:         url,
		Transport:   cfg.Transport,
		Subscribe:   t.subscribe,
		QueueSize:   cfg.QueueSize,
		MinBackoff:  cfg.MinBackoff,
		MaxBackoff:  cfg.MaxBackoff,
		SilentAudio: s.PathAudio(path) == AudioSilent,
		Logger:      s.log.With("path", path),
	})
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", path, err)
	}
	t.p = p
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.pushes.add(t)
	}
	s.mu.Unlock()
	if closed {
		p.Close()
		return nil, ErrServerClosed
	}
	s.log.Info("push started", "path", path, "url", p.URL(), "transport", p.Transport())
	return t, nil
}

// subscribe registers the push's sink on the path, or tells the pusher to
// stop for good once the server is closed.
func (t *PushTarget) subscribe(sink push.Sink) (func(), error) {
	t.srv.mu.Lock()
	closed := t.srv.closed
	t.srv.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%w: %w", push.ErrStop, ErrServerClosed)
	}
	return t.srv.AddSink(t.path, sink)
}

// Path is the pushed path.
func (t *PushTarget) Path() string { return t.path }

// URL is the remote URL, with its secrets redacted: password, RTMP stream
// key, SRT streamid and passphrase.
func (t *PushTarget) URL() string { return t.p.URL() }

// Stats returns the push's counters.
func (t *PushTarget) Stats() PushStats { return PushStats(t.p.Stats()) }

// Close stops the push: the remote sees the end of the stream (RTSP
// TEARDOWN, the RTMP connection closed, SRT shutdown once the last frames
// are acknowledged and played, at most about a second), and Close returns
// when the push's goroutines have stopped. It may be called more than
// once.
func (t *PushTarget) Close() error {
	t.once.Do(func() {
		t.p.Close()
		t.srv.pushes.remove(t)
		t.srv.log.Info("push stopped", "path", t.path, "url", t.p.URL())
	})
	return nil
}

// Pushes returns the server's pushes, sorted by path and URL.
func (s *Server) Pushes() []*PushTarget {
	out := s.pushes.all()
	sort.Slice(out, func(i, j int) bool {
		if out[i].path != out[j].path {
			return out[i].path < out[j].path
		}
		return out[i].URL() < out[j].URL()
	})
	return out
}

// closePushes stops every push of s, side by side (each may wait for a
// TEARDOWN write to a slow remote). Shutdown calls it once the sources
// and producers have stopped (s.closed is set by then, so that no push
// starts after it), and goes on only when the pushes have stopped.
func (s *Server) closePushes() {
	var wg sync.WaitGroup
	for _, t := range s.pushes.all() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Close()
		}()
	}
	wg.Wait()
}

// ParsePushSpec splits a push given as PATH=URL, as in
// `framecast serve --push /cam=rtmp://nginx/live/cam`, and checks both
// (see Server.Push for the URLs taken).
func ParsePushSpec(spec string) (path, url string, err error) {
	path, url, ok := strings.Cut(spec, "=")
	if !ok || path == "" || url == "" {
		shown := push.Redact(spec)
		if ok {
			shown = path + "=" + push.Redact(url)
		}
		return "", "", fmt.Errorf("push %q: want PATH=URL, e.g. /cam=rtsp://mediamtx:8554/cam, /cam=rtmp://nginx/live/cam or /cam=srt://host:9000?streamid=cam", shown)
	}
	if err := pathname.Check(path); err != nil {
		return "", "", fmt.Errorf("push: %w", err)
	}
	if err := push.CheckURL(url); err != nil {
		return "", "", err
	}
	return path, url, nil
}

// pushSet holds a server's pushes, so that Server.Close can stop them.
type pushSet struct {
	mu sync.Mutex
	m  map[*PushTarget]struct{}
}

func (ps *pushSet) add(t *PushTarget) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m == nil {
		ps.m = make(map[*PushTarget]struct{})
	}
	ps.m[t] = struct{}{}
}

func (ps *pushSet) remove(t *PushTarget) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.m, t)
}

func (ps *pushSet) all() []*PushTarget {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]*PushTarget, 0, len(ps.m))
	for t := range ps.m {
		out = append(out, t)
	}
	return out
}
