package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

func TestVersionPrintsDevWithoutLdflags(t *testing.T) {
	for _, arg := range []string{"--version", "-version", "version"} {
		out, stderr, code := runCLI(t, arg)
		if code != 0 || out != "framecast dev\n" {
			t.Errorf("framecast %s: exit %d, stdout %q, stderr %q; want exit 0, %q", arg, code, out, stderr, "framecast dev\n")
		}
	}
}

func TestVersionPrintsWhatLdflagsInject(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "framecast")
	args := []string{"build", "-ldflags", "-X main.version=1.2.3-test", "-o", bin}
	if raceEnabled {
		args = append(args, "-race") // as TestMain builds, so the build cache serves both
	}
	build := exec.Command("go", append(args, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || string(out) != "framecast 1.2.3-test\n" {
		t.Fatalf("framecast --version: %v, %q; want %q", err, out, "framecast 1.2.3-test\n")
	}
}
