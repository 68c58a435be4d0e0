package pathname

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"testing"
)

func TestCheckAcceptsCanonicalPaths(t *testing.T) {
	for _, p := range []string{
		"/cam", "/test", "/a/b", "/Cam", "/site-1/cam_2.main~x", "/...", "/.hidden", "/a..b",
		"/" + strings.Repeat("a", MaxLen-1),
	} {
		if err := Check(p); err != nil {
			t.Errorf("Check(%q) = %v, want nil", p, err)
		}
	}
}

func TestCheckRefusesAliasesAndSaysWhy(t *testing.T) {
	for _, tc := range []struct{ path, why string }{
		{"", `path "" is empty`},
		{"cam", `path "cam" must start with /`},
		{"/", `path "/" names no stream`},
		{"/pub/", `path "/pub/" ends with /`},
		{"//pub", `path "//pub" has an empty segment (//)`},
		{"/a//b", `has an empty segment (//)`},
		{"/./pub", `path "/./pub" has a "." segment`},
		{"/pub/.", `has a "." segment`},
		{"/pub/../pub", `path "/pub/../pub" has a ".." segment`},
		{"/..", `has a ".." segment`},
		{"/pu%62", `path "/pu%62" has % at byte 3: percent-escapes are not decoded`},
		{"/my cam", `path "/my cam" has ' ' at byte 3`},
		{"/cam?x=1", `has '?' at byte 4`},
		{"/cam#1", `has '#' at byte 4`},
		{"/cam\n", `has '\n' at byte 4`},
		{"/a\\b", `has '\\' at byte 2`},
		{"/a:b", `has ':' at byte 2`},
		{"/caméra", `has 'é' (U+00E9) at byte 4: only ASCII letters and digits are allowed`},
		{"/\xff", `has byte 0xff at byte 1, which is not UTF-8`},
		{"/" + strings.Repeat("a", MaxLen), "is 256 bytes, more than 255"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			err := Check(tc.path)
			if err == nil {
				t.Fatalf("Check(%q) = nil, want an error", tc.path)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Check(%q) = %v, does not wrap ErrInvalid", tc.path, err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.why) || !strings.HasSuffix(msg, "; "+Want) {
				t.Errorf("Check(%q) = %q, want it to say %q and end with %q", tc.path, msg, tc.why, Want)
			}
		})
	}
}

func TestCheckDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = Check("/site/cam") }); n != 0 {
		t.Errorf("Check allocates %v times for a canonical path", n)
	}
}

func ExampleCheck() {
	fmt.Println(Check("/site/cam"))
	fmt.Println(Check("/pub/"))
	// Output:
	// <nil>
	// path "/pub/" ends with /; want a path such as /cam or /site/cam: segments of letters, digits, '.', '_', '~' or '-' after single slashes, at most 255 bytes
}

// FuzzCheck checks that every path Check accepts is one no layer can read
// as another: path.Clean leaves it alone, and it is its own URL path,
// unescaped and escaped.
func FuzzCheck(f *testing.F) {
	for _, p := range []string{"/cam", "/a/b", "/pub/", "//pub", "/./pub", "/pub/../pub", "/pu%62", "/caméra", "/\xff", ""} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := Check(p)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Path != p || !strings.HasSuffix(err.Error(), Want) {
				t.Fatalf("Check(%q) = %v, want an *Error for the path that ends with Want", p, err)
			}
			return
		}
		if len(p) > MaxLen || path.Clean(p) != p || p == "/" {
			t.Fatalf("accepted %q, which path.Clean makes %q", p, path.Clean(p))
		}
		u, perr := url.Parse("rtsp://h" + p)
		if perr != nil || u.Path != p || u.EscapedPath() != p || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("accepted %q, which is not its own URL path (%v)", p, perr)
		}
		for _, seg := range strings.Split(p[1:], "/") {
			if seg == "" || seg == "." || seg == ".." || url.PathEscape(seg) != seg {
				t.Fatalf("accepted %q with segment %q", p, seg)
			}
		}
	})
}
