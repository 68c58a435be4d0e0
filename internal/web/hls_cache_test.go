package web_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
)

// nginxCacheConf is the HTTP cache of docs/push.md's "HLS behind an HTTP
// cache": nginx in front of framecast's HLS, keeping what framecast marks
// cacheable (segments, parts and the init file: Cache-Control max-age)
// and passing playlists (no-cache) through, one request upstream at a
// time per file (proxy_cache_lock). Its arguments: the directory (three
// times), the listen address, the upstream address.
const nginxCacheConf = `events { worker_connections 256; }
http {
    access_log off;
    proxy_temp_path %s/proxy_temp;
    client_body_temp_path %s/body_temp;
    proxy_cache_path %s/cache levels=1:2 keys_zone=hls:4m max_size=256m inactive=2m use_temp_path=off;
    server {
        listen %s;
        location / {
            proxy_pass http://%s;
            proxy_http_version 1.1;
            proxy_cache hls;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 5s;
            add_header X-Cache-Status $upstream_cache_status always;
        }
    }
}
`

// startNginxCache runs nginx as nginxCacheConf's cache of upstream
// (host:port) until the test ends and returns its address.
func startNginxCache(t *testing.T, upstream string) string {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	testkit.StartNginx(t, dir, fmt.Sprintf(nginxCacheConf, dir, dir, dir, addr, upstream), addr, nil)
	return addr
}

// TestHLSBehindAnHTTPCache puts nginx's proxy cache in front of the HLS
// of a stream: ffmpeg plays the test pattern through it (frames in order,
// colours right), a second viewer's requests for the same segment and
// init file are answered by the cache (HIT) with the bytes framecast
// served, and the media playlist is never cached (it changes with every
// part; the multivariant playlist, which only names it, may be, for the
// 30 s gohlslib marks it with).
func TestHLSBehindAnHTTPCache(t *testing.T) {
	testkit.Need(t, "ffmpeg")
	const w, h = 320, 240
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/cam", w, h, 30)
	_, base := newWeb(t, srv)
	cache := "http://" + startNginxCache(t, strings.TrimPrefix(base, "http://"))

	checkHLSFrames(t, cache+"/cam/index.m3u8", 45, w, h)

	// The media playlist the multivariant one names, and in it the init
	// file and the newest complete segment.
	get := func(url string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
		}
		return resp, b
	}
	_, multivariant := get(cache + "/cam/index.m3u8")
	media := ""
	for _, line := range strings.Split(string(multivariant), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			media = line
		}
	}
	if media == "" {
		t.Fatalf("no media playlist in:\n%s", multivariant)
	}
	var initFile, segment string
	for range 2 { // the second request must reach framecast again
		resp, playlist := get(cache + "/cam/" + media)
		if s := resp.Header.Get("X-Cache-Status"); s == "HIT" {
			t.Errorf("media playlist: X-Cache-Status %s: want every request passed to framecast", s)
		}
		sc := bufio.NewScanner(bytes.NewReader(playlist))
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, `#EXT-X-MAP:URI="`); ok {
				initFile = strings.TrimSuffix(v, `"`)
			}
			if line != "" && !strings.HasPrefix(line, "#") {
				segment = line
			}
		}
	}
	if initFile == "" || segment == "" {
		t.Fatalf("no init file or segment in the media playlist")
	}
	for _, name := range []string{initFile, segment} {
		get(cache + "/cam/" + name) // the first viewer (a MISS, or a HIT from ffmpeg's)
		resp, cached := get(cache + "/cam/" + name)
		if s := resp.Header.Get("X-Cache-Status"); s != "HIT" {
			t.Errorf("%s asked twice: X-Cache-Status %q, want HIT", name, s)
		}
		_, direct := get(base + "/cam/" + name)
		if !bytes.Equal(cached, direct) {
			t.Errorf("%s: the cache's %d bytes differ from framecast's %d", name, len(cached), len(direct))
		}
	}
}
