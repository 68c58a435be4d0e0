package rtsp

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/framecast/framecast/internal/pathname"
)

// checkPath answers 400 Bad Request to a request whose path is not
// canonical by pathname.Check, before credentials are looked up, so that
// no spelling of a path reaches another path's stream or skips its
// credentials. It returns nil when the request may go on.
//
// gortsplib hands the handler a path it has already worked on: the URL
// path percent-decoded ("/pu%62" is "/pub") with one trailing slash cut
// (DESCRIBE rtsp://h/pub/ is "/pub", and rtsp://h/pub// is "/pub/"); dot
// segments and "//" are left as they are. So both that path and the
// request URL's own path are checked: the URL must not hold a '%', and a
// DESCRIBE (exact), whose URL the viewer wrote, must name the path exactly.
// SETUP and PLAY keep gortsplib's reading, since their URLs are built from
// the Content-Base ("rtsp://h/pub/") and the control attribute.
func (h *handler) checkPath(conn *gortsplib.ServerConn, req *base.Request, path string, exact bool) *base.Response {
	err := pathname.Check(path)
	if raw := (*url.URL)(req.URL).EscapedPath(); err == nil && (strings.Contains(raw, "%") || exact && raw != path) {
		err = pathname.Check(raw)
	}
	if err == nil {
		return nil
	}
	h.log.Debug("request for a path that is not canonical", "method", req.Method, "url", urlWithoutCredentials(req.URL),
		"remote", conn.NetConn().RemoteAddr(), "error", err)
	return &base.Response{
		StatusCode: base.StatusBadRequest,
		Header:     base.Header{"Content-Type": base.HeaderValue{"text/plain"}},
		Body:       []byte(err.Error() + "\n"),
	}
}

// checkPlayPath refuses a PLAY on a path other than the one its session
// set up: gortsplib checks this only for the first PLAY of a session.
func (h *handler) checkPlayPath(ctx *gortsplib.ServerHandlerOnPlayCtx) *base.Response {
	if res := h.checkPath(ctx.Conn, ctx.Request, ctx.Path, false); res != nil {
		return res
	}
	if set := ctx.Session.Path(); ctx.Path != set {
		return &base.Response{
			StatusCode: base.StatusBadRequest,
			Header:     base.Header{"Content-Type": base.HeaderValue{"text/plain"}},
			Body:       []byte(fmt.Sprintf("PLAY of %s in a session set up for %s\n", ctx.Path, set)),
		}
	}
	return nil
}

func urlWithoutCredentials(u *base.URL) string {
	if u == nil {
		return ""
	}
	return u.CloneWithoutCredentials().String()
}
