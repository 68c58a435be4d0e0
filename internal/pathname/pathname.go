// Package pathname is framecast's one rule for stream paths ("/cam",
// "/site/cam"), the names under which producers publish and viewers watch.
// It sits beside the pipeline (source → convert → encode → fan-out) rather
// than in it: every place a path enters — the Go API, ingest HELLO, RTSP
// requests, the web API and the configuration — checks it here, so that a
// path means one stream and one set of credentials everywhere. It is pure
// Go and imports nothing from the project, so clients can use it too.
//
// A path is canonical when it is "/" followed by one or more segments
// joined by single slashes, each segment made of ASCII letters, digits,
// '.', '_', '~' and '-', no segment "." or "..", and at most [MaxLen]
// bytes. Paths are case-sensitive, as URL paths are: "/Cam" and "/cam" are
// two streams. Nothing is ever canonicalized: a path with an empty segment
// ("//"), a trailing slash, a dot segment or a percent-escape is refused, so
// that no spelling of a path can reach another path's stream or skip its
// credentials. Every such path is also an rtsp:// and http:// URL path as is,
// with nothing to escape.
package pathname

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLen is the longest path, in bytes.
const MaxLen = 255

// Want describes a canonical path, for error messages.
const Want = `want a path such as /cam or /site/cam: segments of letters, digits, '.', '_', '~' or '-' after single slashes, at most 255 bytes`

// ErrInvalid is wrapped by every error Check returns.
var ErrInvalid = errors.New("invalid stream path")

// Error is a path Check refused, and why.
type Error struct {
	Path   string // the path as given
	Reason string // e.g. "ends with /"
}

// Error reads `path "/pub/" ends with /; want a path such as /cam …`.
func (e *Error) Error() string {
	return fmt.Sprintf("path %s %s; %s", quoteCut(e.Path), e.Reason, Want)
}

// Unwrap returns ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

// Check returns nil when p is a canonical path, or an *Error that says what
// is wrong with it. It does not allocate for a canonical path.
func Check(p string) error {
	switch {
	case p == "":
		return &Error{p, "is empty"}
	case p[0] != '/':
		return &Error{p, "must start with /"}
	case p == "/":
		return &Error{p, "names no stream"}
	case len(p) > MaxLen:
		return &Error{p, fmt.Sprintf("is %d bytes, more than %d", len(p), MaxLen)}
	}
	start := 1 // of the current segment
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			if c := p[i]; !allowed(c) {
				return &Error{p, badChar(p, i)}
			}
			continue
		}
		switch seg := p[start:i]; {
		case seg == "" && i == len(p):
			return &Error{p, "ends with /"}
		case seg == "":
			return &Error{p, "has an empty segment (//)"}
		case seg == "." || seg == "..":
			return &Error{p, fmt.Sprintf("has a %q segment", seg)}
		}
		start = i + 1
	}
	return nil
}

// allowed reports whether c may appear in a segment.
func allowed(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '~' || c == '-'
}

// badChar says what is wrong with the byte at p[i], which is not allowed.
func badChar(p string, i int) string {
	at := fmt.Sprintf("at byte %d", i)
	switch r, size := utf8.DecodeRuneInString(p[i:]); {
	case p[i] == '%':
		return "has % " + at + ": percent-escapes are not decoded, write the path itself"
	case r == utf8.RuneError && size <= 1:
		return fmt.Sprintf("has byte 0x%02x %s, which is not UTF-8", p[i], at)
	case r >= utf8.RuneSelf:
		return fmt.Sprintf("has %q (%U) %s: only ASCII letters and digits are allowed", r, r, at)
	default:
		return fmt.Sprintf("has %q %s", r, at)
	}
}

// quoteCut quotes a path for an error message, cut to 64 bytes so that
// messages stay short.
func quoteCut(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q…", strings.ToValidUTF8(s[:64], ""))
	}
	return fmt.Sprintf("%q", s)
}
