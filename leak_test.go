package framecast_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/framecast/framecast"
	"github.com/framecast/framecast/publisher"
)

// view plays url with gortsplib's client until one RTP packet arrives.
func view(t *testing.T, u string, tcp bool) {
	t.Helper()
	proto := gortsplib.ProtocolUDP
	if tcp {
		proto = gortsplib.ProtocolTCP
	}
	c, _ := rtspClient(t, u, proto, nil)
	defer c.Close()
	got := make(chan struct{}, 1)
	c.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no RTP packet in 5 s")
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestNoLeaksWhenViewersAndProducersComeAndGo makes 200 rounds of a
// producer (Go API or socket) publishing, a viewer (TCP or UDP) playing, and
// both leaving; goroutines and heap must return to where they were.
func TestNoLeaksWhenViewersAndProducersComeAndGo(t *testing.T) {
	if testing.Short() {
		t.Skip("200 rounds of real connections")
	}
	srv := newServer(t, framecast.Config{StatusInterval: -1})
	ingestAddr, err := srv.ListenIngest("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := framecast.Format{PixelFormat: framecast.Gray, Width: 64, Height: 48}
	frame := make([]byte, 64*48)
	round := func(i int) {
		type writer interface {
			WriteFrame([]byte) error
			Close() error
		}
		var w writer
		if i%2 == 0 {
			st, err := srv.Publish("/cam", f)
			if err != nil {
				t.Fatal(err)
			}
			w = st
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			pub, err := publisher.Dial(ctx, "tcp://"+ingestAddr.String(), "/cam", publisherFormat(f))
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			w = pub
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				frame[0] = byte(i)
				w.WriteFrame(frame)
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		view(t, url(srv, "/cam"), i%4 < 2)
		close(stop)
		<-done
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Warm up: the first rounds create what stays (the mount, pools).
	for i := range 4 {
		round(i)
	}
	// The baseline once the server has seen the warm-up's viewers and
	// producers leave.
	waitFor(t, 10*time.Second, "the warm-up's viewers and producers gone", func() bool {
		for _, in := range srv.Streams() {
			if in.Producer != "" || len(in.Viewers) > 0 {
				return false
			}
		}
		return true
	})
	baseG, baseH := runtime.NumGoroutine(), heapInUse()
	for i := range 200 {
		round(i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseG+2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	g, h := runtime.NumGoroutine(), heapInUse()
	t.Logf("after 200 rounds: %d goroutines (baseline %d), heap in use %d KiB (baseline %d KiB)", g, baseG, h>>10, baseH>>10)
	if g > baseG+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after 200 rounds, baseline %d:\n%s", g, baseG, buf[:runtime.Stack(buf, true)])
	}
	if h > baseH+8<<20 {
		t.Fatalf("heap in use grew from %d KiB to %d KiB over 200 rounds", baseH>>10, h>>10)
	}
}
