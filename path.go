package framecast

import (
	"fmt"
	"sync"
	"time"

	"github.com/framecast/framecast/internal/pathname"
	"github.com/framecast/framecast/internal/rtsp"
)

// This file is where a path lives and dies. A path is created by its first
// Publish (the Go API, an ingest producer, a source), keeps its mount and
// viewers across producers, lingers for Config.Linger after its producer
// leaves (repeating its last picture), and is then removed: encoder,
// goroutine, mount, API entry and metric series are freed and its viewers
// are disconnected. Paths in Config.KeepPaths are never removed.
//
// The registry is guarded by Server.mu, which is never held across blocking
// work: opening an encoder (x264), draining one or closing a mount happen
// after the entry is marked, with the lock released.

// defaultLinger is how long a path whose producer left keeps its viewers.
const defaultLinger = 30 * time.Second

// pathEntry is one served path in the registry.
type pathEntry struct {
	name    string
	st      *Stream     // its stream: encoder, last picture, mount; nil while opening
	owner   string      // who publishes it; "" while it lingers
	opening bool        // a Publish is opening its encoder, outside Server.mu
	linger  *time.Timer // removes it when the linger is over; nil while produced or kept
	kept    bool        // in Config.KeepPaths: never removed
	// gone is closed when the path, being removed, is no longer mounted: a
	// producer that comes then waits for it and publishes a new path.
	gone chan struct{}
}

// pathSink is a consumer registered by AddSink. It belongs to the path's
// name, not to one mount: when a removed path is published again, the
// sink is attached to the new mount.
type pathSink struct {
	f      rtsp.Sink
	mount  *rtsp.Mount // the mount it is attached to, or nil
	detach func()
}

// publish is Publish for a producer described by owner (e.g. its remote
// address), which is named to a second producer refused on the path.
func (s *Server) publish(path string, f Format, owner string) (*Stream, error) {
	if err := pathname.Check(path); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	f = f.withDefaults()
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("publish %s: %w", path, err)
	}
	s.mu.Lock()
	for s.paths[path] != nil && s.paths[path].gone != nil {
		gone := s.paths[path].gone
		s.mu.Unlock()
		<-gone
		s.mu.Lock()
	}
	if s.closed {
		s.mu.Unlock()
		return nil, ErrServerClosed
	}
	e := s.paths[path]
	if e != nil && (e.opening || e.owner != "") {
		s.mu.Unlock()
		return nil, fmt.Errorf("publish %s: %w (from %s)", path, ErrPathInUse, e.holder())
	}
	if e == nil && s.pathsFullLocked() {
		s.mu.Unlock()
		return nil, fmt.Errorf("publish %s: %w (%d)", path, ErrTooManyProducers, s.cfg.MaxProducers)
	}
	if e == nil {
		e = &pathEntry{name: path, kept: s.keep[path]}
		s.paths[path] = e
	}
	old := e.st
	if e.linger != nil {
		e.linger.Stop()
		e.linger = nil
	}
	e.st, e.owner, e.opening = nil, owner, true
	s.opens.Add(1)
	s.mu.Unlock()
	defer s.opens.Done()

	if old != nil {
		// The new producer replaces the repeats of the one that left; the
		// mount and its viewers stay.
		old.stopEncoding()
	}
	st, err := newStream(s, path, f, owner)

	s.mu.Lock()
	e.opening = false
	if err != nil || s.closed {
		var mount *rtsp.Mount
		if old != nil {
			mount = old.mount
		}
		if s.paths[path] == e {
			delete(s.paths, path)
		}
		s.mu.Unlock()
		if st != nil {
			st.stopEncoding()
			mount = st.mount
		}
		if mount != nil {
			s.rtsp.Unmount(mount)
		}
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", path, err)
		}
		return nil, ErrServerClosed
	}
	e.st = st
	s.attachSinksLocked(path, st.mount)
	s.mu.Unlock()
	s.log.Info("stream published", "path", path, "producer", owner, "format", f.PixelFormat.String(),
		"size", fmt.Sprintf("%dx%d", f.Width, f.Height), "fps", f.FPS,
		"bitrate_kbps", st.enc.BitrateKbps, "gop", st.enc.GOP)
	return st, nil
}

// holder names who holds the path, for a producer refused on it.
func (e *pathEntry) holder() string {
	if e.owner == "" {
		return "another producer"
	}
	return e.owner
}

