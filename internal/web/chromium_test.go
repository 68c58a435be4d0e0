package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/framecast/framecast/internal/testkit"
	"github.com/gorilla/websocket"
)

// chromium is a headless Chromium driven over the DevTools protocol: one
// page, whose JavaScript the test evaluates.
type chromium struct {
	cmd    *exec.Cmd
	stderr *testkit.Buffer
	ws     *websocket.Conn
	id     int
}

// chromiumFlags are Debian's chromium's, headless, isolated from the
// network and from any profile. --allow-loopback-in-peer-connection lets
// WebRTC use 127.0.0.1, the only address the tests may use.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
	"--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
	"--mute-audio", "--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection",
	"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
}

// startChromium starts Chromium with a fresh profile and connects to its
// page. It is killed when the test ends.
func startChromium(t *testing.T) *chromium {
	t.Helper()
	testkit.Need(t, "chromium")
	args := append([]string{"--user-data-dir=" + t.TempDir()}, chromiumFlags...)
	c := &chromium{cmd: exec.Command("chromium", append(args, "about:blank")...), stderr: &testkit.Buffer{}}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		if c.ws != nil {
			c.ws.Close()
		}
		c.cmd.Process.Kill()
		c.cmd.Wait()
	})
	// Chromium says where DevTools listen on stderr; the rest of its
	// stderr is kept for failure messages.
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`DevTools listening on ws://([^/\s]+)/`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(c.stderr, sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	var addr string
	select {
	case addr = <-found:
	case <-time.After(60 * time.Second):
		t.Fatalf("chromium did not open DevTools within 60 s; stderr:\n%s", c.stderr)
	}
	// The page it opened, and its DevTools socket.
	res, err := http.Get("http://" + addr + "/json/list")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var targets []struct{ Type, WebSocketDebuggerURL string }
	if err := json.NewDecoder(res.Body).Decode(&targets); err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if tg.Type == "page" {
			c.ws, _, err = websocket.DefaultDialer.Dial(tg.WebSocketDebuggerURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	t.Fatalf("chromium has no page: %+v", targets)
	return nil
}

// call sends a DevTools command and decodes its result into out.
func (c *chromium) call(ctx context.Context, method string, params, out any) error {
	c.id++
	id := c.id
	if dl, ok := ctx.Deadline(); ok {
		c.ws.SetReadDeadline(dl)
	}
	if err := c.ws.WriteJSON(map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return err
	}
	for {
		var msg struct {
			ID     int
			Result json.RawMessage
			Error  *struct{ Message string }
		}
		if err := c.ws.ReadJSON(&msg); err != nil {
			return fmt.Errorf("%s: %w", method, err)
		}
		if msg.ID != id {
			continue // an event
		}
		if msg.Error != nil {
			return fmt.Errorf("%s: %s", method, msg.Error.Message)
		}
		if out == nil {
			return nil
		}
		return json.Unmarshal(msg.Result, out)
	}
}

// eval evaluates a JavaScript expression in the page, awaits it if it is a
// promise, and decodes its value (JSON) into out.
func (c *chromium) eval(t *testing.T, timeout time.Duration, expr string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var r struct {
		Result struct {
			Value json.RawMessage
		}
		ExceptionDetails *struct {
			Text      string
			Exception struct{ Description string }
		}
	}
	err := c.call(ctx, "Runtime.evaluate", map[string]any{
		"expression": expr, "awaitPromise": true, "returnByValue": true, "timeout": timeout.Milliseconds(),
	}, &r)
	if err != nil {
		t.Fatalf("evaluating in chromium: %v; chromium stderr:\n%s", err, c.stderr)
	}
	if r.ExceptionDetails != nil {
		t.Fatalf("in the page: %s %s", r.ExceptionDetails.Text, r.ExceptionDetails.Exception.Description)
	}
	if out != nil {
		if err := json.Unmarshal(r.Result.Value, out); err != nil {
			t.Fatalf("page result %s: %v", r.Result.Value, err)
		}
	}
}

// navigate opens url in the page.
func (c *chromium) navigate(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.call(ctx, "Page.navigate", map[string]any{"url": url}, nil); err != nil {
		t.Fatal(err)
	}
}
