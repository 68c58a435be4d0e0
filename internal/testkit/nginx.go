package testkit

import (
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// NginxModules is where Debian puts nginx's dynamic modules
// (libnginx-mod-rtmp, libnginx-mod-stream).
const NginxModules = "/usr/lib/nginx/modules"

// Nginx is an nginx run by a test, in a directory of its own: its prefix,
// configuration, error log and pid file.
type Nginx struct {
	Dir    string
	cmd    *exec.Cmd
	exited chan error
}

// StartNginx writes dir/nginx.conf, starts nginx with dir as its prefix
// and waits until it accepts TCP connections on addr. It is killed when
// the test ends. The file loads modules (file name in NginxModules to
// Debian package: a missing one fails the test in CI and skips it
// elsewhere, naming the package), keeps nginx in the foreground in one
// process with its error log and pid file in dir, then holds conf: the
// events, http, rtmp or stream blocks.
func StartNginx(t testing.TB, dir, conf, addr string, modules map[string]string) *Nginx {
	t.Helper()
	Need(t, "nginx")
	for file, pkg := range modules {
		if _, err := os.Stat(filepath.Join(NginxModules, file)); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("nginx's %s is not installed (CI must install %s): %v", file, pkg, err)
			}
			t.Skipf("nginx's %s is not installed (apt-get install %s): %v", file, pkg, err)
		}
	}
	var head strings.Builder
	for _, file := range slices.Sorted(maps.Keys(modules)) {
		fmt.Fprintf(&head, "load_module %s;\n", filepath.Join(NginxModules, file))
	}
	fmt.Fprintf(&head, "daemon off;\nmaster_process off;\nworker_processes 1;\nerror_log %s/error.log info;\npid %s/nginx.pid;\n", dir, dir)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(head.String()+conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &Nginx{Dir: dir, exited: make(chan error, 1)}
	n.cmd = exec.Command("nginx", "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	out := &Buffer{}
	n.cmd.Stdout, n.cmd.Stderr = out, out
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.exited <- n.cmd.Wait() }()
	t.Cleanup(n.Kill)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return n
		}
		select {
		case err := <-n.exited:
			n.exited <- err
			t.Fatalf("nginx exited: %v: %s; error.log: %s", err, out.String(), n.ErrorLog())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not listening on %s within 10 s: %s", addr, n.ErrorLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ErrorLog is what nginx wrote to its error log.
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "error.log"))
	return string(b)
}

// Kill ends nginx at once, as a crash would, and waits for it. It may be
// called more than once.
func (n *Nginx) Kill() {
	n.cmd.Process.Kill()
	err := <-n.exited
	n.exited <- err
}
