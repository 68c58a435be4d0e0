package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/framecast/framecast"
)

// hashPrefix marks a password given as its SHA-256, as in framecast.Credentials.
const hashPrefix = "sha256:"

// credential is one of Options.MetricsCredentials, parsed: the plain
// password, or its SHA-256.
type credential struct {
	user  string
	plain []byte
	hash  []byte
}

var errNoUser = errors.New("a user name is needed (Basic authentication)")

// parseCredentials checks cs as framecast checks RTSP read credentials: a
// user without ':', a password or "sha256:" and 64 hex digits.
func parseCredentials(cs []framecast.Credentials) ([]credential, error) {
	out := make([]credential, 0, len(cs))
	for _, c := range cs {
		if c.User == "" {
			return nil, errNoUser
		}
		if strings.ContainsAny(c.User, ":\r\n") {
			return nil, fmt.Errorf("user %q: a user name cannot contain ':' or line breaks", c.User)
		}
		hexHash, hashed := strings.CutPrefix(c.Pass, hashPrefix)
		switch {
		case !hashed && c.Pass == "":
			return nil, fmt.Errorf("user %q: empty password", c.User)
		case !hashed:
			out = append(out, credential{user: c.User, plain: []byte(c.Pass)})
			continue
		}
		h, err := hex.DecodeString(hexHash)
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("user %q: want sha256: and the 64 hex digits of printf %%s 'PASSWORD' | sha256sum", c.User)
		}
		out = append(out, credential{user: c.User, hash: h})
	}
	return out, nil
}

// matchAny reports whether user and pass are one of creds. Every one is
// checked, in constant time, so that the time taken says nothing of which
// matched or how much of a guess was right.
func matchAny(creds []credential, user, pass string) bool {
	sum := sha256.Sum256([]byte(pass))
	ok := false
	for _, c := range creds {
		userOK := subtle.ConstantTimeCompare([]byte(user), []byte(c.user)) == 1
		var passOK bool
		if c.hash != nil {
			passOK = subtle.ConstantTimeCompare(sum[:], c.hash) == 1
		} else {
			passOK = subtle.ConstantTimeCompare([]byte(pass), c.plain) == 1
		}
		if userOK && passOK {
			ok = true
		}
	}
	return ok
}
