package ingest

import (
	"errors"
	"testing"

	"github.com/framecast/framecast/internal/pathname"
)

// TestHelloRefusesPathAliases: a HELLO path that is another spelling of a
// path is bad-hello, with pathname's reason, so that it never becomes a
// second stream beside the path (and beside its credentials).
func TestHelloRefusesPathAliases(t *testing.T) {
	for _, tc := range []struct{ path, why string }{
		{"/pub/", `path "/pub/" ends with /`},
		{"//pub", `path "//pub" has an empty segment (//)`},
		{"/pub/../pub", `path "/pub/../pub" has a ".." segment`},
		{"/pu%62", `path "/pu%62" has % at byte 3`},
		{"/./pub", `path "/./pub" has a "." segment`},
	} {
		var h Hello
		err := h.Unmarshal(hello("FCST", 1, tc.path, "token"))
		checkError(t, err, CodeBadHello, tc.why)
		if !errors.Is(err, ErrBadHello) {
			t.Errorf("HELLO %q: %v is not bad-hello", tc.path, err)
		}
	}
}

func TestValidatePathIsPathnameCheck(t *testing.T) {
	if MaxPathLen != pathname.MaxLen {
		t.Errorf("MaxPathLen = %d, pathname.MaxLen = %d", MaxPathLen, pathname.MaxLen)
	}
	for _, p := range []string{"/cam", "/a/b", "/pub/", "cam", "/caméra"} {
		if got, want := ValidatePath(p), pathname.Check(p); (got == nil) != (want == nil) {
			t.Errorf("ValidatePath(%q) = %v, pathname.Check = %v", p, got, want)
		}
	}
}
