package rtsp

import (
	"strings"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// exchange is what a connection's current request leaves for its response:
// the request, and the SETUP gate its SETUP entered. It is the connection's
// user data. gortsplib calls OnRequest (in the connection's goroutine), the
// method's handler (OnSetup in the session's goroutine) and OnResponse
// (in the connection's goroutine) in turn, handing the request over
// through channels, so the three never touch it at once.
type exchange struct {
	req     *base.Request
	gate    *setupGate
	session *gortsplib.ServerSession
}

// OnRequest starts the exchange of a request. A SETUP from GStreamer loses
// its User-Agent first (it is kept as X-Framecast-User-Agent): gortsplib
// answers such a SETUP only after a 1 s sleep, a workaround for
// GStreamer's rtspclientsink publishers, and framecast takes no RTSP
// publishers. Without it every rtspsrc viewer started 1 s late, and held
// the SETUP gate, and so the other viewers of the path, meanwhile.
func (h *handler) OnRequest(sc *gortsplib.ServerConn, req *base.Request) {
	if req.Method == base.Setup {
		if ua, ok := req.Header["User-Agent"]; ok && len(ua) == 1 && strings.HasPrefix(ua[0], "GStreamer") {
			req.Header["X-Framecast-User-Agent"] = ua
			delete(req.Header, "User-Agent")
		}
	}
	sc.SetUserData(&exchange{req: req})
}

// OnResponse ends the exchange of a request: a SETUP leaves the gate it
// entered, since gortsplib is done with the session's set-up medias by
// now; a PLAY or TEARDOWN without a session is 454 Session Not Found; a 461
// says which transports the server offers.
func (h *handler) OnResponse(sc *gortsplib.ServerConn, res *base.Response) {
	if ex, ok := sc.UserData().(*exchange); ok {
		sc.SetUserData(nil)
		if ex.gate != nil {
			ex.gate.leave(ex.session)
		}
		h.sessionNotFound(ex.req, res)
	}
	h.explainUnsupportedTransport(res)
}

// sessionNotFound turns gortsplib's 501 Not Implemented to a PLAY or
// TEARDOWN without a Session header into 454 Session Not Found: the server
// implements both, and they need a session. gortsplib has set CSeq and
// Server already: the header is kept.
func (h *handler) sessionNotFound(req *base.Request, res *base.Response) {
	if res.StatusCode != base.StatusNotImplemented || (req.Method != base.Play && req.Method != base.Teardown) {
		return
	}
	r := refusal(base.StatusSessionNotFound, string(req.Method)+" needs the session of a SETUP: no Session header")
	res.StatusCode, res.StatusMessage, res.Body = r.StatusCode, r.StatusMessage, r.Body
	res.Header["Content-Type"] = r.Header["Content-Type"]
}

// OnConnClose logs a connection closed before its first request: silent,
// garbage, or cut off by the first request's deadline (an i/o timeout).
func (h *handler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	if c, ok := ctx.Conn.NetConn().(*firstRequestConn); ok && c.silent() {
		h.log.Debug("rtsp connection closed before its first request", "remote", c.RemoteAddr(), "error", ctx.Error)
	}
}
