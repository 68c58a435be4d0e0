// Package rawreader is the raw-frame source of framecast serve --stdin: it
// reads whole frames of one format from an io.Reader (standard input fed by
// ffmpeg -f rawvideo, a pipe, a file) and publishes them on one path. It
// sits at the start of framecast's flow (source → convert → encode →
// fan-out) and uses only the public API (Publish, WriteFrame). Like every
// source under internal/source, it is a framecast.Component: the program
// attaches it to the Server at StageSource, and Shutdown closes it before
// anything downstream.
package rawreader

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/framecast/framecast"
)

// Options configures a Source.
type Options struct {
	// Name names the reader in logs and errors, e.g. "stdin"; "" means
	// "reader".
	Name string
	// Logger receives one line when reading ends by itself: at the end of
	// the input (info) or on an error (error). nil means slog.Default().
	Logger *slog.Logger
}

// Source reads frames from a reader into one stream. Its methods are safe
// for concurrent use.
type Source struct {
	st   *framecast.Stream
	r    io.Reader
	name string
	log  *slog.Logger

	stop chan struct{} // closed by Close
	once sync.Once
	done chan struct{} // closed when reading has ended and st is closed
	n    int           // frames written; read after done
	err  error         // why reading ended; read after done
}

// Start publishes path on srv with format f and starts the goroutine that
// reads frames of f.FrameSize() bytes from r and writes each to the
// stream, until r ends, a read or a write fails, or Close. Then it closes
// the stream: its producer leaves, and the server's Linger and Idle say
// what viewers get. A partial last frame is an error. Reading reuses one
// frame buffer.
func Start(srv *framecast.Server, path string, f framecast.Format, r io.Reader, opts Options) (*Source, error) {
	if opts.Name == "" {
		opts.Name = "reader"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	st, err := srv.Publish(path, f)
	if err != nil {
		return nil, err
	}
	s := &Source{st: st, r: r, name: opts.Name, log: opts.Logger,
		stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s, nil
}

// Stream is the published stream.
func (s *Source) Stream() *framecast.Stream { return s.st }

// Done is closed when reading has ended and the stream is closed.
func (s *Source) Done() <-chan struct{} { return s.done }

// Result returns, once Done is closed, the number of frames written and
// why reading ended: nil at the end of the input or after Close.
func (s *Source) Result() (frames int, err error) {
	<-s.done
	return s.n, s.err
}

// Close stops reading and returns when the source's goroutine has stopped
// and the stream is closed. If the reader is an io.Closer, Close closes it
// to end a Read in progress; a Read that closing cannot interrupt (a
// blocking file descriptor, such as an inherited pipe or a terminal) keeps
// Close waiting until it returns, which Server.Shutdown's context bounds.
// Close returns nil (Result says how reading ended) and may be called more
// than once.
func (s *Source) Close() error {
	s.once.Do(func() {
		close(s.stop)
		if c, ok := s.r.(io.Closer); ok {
			c.Close()
		}
	})
	<-s.done
	return nil
}

func (s *Source) run() {
	defer close(s.done)
	defer s.st.Close()
	s.n, s.err = s.read()
	select {
	case <-s.stop:
		s.err = nil // closed for it: the read's error says only that
		return
	default:
	}
	if s.err != nil {
		s.log.Error(s.name+" failed: stream stopped, viewers stay connected", "path", s.st.Path(), "frames", s.n, "error", s.err)
		return
	}
	s.log.Info(s.name+" reached end of file: stream stopped, viewers stay connected", "path", s.st.Path(), "frames", s.n)
}

// read copies whole frames from s.r to the stream until the end of the
// input, an error or Close, and returns the number of frames written.
func (s *Source) read() (int, error) {
	buf := make([]byte, s.st.Format().FrameSize())
	n := 0
	for {
		select {
		case <-s.stop:
			return n, nil
		default:
		}
		got, err := io.ReadFull(s.r, buf)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return n, fmt.Errorf("%s ended in the middle of frame %d: got %d of %d bytes", s.name, n+1, got, len(buf))
		}
		if err != nil {
			return n, fmt.Errorf("read %s: %w", s.name, err)
		}
		if err := s.st.WriteFrame(buf); err != nil {
			return n, fmt.Errorf("%s frame %d: %w", s.name, n+1, err)
		}
		n++
	}
}
