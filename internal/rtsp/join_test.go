package rtsp

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// TestViewersJoiningAtAHundredASecondAllPlay: 300 viewers of one path
// join at 100 a second (one in three over UDP), and all stay until the
// last has joined, so the server holds 300 sessions at the end. Every one
// DESCRIBEs, SETUPs, PLAYs and gets packets: none times out behind the
// others' SETUPs (in an earlier version, 67 of 1000 did).
func TestViewersJoiningAtAHundredASecondAllPlay(t *testing.T) {
	if testing.Short() {
		t.Skip("300 viewers")
	}
	s, _ := streamingServer(t, Config{})
	u, err := base.ParseURL("rtsp://" + s.Addr().String() + "/test")
	if err != nil {
		t.Fatal(err)
	}
	const viewers = 300
	all := make(chan struct{}) // closed when every viewer has had its first packet or failed
	var joined atomic.Int32
	var wg sync.WaitGroup
	errs := make([]error, viewers)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := range viewers {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			proto := gortsplib.ProtocolTCP
			if i%3 == 0 {
				proto = gortsplib.ProtocolUDP
			}
			errs[i] = joinAndStay(u, proto, func() {
				if joined.Add(1) == viewers {
					close(all)
				}
			}, all)
		}()
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("viewer %d: %v", i, err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d viewers did not play", failed, viewers)
	}
}

// joinAndStay plays u over proto until its first RTP packet, or fails,
// calls done either way, and keeps the session until stay is closed.
func joinAndStay(u *base.URL, proto gortsplib.Protocol, done func(), stay <-chan struct{}) error {
	c, err := join(u, proto)
	done()
	<-stay
	if c != nil {
		c.Close()
	}
	return err
}

// join plays u over proto until its first RTP packet. The client it
// returns, also with an error, is the caller's to close.
func join(u *base.URL, proto gortsplib.Protocol) (*gortsplib.Client, error) {
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto}
	if err := c.Start(); err != nil {
		return nil, err
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		return c, fmt.Errorf("describe over %s: %w", proto, err)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return c, fmt.Errorf("setup over %s: %w", proto, err)
	}
	got := make(chan struct{}, 1)
	c.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	if _, err := c.Play(nil); err != nil {
		return c, fmt.Errorf("play over %s: %w", proto, err)
	}
	select {
	case <-got:
		return c, nil
	case <-time.After(20 * time.Second):
		return c, fmt.Errorf("no RTP packet 20 s after PLAY over %s", proto)
	}
}
