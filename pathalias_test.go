package framecast_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/ingest"
)

// pathAliases are spellings of /pub that other layers (path.Clean, URL
// decoding, gortsplib's trailing-slash rule) could read as /pub, or as a
// second path beside it, with the reason each is refused.
var pathAliases = []struct{ path, why string }{
	{"/pub/", `path "/pub/" ends with /`},
	{"//pub", `path "//pub" has an empty segment (//)`},
	{"/pub/../pub", `path "/pub/../pub" has a ".." segment`},
	{"/pu%62", `path "/pu%62" has % at byte 3`},
	{"/./pub", `path "/./pub" has a "." segment`},
}

func TestGoAPIRefusesPathAliases(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	f := framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48}
	for _, a := range pathAliases {
		if st, err := srv.Publish(a.path, f); err == nil || !strings.Contains(err.Error(), a.why) {
			t.Errorf("Publish(%q) = %v, want an error saying %q", a.path, err, a.why)
			if st != nil {
				st.Close()
			}
		}
		if _, err := srv.Push(a.path, "rtsp://127.0.0.1:1/x"); err == nil || !strings.Contains(err.Error(), a.why) {
			t.Errorf("Push(%q) = %v, want an error saying %q", a.path, err, a.why)
		}
	}
}

// TestIngestRefusesPathAliasesOfAPathWithAToken: with a publish token on
// /pub, every other spelling of /pub is bad-hello with the reason, not a
// path of its own that needs no token; /pub itself still needs the token.
func TestIngestRefusesPathAliasesOfAPathWithAToken(t *testing.T) {
	srv := newServer(t, framecast.Config{Auth: []framecast.PathAuth{
		{Path: "/pub", Publish: []framecast.Credentials{{Pass: "s3cret"}}},
	}})
	addr := listenIngestTCP(t, srv)
	for _, a := range pathAliases {
		rc := dialRaw(t, addr)
		rc.send(t, wireHello(a.path))
		e := rc.next(t)
		if e == nil || e.Code != ingest.CodeBadHello || !e.Fatal || !strings.Contains(e.Message, a.why) {
			t.Errorf("HELLO %q without a token: %v, want a fatal bad-hello saying %q", a.path, e, a.why)
			continue
		}
		rc.closedByServer(t)
		// The Go client refuses it before it connects, with the same reason.
		if err := dialErr(t, addr, a.path); err == nil || !strings.Contains(err.Error(), a.why) {
			t.Errorf("publisher.Dial(%q) = %v, want an error saying %q", a.path, err, a.why)
		}
	}
	rc := dialRaw(t, addr)
	rc.send(t, wireHello("/pub"))
	if e := rc.next(t); e == nil || e.Code != ingest.CodeUnauthorized {
		t.Errorf("HELLO /pub without a token: %v, want unauthorized", e)
	}
	if n := len(srv.Streams()); n != 0 {
		t.Errorf("%d streams published, want none", n)
	}
}

// TestRTSPRefusesPathAliasesWithoutSkippingCredentials: DESCRIBE or SETUP
// of another spelling of a path is 400 with the reason, with or without
// the path's credentials, whether the path needs credentials or not; it
// never answers with the path's stream, nor 401 in place of the path.
func TestRTSPRefusesPathAliasesWithoutSkippingCredentials(t *testing.T) {
	srv := newServer(t, framecast.Config{Auth: []framecast.PathAuth{
		{Path: "/pub", Read: []framecast.Credentials{{User: "viewer", Pass: "pw"}}},
	}})
	servePattern(t, srv, "/pub", 64, 48, 10)
	servePattern(t, srv, "/open", 64, 48, 10)
	addr := srv.Addr().String()
	basic := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("viewer:pw"))

	// The canonical paths answer as they should.
	if code, _ := rtspRequest(t, addr, "DESCRIBE", "/pub"); code != 401 {
		t.Errorf("DESCRIBE /pub without credentials: %d, want 401", code)
	}
	if code, body := rtspRequest(t, addr, "DESCRIBE", "/pub", basic); code != 200 || !strings.Contains(body, "H264") {
		t.Errorf("DESCRIBE /pub with credentials: %d %q, want 200 and an SDP", code, body)
	}
	if code, _ := rtspRequest(t, addr, "DESCRIBE", "/open"); code != 200 {
		t.Errorf("DESCRIBE /open: %d, want 200", code)
	}
	// Paths are case-sensitive: /PUB is another path, which is not served.
	if code, _ := rtspRequest(t, addr, "DESCRIBE", "/PUB"); code != 404 {
		t.Errorf("DESCRIBE /PUB: %d, want 404", code)
	}

	aliases := []struct{ method, path, why string }{
		{"DESCRIBE", "/pub//", `path "/pub/" ends with /`},
		{"DESCRIBE", "/pub/", `path "/pub/" ends with /`},
		{"DESCRIBE", "/pu%62", `path "/pu%62" has % at byte 3`},
		{"DESCRIBE", "/./pub", `path "/./pub" has a "." segment`},
		{"DESCRIBE", "//pub", `path "//pub" has an empty segment (//)`},
		{"DESCRIBE", "/pub/../pub", `path "/pub/../pub" has a ".." segment`},
		{"DESCRIBE", "/open//", `path "/open/" ends with /`},
		{"DESCRIBE", "/op%65n", `path "/op%65n" has % at byte 3`},
		{"DESCRIBE", "/x/../open", `has a ".." segment`},
		{"SETUP", "/pub//trackID=0", `path "/pub/" ends with /`},
		{"SETUP", "/pu%62/trackID=0", `has % at byte 3`},
		{"SETUP", "/./open/trackID=0", `path "/./open" has a "." segment`},
		{"SETUP", "/op%65n/trackID=0", `has % at byte 3`},
	}
	for _, a := range aliases {
		for _, creds := range [][]string{nil, {basic}} {
			header := append([]string{"Transport: RTP/AVP/TCP;unicast;interleaved=0-1"}, creds...)
			code, body := rtspRequest(t, addr, a.method, a.path, header...)
			if code != 400 || !strings.Contains(body, a.why) {
				t.Errorf("%s %s (credentials: %v): %d %q, want 400 saying %q", a.method, a.path, creds != nil, code, body, a.why)
			}
		}
	}
}

// rtspRequest sends one RTSP request for rtsp://addr+path on a new
// connection, with the given header lines, and returns the status code
// and the body.
func rtspRequest(t *testing.T, addr, method, path string, header ...string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("%s rtsp://%s%s RTSP/1.0\r\nCSeq: 1\r\n", method, addr, path)
	for _, h := range header {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	r := textproto.NewReader(bufio.NewReader(c))
	status, err := r.ReadLine()
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	f := strings.Fields(status)
	if len(f) < 2 || f[0] != "RTSP/1.0" {
		t.Fatalf("%s %s: status line %q", method, path, status)
	}
	code, _ := strconv.Atoi(f[1])
	h, err := r.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	n, _ := strconv.Atoi(h.Get("Content-Length"))
	body := make([]byte, n)
	if _, err := io.ReadFull(r.R, body); err != nil {
		t.Fatalf("%s %s: body: %v", method, path, err)
	}
	return code, string(body)
}
