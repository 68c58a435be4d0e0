package main

import (
	"testing"

	"github.com/framecast/framecast"
)

// TestConfigMetricsAuthReachesTheWebServer: metrics_auth's credentials
// become serve's, which it hands to web.Options.MetricsCredentials.
func TestConfigMetricsAuthReachesTheWebServer(t *testing.T) {
	c, err := loadConfigText(t, "metrics_auth:\n  - user: prometheus\n    pass: scrapepass\n")
	if err != nil {
		t.Fatal(err)
	}
	var f serveFlags
	c.apply(&f)
	want := []framecast.Credentials{{User: "prometheus", Pass: "scrapepass"}}
	if len(f.metricsAuth) != 1 || f.metricsAuth[0] != want[0] {
		t.Errorf("metrics_auth read as %+v, want %+v", f.metricsAuth, want)
	}
}
