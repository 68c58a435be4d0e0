package web

import (
	"net/http"
	"strings"

	"github.com/framecast/framecast/internal/pathname"
)

// streamsPrefix starts the URLs of one stream: /api/v1/streams/PATH,
// /api/v1/streams/PATH/snapshot.jpg and /api/v1/streams/PATH/whep.
const streamsPrefix = "/api/v1/streams/"

// refuseAliases answers 400 Bad Request, with pathname's reason, to a
// stream URL whose path is not canonical (pathname.Check), before next
// sees it. It reads the URL as sent: ServeMux would answer "//", "." and
// ".." with a redirect to a cleaned URL, and the path handlers get is
// percent-decoded ("/api/v1/streams/pu%62" is /pub), so each would make
// one more spelling of a path. The web API thus takes the paths ingest and
// RTSP take, spelled the same way.
func refuseAliases(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// "/api/v1/streams/" alone names no stream: the router answers it.
		if rest, ok := strings.CutPrefix(r.URL.EscapedPath(), streamsPrefix); ok && rest != "" {
			if err := pathname.Check(streamOf(rest)); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// streamOf is the stream path of a URL path after streamsPrefix, read as
// serveStream reads it.
func streamOf(rest string) string {
	rest = "/" + rest
	switch {
	case strings.HasSuffix(rest, "/snapshot.jpg"):
		return strings.TrimSuffix(rest, "/snapshot.jpg")
	case strings.HasSuffix(rest, "/whep"):
		return strings.TrimSuffix(rest, "/whep")
	}
	return rest
}
