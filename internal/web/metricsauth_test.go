package web_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/web"
)

// getAs fetches url with Basic credentials (none when user is empty).
func getAs(t *testing.T, url, user, pass string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// checkRead is what framecast serve wires as Authorize: the RTSP read
// credentials, presented as Basic.
func checkRead(srv *framecast.Server) func(*http.Request, string) bool {
	return func(r *http.Request, path string) bool {
		user, pass, _ := r.BasicAuth()
		return srv.CheckRead(path, user, pass)
	}
}

func TestMetricsAskForMetricsCredentials(t *testing.T) {
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/test", 64, 48, 30)
	// sha256 of "scrapepass"
	_, base := newWebWith(t, srv, web.Options{MetricsCredentials: []framecast.Credentials{
		{User: "prometheus", Pass: "sha256:50208067f89b5d0ae85f401defedac9a0e5f0275aab5a085c1a55a0beaa6cf55"},
		{User: "other", Pass: "plain"},
	}})
	for _, c := range []struct {
		user, pass string
		want       int
	}{
		{"", "", http.StatusUnauthorized},
		{"prometheus", "wrong", http.StatusUnauthorized},
		{"other", "scrapepass", http.StatusUnauthorized},
		{"prometheus", "scrapepass", http.StatusOK},
		{"other", "plain", http.StatusOK},
	} {
		res, body := getAs(t, base+"/metrics", c.user, c.pass)
		if res.StatusCode != c.want {
			t.Errorf("/metrics as %q:%q: %s, want %d", c.user, c.pass, res.Status, c.want)
		}
		if c.want == http.StatusUnauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("/metrics as %q:%q: WWW-Authenticate %q, want a Basic challenge", c.user, c.pass, res.Header.Get("WWW-Authenticate"))
		}
		if c.want == http.StatusOK && !strings.Contains(body, `framecast_frames_in_total{path="/test"}`) {
			t.Errorf("/metrics as %q: no series of /test", c.user)
		}
		if c.want != http.StatusOK && strings.Contains(body, "/test") {
			t.Errorf("/metrics refused to %q:%q names /test: %q", c.user, c.pass, body)
		}
	}
}

func TestMetricsCredentialsAreChecked(t *testing.T) {
	srv := newFramecast(t, framecast.Config{})
	for _, c := range []framecast.Credentials{{User: "", Pass: "x"}, {User: "u", Pass: ""}, {User: "a:b", Pass: "x"}, {User: "u", Pass: "sha256:abc"}} {
		if ws, err := web.New(srv, web.Options{MetricsCredentials: []framecast.Credentials{c}, Logger: testLogger()}); err == nil {
			ws.Close()
			t.Errorf("web.New took metrics credentials %+v", c)
		}
	}
}

// TestAnonymousScrapeNamesNoProtectedPath: without metrics credentials,
// /metrics leaves out the paths the scrape may not read, as the JSON API
// does, and shows them to a scrape with their read credentials.
func TestAnonymousScrapeNamesNoProtectedPath(t *testing.T) {
	srv := newFramecast(t, framecast.Config{Auth: []framecast.PathAuth{
		{Path: "/private", Read: []framecast.Credentials{{User: "viewer", Pass: "viewerpass"}}},
	}})
	servePattern(t, srv, "/public", 64, 48, 30)
	servePattern(t, srv, "/private", 64, 48, 30)
	_, base := newWebWith(t, srv, web.Options{Authorize: checkRead(srv)})
	res, text := getAs(t, base+"/metrics", "", "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("anonymous /metrics: %s", res.Status)
	}
	if !strings.Contains(text, `framecast_frames_in_total{path="/public"}`) {
		t.Error("anonymous /metrics lacks the open path /public")
	}
	if strings.Contains(text, "private") {
		t.Error("anonymous /metrics names the protected path /private")
	}
	res, text = getAs(t, base+"/metrics", "viewer", "viewerpass")
	if res.StatusCode != http.StatusOK || !strings.Contains(text, `framecast_frames_in_total{path="/private"}`) {
		t.Errorf("/metrics with /private's read credentials: %s, series of /private present %v",
			res.Status, strings.Contains(text, `path="/private"`))
	}
}
