package ingest

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func TestHelloMarshalsSpecExample(t *testing.T) {
	h := Hello{Path: "/cam"}
	if b := mustMarshal(t, &h); !bytes.Equal(b, specHello[HeaderSize:]) {
		t.Errorf("HELLO payload = % x, want % x", b, specHello[HeaderSize:])
	}
}

func TestHelloRoundTrip(t *testing.T) {
	for _, h := range []Hello{
		{Version: 1, Path: "/cam"},
		{Version: 1, Path: "/a/b/c", Token: "s3cret"},
		{Version: 1, Path: "/" + strings.Repeat("a", MaxPathLen-1)},
		{Version: 1, Path: "/x", Token: strings.Repeat("t", MaxControlPayload-12)},
	} {
		var got Hello
		if err := got.Unmarshal(mustMarshal(t, &h)); err != nil || got != h {
			t.Errorf("round trip of %+.40v: %+.40v, %v", h, got, err)
		}
	}
}

// hello builds a HELLO payload field by field.
func hello(magic string, version uint16, path, token string) []byte {
	b := []byte(magic)
	b = binary.LittleEndian.AppendUint16(b, version)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(path)))
	b = append(b, path...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(token)))
	return append(b, token...)
}

func TestHelloUnmarshalErrors(t *testing.T) {
	long := "/" + strings.Repeat("a", 255)
	for _, tc := range []struct {
		name string
		b    []byte
		code Code
		want string
	}{
		{"empty", nil, CodeMalformed, "HELLO payload is 0 bytes, want at least 10"},
		{"wrong magic", hello("RTSP", 1, "/cam", ""), CodeBadHello, `HELLO magic is "RTSP", want "FCST"`},
		{"version 2", hello("FCST", 2, "/cam", ""), CodeUnsupportedVersion, "protocol version 2 is not supported: this server speaks version 1"},
		{"version 2 with another layout", []byte("FCST\x02\x00\xff"), CodeUnsupportedVersion, "version 2"},
		{"version 0", hello("FCST", 0, "/cam", ""), CodeUnsupportedVersion, "protocol version 0"},
		{"no token length", hello("FCST", 1, "/cam", "")[:12], CodeMalformed, "HELLO payload is 12 bytes, too short for a path of 4 bytes"},
		{"shorter than the fixed fields", hello("FCST", 1, "/cam", "")[:9], CodeMalformed, "HELLO payload is 9 bytes, want at least 10"},
		{"path_len overruns", append(hello("FCST", 1, "", "")[:6], 0xff, 0, 0, 0), CodeMalformed, "too short for a path of 255 bytes"},
		{"token overruns", append(hello("FCST", 1, "/cam", "")[:12], 5, 0, 'a'), CodeMalformed, "want 19 for a path of 4 bytes and a token of 5 bytes"},
		{"trailing bytes", append(hello("FCST", 1, "/cam", ""), 0), CodeMalformed, "HELLO payload is 15 bytes, want 14"},
		{"empty path", hello("FCST", 1, "", ""), CodeBadHello, `path "" is empty`},
		{"relative path", hello("FCST", 1, "cam", ""), CodeBadHello, `path "cam"`},
		{"space", hello("FCST", 1, "/my cam", ""), CodeBadHello, `path "/my cam"`},
		{"question mark", hello("FCST", 1, "/cam?x=1", ""), CodeBadHello, `path "/cam?x=1"`},
		{"hash", hello("FCST", 1, "/cam#1", ""), CodeBadHello, `path "/cam#1"`},
		{"newline", hello("FCST", 1, "/cam\n", ""), CodeBadHello, `path "/cam\n"`},
		{"invalid UTF-8", hello("FCST", 1, "/\xff", ""), CodeBadHello, `path "/\xff"`},
		{"too long", hello("FCST", 1, long, ""), CodeBadHello, "at most 255 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Hello
			checkError(t, h.Unmarshal(tc.b), tc.code, tc.want)
		})
	}
}

func TestValidatePathTakesTheLongestPath(t *testing.T) {
	if err := ValidatePath("/" + strings.Repeat("a", 254)); err != nil {
		t.Errorf("255-byte path: %v", err)
	}
	if err := ValidatePath("/caméra/1"); err == nil {
		t.Errorf("non-ASCII path /caméra/1 was accepted: paths are ASCII, see pathname.Check")
	}
}

func FuzzHello(f *testing.F) {
	f.Add(specHello[HeaderSize:])
	f.Add(hello("FCST", 1, "/cam", "token"))
	f.Add(hello("FCST", 2, "/cam", ""))
	f.Add(hello("FCST", 1, "/cam", "")[:11])
	f.Add([]byte("FCST\x01\x00\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Hello
		if h.Unmarshal(b) != nil {
			return
		}
		if ValidatePath(h.Path) != nil {
			t.Fatalf("accepted path %q", h.Path)
		}
		if out := mustMarshal(t, &h); !bytes.Equal(out, b) {
			t.Fatalf("Marshal(Unmarshal(% x)) = % x", b, out)
		}
	})
}
