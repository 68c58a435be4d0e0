package framecast_test

import (
	"context"
	"errors"
	"slices"
	"sync"
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

// closer is a Component that records its Close, and whether the server
// still served paths and refused new producers then.
type closer struct {
	name  string
	log   *[]string
	mu    *sync.Mutex
	srv   *framecast.Server
	block chan struct{} // if not nil, Close waits for it
}

func (c closer) Close() error {
	if c.block != nil {
		<-c.block
	}
	served := len(c.srv.Streams()) > 0
	_, err := c.srv.Publish("/late", framecast.Format{PixelFormat: framecast.Gray, Width: 16, Height: 16})
	c.mu.Lock()
	defer c.mu.Unlock()
	if !errors.Is(err, framecast.ErrServerClosed) {
		*c.log = append(*c.log, c.name+": publish still open")
	}
	if !served {
		*c.log = append(*c.log, c.name+": paths gone")
	}
	*c.log = append(*c.log, c.name)
	return nil
}

func TestShutdownStopsSourcesThenConsumersBeforeThePaths(t *testing.T) {
	srv := newServer(t, framecast.Config{StatusInterval: -1})
	st, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.Gray, Width: 16, Height: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	var got []string
	c := func(name string) closer { return closer{name: name, log: &got, mu: &mu, srv: srv} }
	for _, a := range []struct {
		stage framecast.Stage
		c     closer
	}{{framecast.StageConsumer, c("web")}, {framecast.StageSource, c("pattern")}, {framecast.StageSource, c("stdin")}} {
		if err := srv.Attach(a.stage, a.c); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			<-ctx.Done()
			mu.Lock()
			got = append(got, name+" canceled")
			mu.Unlock()
			return ctx.Err() // not fatal: the server is shutting down
		}
	}
	if err := srv.Go(framecast.StageSource, run("source loop")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Go(framecast.StageConsumer, run("serve loop")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Within a stage the goroutines' contexts are canceled first, then the
	// components close last attached first; a stage ends before the next.
	sources, consumers := slices.Clone(got[:3]), got[3:]
	slices.Sort(sources)
	want := []string{"pattern", "source loop canceled", "stdin"}
	slices.Sort(consumers)
	if !slices.Equal(sources, want) || !slices.Equal(consumers, []string{"serve loop canceled", "web"}) {
		t.Errorf("closed %q, want %q, then web and the serve loop, with paths served and publish refused", got, want)
	}
	if i, j := slices.Index(got, "stdin"), slices.Index(got, "pattern"); i > j {
		t.Errorf("closed %q: want stdin, attached last, closed first", got)
	}
	if len(srv.Streams()) != 0 {
		t.Errorf("paths still served after Shutdown: %v", srv.Streams())
	}
	if err := srv.Wait(); !errors.Is(err, framecast.ErrServerClosed) {
		t.Errorf("Wait = %v, want ErrServerClosed: a Go function returning ctx.Err() at shutdown is no failure", err)
	}
}

func TestShutdownReturnsWhenItsContextEndsAndCloseWaitsForTheRest(t *testing.T) {
	srv := newServer(t, framecast.Config{StatusInterval: -1})
	var mu sync.Mutex
	var got []string
	slow := closer{name: "slow", log: &got, mu: &mu, srv: srv, block: make(chan struct{})}
	if err := srv.Attach(framecast.StageConsumer, slow); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with a slow component = %v, want context.Canceled", err)
	}
	if _, err := srv.Publish("/cam", framecast.Format{PixelFormat: framecast.Gray, Width: 16, Height: 16}); !errors.Is(err, framecast.ErrServerClosed) {
		t.Errorf("Publish after a cut-short Shutdown = %v, want ErrServerClosed", err)
	}
	close(slow.block)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"slow: paths gone", "slow"}) { // no path was published
		t.Errorf("closed %q, want the slow component once", got)
	}
}

func TestWaitReturnsTheErrorOfAGoFunctionAndShutdownStillStopsIt(t *testing.T) {
	srv := newServer(t, framecast.Config{StatusInterval: -1})
	boom := errors.New("http serve 127.0.0.1:1: boom")
	if err := srv.Go(framecast.StageConsumer, func(context.Context) error { return boom }); err != nil {
		t.Fatal(err)
	}
	<-srv.Done()
	if err := srv.Wait(); err != boom {
		t.Errorf("Wait = %v, want %v", err, boom)
	}
	srv.Close()
	if err := srv.Go(framecast.StageSource, func(context.Context) error { return nil }); !errors.Is(err, framecast.ErrServerClosed) {
		t.Errorf("Go after Close = %v, want ErrServerClosed", err)
	}
	var mu sync.Mutex
	var got []string
	if err := srv.Attach(framecast.StageSource, closer{name: "late", log: &got, mu: &mu, srv: srv}); !errors.Is(err, framecast.ErrServerClosed) {
		t.Errorf("Attach after Close = %v, want ErrServerClosed", err)
	}
	if len(got) == 0 || got[len(got)-1] != "late" {
		t.Errorf("Attach after Close did not close the component: %q", got)
	}
}
