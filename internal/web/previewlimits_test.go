package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/web"
)

// deadOffer is a valid H.264 offer whose ICE can never complete: the peer
// connection that made it, and so the sockets its candidates name, are
// closed. It is what a client that floods the server with offers sends.
func deadOffer(t *testing.T) string {
	t.Helper()
	pc, sdp := offer(t, clientAPI(t))
	if err := pc.Close(); err != nil {
		t.Fatal(err)
	}
	return sdp
}

// waitMetric polls /metrics until series has value want, failing the test
// when it does not by deadline.
func waitMetric(t *testing.T, base, series string, want float64, deadline time.Time) {
	t.Helper()
	for {
		v, ok := metric(scrape(t, base), series)
		if ok && v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v (present %v), want %v", series, v, ok, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOffersThatNeverConnectFreeTheirSlots: 16 offers whose ICE cannot
// complete take every slot, and give them back within the connect timeout
// (4 s), well before the 10 s they used to hold them; a real preview then
// plays.
func TestOffersThatNeverConnectFreeTheirSlots(t *testing.T) {
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/test", 64, 48, 30)
	_, base := newWebWith(t, srv, web.Options{MaxPreviewsPerAddress: -1})
	sdp := deadOffer(t)
	start := time.Now()
	for i := range 16 {
		if res, body := postOffer(t, base+"/api/v1/streams/test/whep", "application/sdp", sdp); res.StatusCode != http.StatusCreated {
			t.Fatalf("dead offer %d: %s: %s", i+1, res.Status, body)
		}
	}
	res, body := postOffer(t, base+"/api/v1/streams/test/whep", "application/sdp", sdp)
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("offer 17 with 16 slots taken: %s: %s; want 503", res.Status, body)
	}
	waitMetric(t, base, "framecast_previews_open", 0, start.Add(9*time.Second))
	t.Logf("16 dead offers freed their slots %v after the first", time.Since(start).Round(10*time.Millisecond))
	text := scrape(t, base)
	if v, _ := metric(text, "framecast_previews_unconnected_total"); v == 0 {
		t.Error("framecast_previews_unconnected_total is 0 after 16 offers timed out")
	}
	if v, _ := metric(text, `framecast_previews_refused_total{reason="max_previews"}`); v != 1 {
		t.Errorf(`framecast_previews_refused_total{reason="max_previews"} = %v, want 1`, v)
	}
	c := openPreview(t, base, "/test")
	c.next(t, 10*time.Second)
}

// TestOneAddressGetsItsShareOfPreviews: beyond MaxPreviewsPerAddress (4 by
// default) an address's next offer is refused 429, saying why, and counted;
// the other slots stay free for other clients.
func TestOneAddressGetsItsShareOfPreviews(t *testing.T) {
	srv := newFramecast(t, framecast.Config{})
	servePattern(t, srv, "/test", 64, 48, 30)
	_, base := newWebWith(t, srv, web.Options{ConnectTimeout: time.Minute}) // none frees itself during the test
	sdp := deadOffer(t)
	for i := range 4 {
		if res, body := postOffer(t, base+"/api/v1/streams/test/whep", "application/sdp", sdp); res.StatusCode != http.StatusCreated {
			t.Fatalf("offer %d of 4: %s: %s", i+1, res.Status, body)
		}
	}
	res, body := postOffer(t, base+"/api/v1/streams/test/whep", "application/sdp", sdp)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" ||
		!strings.Contains(body, "127.0.0.1") || !strings.Contains(body, "at most 4") {
		t.Fatalf("offer 5 from one address: %s (Retry-After %q): %q; want 429 naming the address and the limit",
			res.Status, res.Header.Get("Retry-After"), body)
	}
	text := scrape(t, base)
	for series, want := range map[string]float64{
		`framecast_previews_refused_total{reason="max_per_address"}`: 1,
		`framecast_previews_refused_total{reason="max_previews"}`:    0,
		"framecast_previews_open":                                    4,
	} {
		if v, ok := metric(text, series); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
}
