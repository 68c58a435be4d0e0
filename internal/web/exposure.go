package web

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
)

// warnIfOpen warns when the HTTP listener at addr can be reached from
// other hosts and some paths are open there: the page, snapshots and
// previews of those paths are anyone's who reaches it. It is framecast's
// warning for its RTSP listener, told through Authorize: it asks it, for a
// request without credentials, about each stream published now and about a
// path nobody named, which stands for every path without credentials of
// its own (any path a producer may publish later).
func (s *Server) warnIfOpen(addr net.Addr) {
	if isLoopback(addr) {
		return
	}
	if s.opts.Authorize == nil {
		s.log.Warn("http listener is reachable from other hosts and every path is open on it: anyone who reaches it may watch every stream",
			"address", addr.String(), "hint", "set web Options.Authorize, or listen on 127.0.0.1")
		return
	}
	anon, err := http.NewRequest(http.MethodGet, "/", nil)
	if err != nil {
		return
	}
	anon.RemoteAddr = addr.String()
	var open []string
	for _, in := range s.fc.Streams() {
		if s.opts.Authorize(anon, in.Path) {
			open = append(open, in.Path)
		}
	}
	var b [8]byte
	rand.Read(b[:])
	others := s.opts.Authorize(anon, "/unnamed-"+hex.EncodeToString(b[:]))
	if len(open) == 0 && !others {
		return
	}
	s.log.Warn("http listener is reachable from other hosts and paths without read credentials are open on it: anyone who reaches it may watch them",
		"address", addr.String(), "open", open, "unlisted_paths_open", others,
		"hint", `add read credentials for "*" (auth), or listen on 127.0.0.1`)
}

// isLoopback reports whether addr can be reached only from this host.
func isLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true // not a network listener
	}
	return false
}
