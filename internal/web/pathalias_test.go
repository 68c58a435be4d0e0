package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/web"
)

// TestAPIRefusesPathAliasesWithoutSkippingCredentials: a stream URL that
// spells a path another way is 400 with the reason, with or without the
// path's credentials — not a redirect to the path, not the path's stream,
// and not another path that needs no credentials.
func TestAPIRefusesPathAliasesWithoutSkippingCredentials(t *testing.T) {
	srv := newFramecast(t, framecast.Config{Auth: []framecast.PathAuth{
		{Path: "/pub", Read: []framecast.Credentials{{User: "viewer", Pass: "pw"}}},
	}})
	servePattern(t, srv, "/pub", 64, 48, 10)
	_, base := newWebWith(t, srv, web.Options{Authorize: func(r *http.Request, path string) bool {
		u, p, _ := r.BasicAuth()
		return srv.CheckRead(path, u, p)
	}})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, creds bool) (int, string) {
		req, err := http.NewRequest(method, base+path, strings.NewReader("v=0\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/sdp")
		if creds {
			req.SetBasicAuth("viewer", "pw")
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	for _, c := range []struct {
		path  string
		creds bool
		code  int
	}{
		{"/api/v1/streams/pub", false, http.StatusUnauthorized},
		{"/api/v1/streams/pub", true, http.StatusOK},
		{"/api/v1/streams/pub/snapshot.jpg", false, http.StatusUnauthorized},
		{"/api/v1/streams/PUB", false, http.StatusNotFound}, // another path: paths are case-sensitive
	} {
		if code, body := do(http.MethodGet, c.path, c.creds); code != c.code {
			t.Errorf("GET %s (credentials: %v): %d %q, want %d", c.path, c.creds, code, body, c.code)
		}
	}

	for _, c := range []struct{ method, path, why string }{
		{http.MethodGet, "/api/v1/streams/pub/", `path "/pub/" ends with /`},
		{http.MethodGet, "/api/v1/streams//pub", `path "//pub" has an empty segment (//)`},
		{http.MethodGet, "/api/v1/streams/pu%62", `path "/pu%62" has % at byte 3`},
		{http.MethodGet, "/api/v1/streams/./pub", `path "/./pub" has a "." segment`},
		{http.MethodGet, "/api/v1/streams/pub/../pub", `path "/pub/../pub" has a ".." segment`},
		{http.MethodGet, "/api/v1/streams/pub//snapshot.jpg", `path "/pub/" ends with /`},
		{http.MethodGet, "/api/v1/streams//pub/snapshot.jpg", `path "//pub" has an empty segment (//)`},
		{http.MethodGet, "/api/v1/streams/pu%62/snapshot.jpg", `path "/pu%62" has % at byte 3`},
		{http.MethodGet, "/api/v1/streams/./pub/snapshot.jpg", `path "/./pub" has a "." segment`},
		{http.MethodGet, "/api/v1/streams/x/../pub/snapshot.jpg", `path "/x/../pub" has a ".." segment`},
		{http.MethodPost, "/api/v1/streams/pub//whep", `path "/pub/" ends with /`},
		{http.MethodPost, "/api/v1/streams/pu%62/whep", `path "/pu%62" has % at byte 3`},
		{http.MethodPost, "/api/v1/streams/./pub/whep", `path "/./pub" has a "." segment`},
	} {
		for _, creds := range []bool{false, true} {
			if code, body := do(c.method, c.path, creds); code != http.StatusBadRequest || !strings.Contains(body, c.why) {
				t.Errorf("%s %s (credentials: %v): %d %q, want 400 saying %q", c.method, c.path, creds, code, body, c.why)
			}
		}
	}
}
