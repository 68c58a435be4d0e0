package framecast_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/framecast/framecast"
)

// tcp://0.0.0.0:PORT listens on IPv4 only: an IPv6 client gets no answer
// from it (it used to listen dual-stack, on every IPv6 address too).
func TestIngestOnIPv4AnyIsNotDualStack(t *testing.T) {
	srv := newServer(t, framecast.Config{StatusInterval: -1})
	addr, err := srv.ListenIngest("tcp://0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr.String())
	c4, err := net.DialTimeout("tcp4", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		t.Fatalf("IPv4 producer: %v", err)
	}
	c4.Close()
	probe, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	probe.Close()
	c6, err := net.DialTimeout("tcp6", "[::1]:"+port, 5*time.Second)
	if err == nil {
		c6.Close()
		t.Fatal("tcp://0.0.0.0 accepted an IPv6 connection on [::1]")
	}
	if !strings.Contains(err.Error(), "refused") {
		t.Logf("IPv6 dial: %v", err)
	}
}
