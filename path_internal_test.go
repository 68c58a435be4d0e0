package framecast

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

// Streams, and so /metrics, the web API and the status line, never wait
// for a stream's writer or encoder: here a writer holds its lock (as it
// does while Block waits for the encoder, or SetFormat re-opens it).
func TestStreamsDoesNotWaitForAWriter(t *testing.T) {
	srv, err := NewServer(Config{RTSPAddress: "127.0.0.1:0", DisableUDP: true, StatusInterval: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	st, err := srv.Publish("/cam", Format{PixelFormat: Gray, Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.wmu.Lock()
	done := make(chan []StreamInfo)
	go func() { done <- srv.Streams() }()
	select {
	case infos := <-done:
		if len(infos) != 1 || infos[0].Format.Width != 64 {
			t.Errorf("Streams() = %+v, want /cam 64x48", infos)
		}
	case <-time.After(10 * time.Second):
		t.Error("Streams() waits for the stream's writer")
	}
	st.wmu.Unlock()
	if t.Failed() {
		<-done
	}
}

// TestFastProbe: the early follow-up IDR comes 150 ms after a join's, at
// least 5 frames, and always before the one at nobufferProbe.
func TestFastProbe(t *testing.T) {
	for _, c := range []struct {
		fps  float64
		want int
	}{
		{1, 5}, {10, 5}, {25, 5}, {30, 5}, {50, 8}, {60, 9}, {120, 18}, {240, nobufferProbe - 1},
	} {
		if got := fastProbe(c.fps); got != c.want {
			t.Errorf("fastProbe(%v) = %d, want %d", c.fps, got, c.want)
		}
	}
}
