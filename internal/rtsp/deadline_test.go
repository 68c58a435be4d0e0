package rtsp

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// TestLazyDeadline: a deadline within deadlineSlack of the one set, either
// way, is not passed on; one further, none, or the first after none is.
func TestLazyDeadline(t *testing.T) {
	t0 := time.Now().Add(10 * time.Second)
	var d lazyDeadline
	for _, step := range []struct {
		at     time.Time
		needed bool
	}{
		{t0, true},
		{t0.Add(deadlineSlack / 2), false},
		{t0.Add(-deadlineSlack / 2), false},
		{t0.Add(2 * deadlineSlack), true},
		{t0.Add(2*deadlineSlack + deadlineSlack/2), false},
		{time.Time{}, true},
		{time.Time{}, true},
		{t0, true},
		{t0.Add(-2 * deadlineSlack), true},
	} {
		if got := d.needed(step.at); got != step.needed {
			t.Fatalf("needed(%v) = %v, want %v", step.at, got, step.needed)
		}
	}
	d.forced(time.Time{})
	if !d.needed(t0) {
		t.Fatal("needed after a forced none = false, want true")
	}
}

// TestCoalescingConnPassesOnADeadlineThatMoves: over a real TCP
// connection, a deadline in the past after one 10 s ahead reaches the
// socket, and the next write fails.
func TestCoalescingConnPassesOnADeadlineThatMoves(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	srv, err := newCoalescingListener(ln, nil).Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, d := range []time.Time{time.Now().Add(10 * time.Second), time.Now().Add(-time.Second)} {
		if err := srv.SetWriteDeadline(d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Write(interleaved(0, 1, true, 100)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after a deadline in the past: %v, want %v", err, os.ErrDeadlineExceeded)
	}
}
