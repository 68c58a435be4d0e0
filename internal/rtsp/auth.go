package rtsp

import (
	"crypto/sha256"
	"crypto/subtle"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/auth"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
)

// Credential is a user name and password a viewer may present. The password
// is either plain (Pass), which RTSP Basic and Digest can both verify, or
// the SHA-256 of it (PassSHA256), which only Basic can verify: Digest
// proves knowledge of the plain password without sending it, so the
// server needs the plain password to check it.
type Credential struct {
	User       string
	Pass       string
	PassSHA256 []byte // 32 bytes; when set, Pass is unused
}

func (c Credential) hashed() bool { return c.PassSHA256 != nil }

// basicRealm is the realm of the Basic-only challenge sent for paths with
// hashed passwords: gortsplib's, so that clients see one realm whatever
// the path. A Basic realm is only shown to users, never checked.
const basicRealm = "ipcam"

// authorize checks a DESCRIBE or SETUP request for path against the path's
// read credentials. It returns nil when the request may go on, or the
// response (and error) to answer it with: 401 with a challenge when no
// credentials were given, 401 closing the connection (gortsplib's way) when
// they were wrong.
func (h *handler) authorize(conn *gortsplib.ServerConn, req *base.Request, path string) (*base.Response, error) {
	if h.cfg.ReadCredentials == nil {
		return nil, nil
	}
	creds := h.cfg.ReadCredentials(path)
	if len(creds) == 0 {
		return nil, nil
	}
	var given headers.Authorization
	provided := given.Unmarshal(req.Header["Authorization"]) == nil && given.Username != ""
	anyHashed := false
	for _, c := range creds {
		if c.hashed() {
			anyHashed = true
			if provided && given.Method == headers.AuthMethodBasic && given.Username == c.User &&
				subtle.ConstantTimeCompare(sha256Of(given.BasicPass), c.PassSHA256) == 1 {
				return nil, nil
			}
			continue
		}
		// VerifyCredentials also makes the connection's Digest nonce, which
		// gortsplib's challenge needs, so it runs even without credentials.
		if conn.VerifyCredentials(req, c.User, c.Pass) {
			return nil, nil
		}
	}
	res := &base.Response{StatusCode: base.StatusUnauthorized}
	if !provided {
		if anyHashed {
			// Digest cannot be checked against a hashed password: ask for
			// Basic only, or clients such as ffmpeg would choose Digest.
			res.Header = base.Header{"WWW-Authenticate": auth.GenerateWWWAuthenticate(
				[]auth.VerifyMethod{auth.VerifyMethodBasic}, basicRealm, "")}
			return res, nil
		}
		// gortsplib adds its challenge (Basic and Digest) and keeps the
		// connection open for the retry.
		return res, liberrors.ErrServerAuth{}
	}
	if h.cfg.OnAuthFailure != nil {
		h.cfg.OnAuthFailure(conn.NetConn().RemoteAddr(), path, given.Username)
	}
	// gortsplib answers 401 and closes the connection.
	return res, liberrors.ErrServerAuth{}
}

func sha256Of(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
