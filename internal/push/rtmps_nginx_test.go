package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/framecast/framecast/internal/testkit"
)

// nginxRTMPSConf is nginx as an RTMPS ingest: its stream module ends TLS
// and hands the connection to its RTMP module, the way stunnel or a load
// balancer fronts nginx-rtmp (which speaks no TLS itself). Its arguments:
// the RTMP address, the TLS address, the certificate and key files, the
// RTMP address again.
const nginxRTMPSConf = `events { worker_connections 64; }
rtmp {
    server {
        listen %s;
        application live {
            live on;
            wait_key on;
        }
    }
}
stream {
    server {
        listen %s ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        proxy_pass %s;
    }
}
`

// TestRTMPSPushThroughNginx publishes over RTMPS to nginx (TLS ended by
// its stream module, then nginx-rtmp) and plays the stream back over
// plain RTMP from nginx-rtmp with gortmplib's client: an IDR first, then
// every frame in order with the source's spacing.
func TestRTMPSPushThroughNginx(t *testing.T) {
	dir := t.TempDir()
	cert, pool := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	rtmpAddr, tlsAddr := freePort(t), freePort(t)
	conf := fmt.Sprintf(nginxRTMPSConf, rtmpAddr, tlsAddr, certFile, keyFile, rtmpAddr)
	testkit.StartNginx(t, dir, conf, tlsAddr, map[string]string{
		"ngx_rtmp_module.so": "libnginx-mod-rtmp", "ngx_stream_module.so": "libnginx-mod-stream"})

	src := newSource(30)
	src.run(t)
	_, log := newLogs(t)
	p := newPusher(t, Config{URL: "rtmps://" + tlsAddr + "/live/cam", Subscribe: src.Subscribe, Logger: log,
		tlsConfig: &tls.Config{RootCAs: pool}})
	eventually(t, 10*time.Second, "the push connected", func() bool { return p.Stats().Connected })

	m := playRTMP(t, "rtmp://"+rtmpAddr+"/live/cam")
	m.wait(t, 15*time.Second, "45 frames played back", func() bool { return len(m.frames) >= 45 })
	checkTSFrames(t, src, m.snapshot(), time.Millisecond)
}

// playRTMP plays url with gortmplib's client until the test ends, and
// keeps the H.264 access units it receives.
func playRTMP(t *testing.T, rawURL string) *media {
	t.Helper()
	u, err := parseRTMPURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &gortmplib.Client{URL: u}
	if err := c.Initialize(ctx); err != nil {
		t.Fatalf("play %s: %v", rawURL, err)
	}
	rd := &gortmplib.Reader{Conn: c}
	c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := rd.Initialize(); err != nil {
		c.Close()
		t.Fatalf("play %s: %v", rawURL, err)
	}
	m := newMedia()
	for _, tr := range rd.Tracks() {
		if _, ok := tr.Codec.(*codecs.H264); ok {
			rd.OnDataH264(tr, func(pts, _ time.Duration, au [][]byte) { m.addAU(au, pts) })
		}
	}
	c.NetConn().SetReadDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for rd.Read() == nil {
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return m
}