// release is called by Stream.Close once its frames are encoded: the path
// lingers, repeating its last picture, then is removed.
func (s *Server) release(st *Stream) {
	s.mu.Lock()
	e := s.paths[st.path]
	if e == nil || e.st != st || e.owner == "" {
		s.mu.Unlock()
		return
	}
	e.owner = ""
	if s.closed || e.kept {
		s.mu.Unlock()
		return
	}
	linger := s.cfg.Linger
	if linger > 0 {
		e.linger = time.AfterFunc(linger, func() { s.expire(e, st) })
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.expire(e, st)
}

// expire removes the path of e if st still lingers there.
func (s *Server) expire(e *pathEntry, st *Stream) {
	s.mu.Lock()
	if s.closed || s.paths[e.name] != e || e.st != st || e.owner != "" || e.opening || e.gone != nil {
		s.mu.Unlock()
		return
	}
	// The entry stays, marked, until the mount is gone: a producer that
	// publishes the path meanwhile must not get the mount being closed.
	e.linger, e.gone = nil, make(chan struct{})
	s.removing.Add(1)
	s.mu.Unlock()
	defer s.removing.Done()
	viewers := st.mount.Viewers()
	st.stopEncoding()
	s.rtsp.Unmount(st.mount)
	s.mu.Lock()
	if s.paths[e.name] == e {
		delete(s.paths, e.name)
	}
	close(e.gone)
	s.mu.Unlock()
	s.log.Info("path removed", "path", e.name, "after", s.cfg.Linger, "viewers_disconnected", viewers)
}

// closePaths empties the registry and stops every stream, once the server
// is marked closed and no producer can publish.
func (s *Server) closePaths() {
	s.opens.Wait()
	s.mu.Lock()
	var streams []*Stream
	for _, e := range s.paths {
		if e.linger != nil {
			e.linger.Stop()
		}
		if e.st != nil {
			streams = append(streams, e.st)
		}
	}
	s.paths = map[string]*pathEntry{}
	s.mu.Unlock()
	s.removing.Wait()
	for _, st := range streams {
		st.stopEncoding()
	}
}

// lookup returns the stream serving path, with or without a producer.
func (s *Server) lookup(path string) *Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.paths[path]; e != nil {
		return e.st
	}
	return nil
}

// pathOwner returns who publishes path, if anyone.
func (s *Server) pathOwner(path string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.paths[path]
	if e == nil || (e.owner == "" && !e.opening) {
		return "", false
	}
	return e.holder(), true
}

// producersFull reports whether a producer of path would exceed
// MaxProducers, which counts lingering paths too; taking over a lingering
// path is always allowed.
func (s *Server) producersFull(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paths[path] == nil && s.pathsFullLocked()
}

// pathsFullLocked reports whether a new path would exceed MaxProducers.
func (s *Server) pathsFullLocked() bool {
	return s.cfg.MaxProducers > 0 && len(s.paths) >= s.cfg.MaxProducers
}

// entries returns the paths with a stream and their producers.
func (s *Server) entries() (streams []*Stream, owners []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.paths {
		if e.st != nil {
			streams = append(streams, e.st)
			owners = append(owners, e.owner)
		}
	}
	return streams, owners
}

// addSink registers f on path until the returned function is called.
func (s *Server) addSink(path string, f rtsp.Sink) (func(), error) {
	s.mu.Lock()
	e := s.paths[path]
	if s.closed || e == nil || e.st == nil {
		s.mu.Unlock()
		return nil, ErrNoStream
	}
	ps := &pathSink{f: f}
	reg := s.sinks[path]
	if reg == nil {
		reg = make(map[*pathSink]struct{})
		s.sinks[path] = reg
	}
	reg[ps] = struct{}{}
	s.attachLocked(ps, e.st.mount)
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.sinks[path], ps)
			if len(s.sinks[path]) == 0 {
				delete(s.sinks, path)
			}
			detach := ps.detach
			ps.detach, ps.mount = nil, nil
			s.mu.Unlock()
			if detach != nil {
				detach()
			}
		})
	}, nil
}

// attachSinksLocked attaches path's registered sinks to m, its new mount.
func (s *Server) attachSinksLocked(path string, m *rtsp.Mount) {
	for ps := range s.sinks[path] {
		s.attachLocked(ps, m)
	}
}

func (s *Server) attachLocked(ps *pathSink, m *rtsp.Mount) {
	if ps.mount == m {
		return
	}
	if ps.detach != nil {
		ps.detach()
	}
	ps.mount, ps.detach = m, m.AddSink(ps.f)
}
