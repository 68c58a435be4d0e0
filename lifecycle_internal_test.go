package framecast

import (
	"errors"
	"io"
	"log/slog"
	"testing"
)

func TestWaitReturnsTheFirstFatalErrorEvenAfterClose(t *testing.T) {
	srv, err := NewServer(Config{RTSPAddress: "127.0.0.1:0", DisableUDP: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	first, second := errors.New("ingest listener gone"), errors.New("rtsp gone")
	srv.fail(first)
	srv.fail(second)
	<-srv.Done()
	srv.Close()
	if err := srv.Wait(); err != first {
		t.Errorf("Wait = %v, want the first fatal error %v", err, first)
	}
}
