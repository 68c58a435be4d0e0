package framecast_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/internal/testkit"
	"github.com/framecast/framecast/publisher"
)

// dialTakeover publishes path at address with WithTakeover and opts.
func dialTakeover(t *testing.T, address, path string, f framecast.Format, opts ...publisher.Option) (*publisher.Publisher, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := publisher.Dial(ctx, address, path, publisherFormat(f), append(opts, publisher.WithTakeover())...)
	if err == nil {
		t.Cleanup(func() { pub.Close() })
	}
	return pub, err
}

// TestTakeoverReplacesTheProducerAndViewersGoOn: a producer with the
// takeover flag gets the path; the old one is told why it was cut off,
// and a viewer that stayed connected gets the new producer's frames.
func TestTakeoverReplacesTheProducerAndViewersGoOn(t *testing.T) {
	const w, h = 320, 240
	srv := newServer(t, framecast.Config{})
	addr := listenIngestTCP(t, srv)
	f := framecast.Format{PixelFormat: framecast.BGR24, Width: w, Height: h, FPS: 30}
	a := dialPublisher(t, addr, "/cam", f)
	pa := push(t, a, 30, 100, stampedBGR(w, h))
	dec := testkit.FFmpeg(t, url(srv, "/cam"), "tcp", "gray", w, h)
	waitNumber(t, dec, w, h, 10*time.Second, func(n uint32) bool { return n >= 110 && n < 1000 })

	b, err := dialTakeover(t, addr, "/cam", f)
	if err != nil {
		t.Fatalf("Dial with WithTakeover on a published path: %v", err)
	}
	push(t, b, 30, 1000, stampedBGR(w, h))
	var e *publisher.Error
	select {
	case err := <-pa.errs:
		want := fmt.Sprintf("another producer (from %s) took over /cam", b.LocalAddr())
		if !errors.As(err, &e) || e.Code != publisher.CodeReplaced || !e.Fatal || e.Message != want {
			t.Fatalf("old producer's write: %v, want a fatal replaced error %q", err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the old producer was not told it was replaced")
	}
	n := waitNumber(t, dec, w, h, 10*time.Second, func(n uint32) bool { return n >= 1000 })
	for range 10 {
		m := numberOf(dec.Next(t, 5*time.Second), w, h)
		if m < n || m > n+20 {
			t.Fatalf("after frame %d of the new producer came %d", n, m)
		}
		n = m
	}
	if got := srv.Streams()[0].Producer; got != b.LocalAddr().String() {
		t.Errorf("producer of /cam is %q, want the new one, %s", got, b.LocalAddr())
	}
}

// TestTakeoverIsAuthorisedAsPublishingIs: a producer without the path's
// publish token cannot take it over, and one that may publish can; a path
// the Go API publishes cannot be taken over at all.
func TestTakeoverIsAuthorisedAsPublishingIs(t *testing.T) {
	srv := newServer(t, framecast.Config{Auth: []framecast.PathAuth{
		{Path: "/cam", Publish: []framecast.Credentials{{User: "cam", Pass: "s3cret"}}},
	}})
	addr := listenIngestTCP(t, srv)
	f := framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, err := publisher.Dial(ctx, addr, "/cam", publisherFormat(f), publisher.WithToken("cam:s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	var e *publisher.Error
	if _, err := dialTakeover(t, addr, "/cam", f, publisher.WithToken("cam:wrong")); !errors.As(err, &e) || e.Code != publisher.CodeUnauthorized {
		t.Fatalf("takeover with a wrong token: %v, want unauthorized", err)
	}
	if err := first.WriteFrame(make([]byte, 64*48)); err != nil {
		t.Fatalf("the producer refused a takeover lost its path: %v", err)
	}
	if _, err := dialTakeover(t, addr, "/cam", f, publisher.WithToken("cam:s3cret")); err != nil {
		t.Fatalf("takeover with the publish token: %v", err)
	}

	st, err := srv.Publish("/go", f)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = dialTakeover(t, addr, "/go", f)
	if !errors.As(err, &e) || e.Code != publisher.CodePathInUse || !strings.Contains(e.Message, "cannot be taken over") {
		t.Fatalf("takeover of a path of the Go API: %v, want path-in-use saying it cannot be taken over", err)
	}
}

// TestReadyTellsTheRTSPURL: the Go publisher says where viewers watch, as
// the server's READY says it, over TCP and a Unix socket.
func TestReadyTellsTheRTSPURL(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	f := framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48}
	sock := "unix://" + shortTempDir(t) + "/ingest.sock"
	if _, err := srv.ListenIngest(sock); err != nil {
		t.Fatal(err)
	}
	for i, addr := range []string{listenIngestTCP(t, srv), sock} {
		path := fmt.Sprintf("/site/cam%d", i)
		pub := dialPublisher(t, addr, path, f)
		if got, want := pub.RTSPURL(), url(srv, path); got != want {
			t.Errorf("%s: RTSPURL() = %q, want %q", addr, got, want)
		}
	}
}
