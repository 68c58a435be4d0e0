package framecast_test

import (
	"errors"
	"testing"

	"github.com/framecast/framecast"
)

func TestWaitReturnsErrServerClosedAfterClose(t *testing.T) {
	srv := newServer(t, framecast.Config{})
	select {
	case <-srv.Done():
		t.Fatalf("Done closed while serving: %v", srv.Wait())
	default:
	}
	srv.Close()
	<-srv.Done()
	if err := srv.Wait(); !errors.Is(err, framecast.ErrServerClosed) {
		t.Errorf("Wait after Close = %v, want ErrServerClosed", err)
	}
}
