package web_test

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/web"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// serveLogged serves on addr with a logger writing to a buffer until one
// request is answered (by then Serve has logged what it logs at start),
// then closes the server and returns the log.
func serveLogged(t *testing.T, srv *framecast.Server, addr string, opts web.Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s here: %v", addr, err)
	}
	var logs syncBuffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	ws, err := web.New(srv, opts)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- ws.Serve(ln) }()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	res, _ := get(t, "http://"+net.JoinHostPort("127.0.0.1", port)+"/api/v1/streams")
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/streams: %s", res.Status)
	}
	ws.Close()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	return logs.String()
}

// TestOpenPathsOnANonLoopbackListenerAreWarned: an HTTP listener on all
// addresses warns, at start, when a viewer without credentials may watch
// some path; on loopback, or with read credentials for every path, it does
// not.
func TestOpenPathsOnANonLoopbackListenerAreWarned(t *testing.T) {
	open := newFramecast(t, framecast.Config{Auth: []framecast.PathAuth{
		{Path: "/private", Read: []framecast.Credentials{{User: "viewer", Pass: "viewerpass"}}},
	}})
	servePattern(t, open, "/private", 64, 48, 30)
	closed := newFramecast(t, framecast.Config{Auth: []framecast.PathAuth{
		{Path: "*", Read: []framecast.Credentials{{User: "viewer", Pass: "viewerpass"}}},
	}})
	servePattern(t, closed, "/cam", 64, 48, 30)
	const warning = "level=WARN msg=\"http listener is reachable from other hosts"
	for _, c := range []struct {
		name      string
		srv       *framecast.Server
		addr      string
		authorize bool
		warn      string // in the warning; "" for none
	}{
		{"no Authorize on all addresses", open, "0.0.0.0:0", false, "every path is open"},
		{"paths without credentials on all addresses", open, "0.0.0.0:0", true, "unlisted_paths_open=true"},
		{"credentials for every path on all addresses", closed, "0.0.0.0:0", true, ""},
		{"no Authorize on loopback", open, "127.0.0.1:0", false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var opts web.Options
			if c.authorize {
				opts.Authorize = checkRead(c.srv)
			}
			logs := serveLogged(t, c.srv, c.addr, opts)
			i := strings.Index(logs, warning)
			switch {
			case c.warn == "" && i >= 0:
				t.Errorf("warned:\n%s", logs)
			case c.warn != "" && (i < 0 || !strings.Contains(logs[i:], c.warn)):
				t.Errorf("no warning saying %q:\n%s", c.warn, logs)
			case c.warn != "" && strings.Contains(logs, "/private"):
				t.Errorf("the warning names the protected path /private:\n%s", logs)
			}
		})
	}
}
