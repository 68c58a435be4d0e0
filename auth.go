package framecast

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/framecast/framecast/internal/ingest"
	"github.com/framecast/framecast/internal/pathname"
	"github.com/framecast/framecast/internal/rtsp"
)

// Credentials are a user name and a password. Pass is the plain password,
// or "sha256:" followed by the 64 hex digits of the SHA-256 of the password,
// so that a configuration file holds no plain secret (make one with
// echo "sha256:$(printf %s 'PASSWORD' | sha256sum | cut -d' ' -f1)"). A hashed password can be checked
// only when the client sends the password itself: RTSP Basic (the server
// then offers only Basic for the path) and ingest tokens. RTSP Digest needs
// the plain password on the server.
//
// For publishing, User may be empty: Pass is then a bare token, which a
// producer sends as its HELLO token. Credentials with a User are sent as
// the token "USER:PASS".
type Credentials struct {
	User, Pass string
}

// PathAuth says who may read and who may publish a path.
type PathAuth struct {
	// Path is an exact path ("/cam"), or "*" for every path without an
	// entry of its own.
	Path string
	// Read are the credentials RTSP viewers may present (Basic or
	// Digest); any one of them lets a viewer in. None means those of the
	// "*" entry, and anyone may read when there are none either.
	Read []Credentials
	// Publish are the credentials an ingest producer over TCP may present
	// in its HELLO token; any one of them lets it publish. None means
	// those of the "*" entry, and anyone may publish when there are none
	// either. Producers on a Unix socket are not asked: the socket file's
	// permissions (0660) decide who may connect.
	Publish []Credentials
}

// hashPrefix marks a password given as its SHA-256.
const hashPrefix = "sha256:"

// credential is a parsed Credentials: the plain password, or its hash.
type credential struct {
	user  string
	plain string
	hash  []byte // SHA-256 of the password, when given hashed
}

func parseCredentials(c Credentials) (credential, error) {
	if strings.ContainsAny(c.User, ":\r\n") {
		return credential{}, fmt.Errorf("user %q: a user name cannot contain ':' or line breaks", c.User)
	}
	hexHash, hashed := strings.CutPrefix(c.Pass, hashPrefix)
	if !hashed {
		if c.Pass == "" {
			return credential{}, fmt.Errorf("user %q: empty password", c.User)
		}
		return credential{user: c.User, plain: c.Pass}, nil
	}
	h, err := hex.DecodeString(hexHash)
	if err != nil || len(h) != sha256.Size {
		return credential{}, fmt.Errorf("user %q: password %q: want sha256: and the 64 hex digits of printf %%s 'PASSWORD' | sha256sum",
			c.User, cut(c.Pass, 16))
	}
	return credential{user: c.User, hash: h}, nil
}

// matches reports whether pass is c's password, in constant time.
func (c credential) matches(pass string) bool {
	if c.hash != nil {
		h := sha256.Sum256([]byte(pass))
		return subtle.ConstantTimeCompare(h[:], c.hash) == 1
	}
	return subtle.ConstantTimeCompare([]byte(pass), []byte(c.plain)) == 1
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// accessRules are Config.Auth, parsed: credentials by path.
type accessRules struct {
	read, publish map[string][]credential // by path, "*" for the others
}

func parseAuth(entries []PathAuth) (accessRules, error) {
	r := accessRules{read: map[string][]credential{}, publish: map[string][]credential{}}
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Path != "*" {
			if err := pathname.Check(e.Path); err != nil {
				return r, fmt.Errorf(`auth: %w, or "*" for every other path`, err)
			}
		}
		if seen[e.Path] {
			return r, fmt.Errorf("auth path %s is listed twice", e.Path)
		}
		seen[e.Path] = true
		for _, c := range e.Read {
			pc, err := parseCredentials(c)
			if err != nil {
				return r, fmt.Errorf("auth %s read: %w", e.Path, err)
			}
			if pc.user == "" {
				return r, fmt.Errorf("auth %s read: RTSP credentials need a user name", e.Path)
			}
			r.read[e.Path] = append(r.read[e.Path], pc)
		}
		for _, c := range e.Publish {
			pc, err := parseCredentials(c)
			if err != nil {
				return r, fmt.Errorf("auth %s publish: %w", e.Path, err)
			}
			r.publish[e.Path] = append(r.publish[e.Path], pc)
		}
	}
	return r, nil
}

// lookup returns the credentials of path in m: its own, else those of "*".
// An entry without credentials for a role falls back to "*" for that role,
// so that listing a path for one role never opens it for the other.
func lookup(m map[string][]credential, path string) []credential {
	if e := m[path]; len(e) > 0 {
		return e
	}
	return m["*"]
}

// readCredentials is the rtsp.Config.ReadCredentials of the rules.
func (r accessRules) readCredentials(path string) []rtsp.Credential {
	creds := lookup(r.read, path)
	out := make([]rtsp.Credential, len(creds))
	for i, c := range creds {
		out[i] = rtsp.Credential{User: c.user, Pass: c.plain, PassSHA256: c.hash}
	}
	return out
}

