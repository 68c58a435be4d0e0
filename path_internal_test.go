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
