package rtsp

import (
	"bufio"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// flakyListener fails its first accepts with EMFILE, and every accept with
// EINVAL once broken is closed.
type flakyListener struct {
	net.Listener
	mu     sync.Mutex
	emfile int
	broken chan struct{}
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.emfile > 0 {
		l.emfile--
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	l.mu.Unlock()
	select {
	case <-l.broken:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EINVAL)}
	default:
	}
	return l.Listener.Accept()
}

func listenFlaky(t *testing.T, fl *flakyListener) *Server {
	t.Helper()
	s, err := Listen(Config{
		Address: "127.0.0.1:0",
		Logger:  slog.New(slog.DiscardHandler),
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			fl.Listener = l
			return fl, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// options sends an RTSP OPTIONS request and returns the status line.
func options(t *testing.T, addr net.Addr) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("OPTIONS rtsp://" + addr.String() + "/ RTSP/1.0\r\nCSeq: 1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer to OPTIONS: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestRTSPServesAgainAfterAcceptFailsWithEMFILE(t *testing.T) {
	fl := &flakyListener{emfile: 3, broken: make(chan struct{})}
	s := listenFlaky(t, fl)
	defer s.Close()
	if got := options(t, s.Addr()); got != "RTSP/1.0 200 OK" {
		t.Fatalf("OPTIONS after EMFILE answered %q", got)
	}
	if n := s.AcceptRetries(); n != 3 {
		t.Errorf("AcceptRetries() = %d, want 3", n)
	}
	select {
	case err := <-s.Err():
		t.Fatalf("EMFILE was reported as fatal: %v", err)
	default:
	}
}

func TestRTSPErrReportsAListenerGoneForGood(t *testing.T) {
	fl := &flakyListener{broken: make(chan struct{})}
	s := listenFlaky(t, fl)
	defer s.Close()
	close(fl.broken)
	// The accept loop is blocked in the real Accept: wake it.
	if c, err := net.Dial("tcp", s.Addr().String()); err == nil {
		defer c.Close()
	}
	select {
	case err := <-s.Err():
		if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Err() sent %v, want the accept error (EINVAL)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Err() sent nothing 30 s after the listener failed")
	}
}

func TestRTSPErrSendsNothingOnClose(t *testing.T) {
	s, err := Listen(Config{Address: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // returns after the watcher did
	select {
	case err := <-s.Err():
		t.Fatalf("Err() sent %v after Close", err)
	default:
	}
}
