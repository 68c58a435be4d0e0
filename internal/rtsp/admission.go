package rtsp

import (
	"fmt"
	"strings"
	"sync"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// admission counts the viewer sessions let in, per path and in total. A
// session is counted from its first successful SETUP to its end, not only
// while it plays: two viewers that SETUP at the same time cannot both take
// the last place, and a viewer let in is never refused at PLAY.
type admission struct {
	mu       sync.Mutex
	sessions map[*gortsplib.ServerSession]string // admitted session → path
	perPath  map[string]int
}

// refusal is the answer to a request the server will not serve: a status
// code, with a reason phrase and a body that say why (ffmpeg prints the
// reason phrase).
func refusal(code base.StatusCode, why string) *base.Response {
	return &base.Response{
		StatusCode:    code,
		StatusMessage: base.StatusMessages[code] + " (" + why + ")",
		Header:        base.Header{"Content-Type": base.HeaderValue{"text/plain"}},
		Body:          []byte(why + "\n"),
	}
}

// checkTransport refuses a transport the configuration disables with 461
// Unsupported Transport. gortsplib itself refuses UDP when it has no UDP
// listeners and multicast when it has no multicast range; TCP it always
// takes, so TCP is refused here.
func (h *handler) checkTransport(tr *gortsplib.SessionTransport) *base.Response {
	if tr != nil && tr.Protocol == gortsplib.ProtocolTCP && h.cfg.DisableTCP {
		return refusal(base.StatusUnsupportedTransport, h.offered())
	}
	return nil
}

// explainUnsupportedTransport explains the 461 Unsupported Transport that
// gortsplib sends by itself (for UDP or multicast when they are off) with
// the transports the server offers. OnResponse calls it.
func (h *handler) explainUnsupportedTransport(res *base.Response) {
	if res.StatusCode == base.StatusUnsupportedTransport && res.StatusMessage == "" && len(res.Body) == 0 {
		// gortsplib has set CSeq and Server already: keep the header.
		r := refusal(base.StatusUnsupportedTransport, h.offered())
		res.StatusMessage, res.Body = r.StatusMessage, r.Body
		res.Header["Content-Type"] = r.Header["Content-Type"]
	}
}

// offered says which transports the server offers, for a 461.
func (h *handler) offered() string {
	var names []string
	if h.cfg.UDPRTPAddress != "" {
		names = append(names, "udp")
	}
	if !h.cfg.DisableTCP {
		names = append(names, "tcp")
	}
	if h.cfg.MulticastIPRange != "" {
		names = append(names, "multicast")
	}
	msg := "this server offers " + strings.Join(names, ", ")
	if h.cfg.TLSConfig != nil && (h.cfg.UDPRTPAddress != "" || h.cfg.MulticastIPRange != "") {
		msg += "; over RTSPS, UDP needs SRTP (RTP/SAVP)"
	}
	return msg
}

// admit counts ss as a viewer of path, or returns a 503 Service Unavailable
// saying which limit is reached. A session already admitted passes.
func (h *handler) admit(ss *gortsplib.ServerSession, path string) *base.Response {
	a := &h.adm
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.sessions[ss]; ok {
		return nil
	}
	if maxAll := h.cfg.MaxViewers; maxAll > 0 && len(a.sessions) >= maxAll {
		h.log.Warn("viewer refused: server full", "path", path, "remote", remoteOf(ss), "max_viewers", maxAll)
		return refusal(base.StatusServiceUnavailable, fmt.Sprintf("the server has its maximum of %d viewers", maxAll))
	}
	if maxPath := h.cfg.MaxViewersPerPath; maxPath > 0 && a.perPath[path] >= maxPath {
		h.log.Warn("viewer refused: path full", "path", path, "remote", remoteOf(ss), "max_viewers_per_path", maxPath)
		return refusal(base.StatusServiceUnavailable, fmt.Sprintf("%s has its maximum of %d viewers", path, maxPath))
	}
	a.sessions[ss] = path
	a.perPath[path]++
	return nil
}

// release forgets a session when it ends.
func (h *handler) release(ss *gortsplib.ServerSession) {
	a := &h.adm
	a.mu.Lock()
	defer a.mu.Unlock()
	path, ok := a.sessions[ss]
	if !ok {
		return
	}
	delete(a.sessions, ss)
	if a.perPath[path]--; a.perPath[path] <= 0 {
		delete(a.perPath, path)
	}
}

func remoteOf(ss *gortsplib.ServerSession) string {
	if conns := ss.Conns(); len(conns) > 0 {
		return conns[0].NetConn().RemoteAddr().String()
	}
	return ""
}
