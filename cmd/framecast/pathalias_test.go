package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigRefusesPathAliasesNamingTheLine: a stream or auth path that is
// not canonical is an error with its line and the reason, since it would
// never be the path producers and viewers use; "*" stays the wildcard.
func TestConfigRefusesPathAliasesNamingTheLine(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"streams:\n  - path: /pub/\n    source: testsrc\n", `line 2: stream 1: path "/pub/" ends with /; want a path such as /cam`},
		{"streams:\n  - path: //pub\n    source: ingest\n", `line 2: stream 1: path "//pub" has an empty segment (//)`},
		{"streams:\n  - path: /pu%62\n    source: ingest\n", `path "/pu%62" has % at byte 3`},
		{"auth:\n  - path: \"*\"\n    read: [{user: a, pass: b}]\n  - path: /./pub\n    publish: [{pass: t}]\n", `line 4: auth: path "/./pub" has a "." segment`},
		{"auth:\n  - path: /pub/../pub\n    publish: [{pass: t}]\n", `line 2: auth: path "/pub/../pub" has a ".." segment`},
		{"auth:\n  - path: pub\n", `line 2: auth: path "pub" must start with /; want a path such as /cam or /site/cam`},
	} {
		_, err := loadConfigText(t, tc.yaml)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: error %v, want one saying %q", tc.yaml, err, tc.want)
		}
	}
}

func TestConfigTakesCanonicalPathsAndTheWildcard(t *testing.T) {
	c, err := loadConfigText(t, "streams:\n  - path: /site/cam-1\n    source: ingest\nauth:\n  - path: \"*\"\n    read: [{user: a, pass: b}]\n  - path: /site/cam-1\n    publish: [{pass: t}]\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Auth) != 2 || c.Auth[0].Path != "*" || c.Auth[1].Path != "/site/cam-1" || len(c.Auth[1].Publish) != 1 {
		t.Errorf("auth = %+v", c.Auth)
	}
}

func loadConfigText(t *testing.T, text string) (*fileConfig, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "framecast.yml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return loadConfig(path)
}
