package rtsp

import (
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// TestGStreamerSetupIsNotDelayed: gortsplib sleeps 1 s in every SETUP
// whose User-Agent starts with "GStreamer" (for rtspclientsink
// publishers). Viewers that say they are GStreamer, several at once on
// one path, are answered without it. The bound is generous for a loaded
// machine and still below the sleep: with it, the second SETUP of four
// viewers behind the gate would take at least 1 s, most 4 s.
func TestGStreamerSetupIsNotDelayed(t *testing.T) {
	s, _ := streamingServer(t, Config{})
	u, err := base.ParseURL("rtsp://" + s.Addr().String() + "/test")
	if err != nil {
		t.Fatal(err)
	}
	const viewers = 4
	var wg sync.WaitGroup
	took := make([]time.Duration, viewers)
	errs := make([]error, viewers)
	for i := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			proto := gortsplib.ProtocolTCP
			c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto, UserAgent: "GStreamer/1.22.0"}
			if errs[i] = c.Start(); errs[i] != nil {
				return
			}
			defer c.Close()
			desc, _, err := c.Describe(u)
			if err != nil {
				errs[i] = err
				return
			}
			start := time.Now()
			errs[i] = c.SetupAll(desc.BaseURL, desc.Medias)
			took[i] = time.Since(start)
		}()
	}
	wg.Wait()
	var total time.Duration
	for i := range viewers {
		if errs[i] != nil {
			t.Fatalf("viewer %d: %v", i, errs[i])
		}
		total += took[i]
	}
	t.Logf("SETUP took %v", took)
	if total >= time.Second {
		t.Errorf("the SETUPs of %d GStreamer viewers took %v in all (%v each), want well under gortsplib's 1 s sleep", viewers, total, took)
	}
}
