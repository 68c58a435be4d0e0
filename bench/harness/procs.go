package main

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// proc is a child process whose stdout the harness reads line by line.
type proc struct {
	name   string
	cmd    *exec.Cmd
	lines  chan string // stdout lines, closed at EOF
	stdin  io.WriteCloser
	stderr *tail
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, once done
	mu     sync.Mutex
	stats  string // the payload of its last "STATS " line
}

// tail keeps the last few KiB a process wrote, for error messages.
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 8192 {
		t.b = t.b[len(t.b)-8192:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// startProc starts argv. Lines starting "STATS " are kept apart (see
// stop); every other line goes to lines.
func startProc(name string, argv []string, env []string) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	if env != nil {
		cmd.Env = env
	}
	p := &proc{name: name, cmd: cmd, lines: make(chan string, 64), stderr: &tail{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if s, ok := strings.CutPrefix(line, "STATS "); ok {
				p.mu.Lock()
				p.stats = s
				p.mu.Unlock()
				continue
			}
			select {
			case p.lines <- line:
			default: // nobody waits for it: drop
			}
		}
		io.Copy(io.Discard, out)
		close(p.lines)
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// expect waits for a line starting with prefix and returns the rest.
func (p *proc) expect(prefix string, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				<-p.done
				return "", fmt.Errorf("%s exited (%v) before %q: %s", p.name, p.err, prefix, p.stderr)
			}
			if rest, found := strings.CutPrefix(line, prefix); found {
				return strings.TrimSpace(rest), nil
			}
		case <-t.C:
			return "", fmt.Errorf("%s: no %q within %v: %s", p.name, prefix, timeout, p.stderr)
		}
	}
}

// send writes a command line to the process's stdin.
func (p *proc) send(line string) error {
	_, err := io.WriteString(p.stdin, line+"\n")
	return err
}

// stop ends the process (SIGTERM, then SIGKILL after 5 s) and returns the
// payload of its last STATS line, if any.
func (p *proc) stop() string {
	p.stdin.Close()
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// stopAll stops processes in reverse order of start (viewers, then
// producers, then servers).
func stopAll(ps []*proc) {
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i] != nil {
			ps[i].stop()
		}
	}
}

// collect passes each line of p's stdout to f until p exits, and returns
// an error if it exited badly. After timeout it stops p (see stop) and
// says so; the lines read before are passed all the same.
func (p *proc) collect(timeout time.Duration, f func(line string)) error {
	var timedOut atomic.Bool
	t := time.AfterFunc(timeout, func() {
		timedOut.Store(true)
		p.stop()
	})
	defer t.Stop()
	for line := range p.lines {
		f(line)
	}
	<-p.done
	switch {
	case timedOut.Load():
		return fmt.Errorf("%s: stopped after %v: %s", p.name, timeout, lastLines(p.stderr.String(), 3))
	case p.err != nil:
		return fmt.Errorf("%s: %v: %s", p.name, p.err, lastLines(p.stderr.String(), 3))
	}
	return nil
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// fields are the key=value fields of a role's output line.
type fields map[string]string

// parseFields reads the key=value fields of s, separated by spaces. A
// value in double quotes is a Go string literal and may hold spaces; words
// without '=' are skipped.
func parseFields(s string) (fields, error) {
	f := fields{}
	for s = strings.TrimLeft(s, " "); s != ""; s = strings.TrimLeft(s, " ") {
		i := strings.IndexAny(s, " =")
		if i < 0 {
			break // a last word
		}
		if s[i] == ' ' {
			s = s[i:] // a word
			continue
		}
		key := s[:i]
		s = s[i+1:]
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			f[key], _ = strconv.Unquote(q)
			s = s[len(q):]
			continue
		}
		f[key], s, _ = strings.Cut(s, " ")
	}
	return f, nil
}

// num is the number in field key, less a trailing '%'. A field missing or
// not a number adds to errs and is 0.
func (f fields) num(key string, errs *[]error) float64 {
	v, ok := f[key]
	if !ok {
		*errs = append(*errs, fmt.Errorf("no %s", key))
		return 0
	}
	x, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s: %w", key, err))
	}
	return x
}

// integer is the integer in field key, as num is the number.
func (f fields) integer(key string, errs *[]error) int {
	v, ok := f[key]
	if !ok {
		*errs = append(*errs, fmt.Errorf("no %s", key))
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s: %w", key, err))
	}
	return n
}