// errBadToken and errNoToken are the reasons checkToken refuses.
var (
	errNoToken  = errors.New("no token given")
	errBadToken = errors.New("wrong token")
)

// checkToken checks an ingest HELLO token against the publish credentials
// of path: "USER:PASS" for credentials with a user, the bare token for
// those without. It returns nil when the path needs no credentials.
func (r accessRules) checkToken(path, token string) error {
	creds := lookup(r.publish, path)
	if len(creds) == 0 {
		return nil
	}
	if token == "" {
		return errNoToken
	}
	user, pass, hasUser := strings.Cut(token, ":")
	ok := false
	for _, c := range creds {
		// Every credential is checked, so the time taken does not say which matched.
		if c.user == "" && c.matches(token) || hasUser && c.user != "" &&
			subtle.ConstantTimeCompare([]byte(user), []byte(c.user)) == 1 && c.matches(pass) {
			ok = true
		}
	}
	if !ok {
		return errBadToken
	}
	return nil
}

// authRefusal is the ingest ERROR for a refused token.
func authRefusal(path string, err error) *ingest.Error {
	msg := fmt.Sprintf("publishing %s needs credentials: %v (send the token, or USER:PASS, in HELLO)", path, err)
	return &ingest.Error{Code: ingest.CodeUnauthorized, Fatal: true, Message: msg}
}

// Logging of refused credentials: the first failure from an address is
// logged at once; later ones are counted and logged at most once per
// authLogInterval while they go on, so that guessing cannot flood the log.
const (
	authLogInterval = 10 * time.Second
	authLogForget   = time.Minute // an address quiet for this long starts over
	authLogMaxAddrs = 4096        // addresses remembered before old ones are forgotten
)

// authLog rate-limits the log lines of refused credentials per remote host.
type authLog struct {
	log   *slog.Logger
	mu    sync.Mutex
	hosts map[string]*authFailures
}

type authFailures struct {
	logged  time.Time // when a line was last logged
	last    time.Time // the last failure
	pending int       // failures since the last line
	total   int
}

// failed records a refused attempt by remote ("host:port") to use path.
// what is "read" (RTSP) or "publish" (ingest).
func (a *authLog) failed(what, remote, path, user string) {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	now := time.Now()
	a.mu.Lock()
	if a.hosts == nil {
		a.hosts = map[string]*authFailures{}
	}
	if _, known := a.hosts[host]; !known && len(a.hosts) >= authLogMaxAddrs {
		for h, f := range a.hosts {
			if now.Sub(f.last) > authLogForget {
				delete(a.hosts, h)
			}
		}
		if len(a.hosts) >= authLogMaxAddrs {
			clear(a.hosts) // so many hosts at once: start over rather than grow
		}
	}
	f := a.hosts[host]
	if f == nil || now.Sub(f.last) > authLogForget {
		f = &authFailures{}
		a.hosts[host] = f
	}
	f.last = now
	f.pending++
	f.total++
	first := f.total == 1
	var n, total int
	if first || now.Sub(f.logged) >= authLogInterval {
		n, total = f.pending, f.total
		f.pending = 0
		f.logged = now
	}
	a.mu.Unlock()
	switch {
	case first:
		a.log.Warn("authentication failed", "what", what, "path", path, "user", user, "remote", remote,
			"note", fmt.Sprintf("further failures from %s are counted and logged at most every %v", host, authLogInterval))
	case n > 0:
		a.log.Warn("authentication failures repeated", "what", what, "path", path, "user", user, "remote", remote,
			"failures", n, "failures_total", total)
	}
}

// warnIfOpen warns when a listener other hosts can reach has no
// credentials for what ("read" or "publish") on some paths.
func warnIfOpen(log *slog.Logger, listener, what string, addr net.Addr, creds map[string][]credential) {
	if len(creds["*"]) > 0 || isLoopback(addr) {
		return
	}
	if len(creds) == 0 {
		log.Warn(listener+" listener is reachable from other hosts and no credentials are configured: anyone who reaches it may "+what,
			"address", addr.String())
		return
	}
	log.Warn(listener+" listener is reachable from other hosts and paths without credentials of their own are open: anyone who reaches it may "+what+" them",
		"address", addr.String(), "hint", `add credentials for "*"`)
}

func isLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UDPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true // not a network listener
	}
	return false
}

// CheckRead reports whether user and pass may read path (watch it over
// RTSP), by Config.Auth: true for a path without read credentials. The web
// page and its previews use it so that they open no path RTSP keeps closed.
// A path that is not canonical (see Publish) may not be read: it names no
// stream, and is not an alias of one.
func (s *Server) CheckRead(path, user, pass string) bool {
	if pathname.Check(path) != nil {
		return false
	}
	creds := lookup(s.access.read, path)
	if len(creds) == 0 {
		return true
	}
	for _, c := range creds {
		if c.user == user && c.matches(pass) {
			return true
		}
	}
	return false
}
