package pixfmt_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/framecast/framecast/pixfmt"
)

func TestEveryFormatHasItsFFmpegName(t *testing.T) {
	want := []string{"bgr24", "rgb24", "bgra", "rgba", "gray", "yuv420p", "nv12", "yuyv422"}
	all := pixfmt.All()
	if len(all) != len(want) {
		t.Fatalf("All() has %d formats, want %d", len(all), len(want))
	}
	for i, pf := range all {
		if !pf.Valid() || pf.String() != want[i] {
			t.Errorf("All()[%d] = %v (valid %v), want %s", i, pf, pf.Valid(), want[i])
		}
		text, err := pf.MarshalText()
		if err != nil || string(text) != want[i] {
			t.Errorf("%v.MarshalText() = %q, %v", pf, text, err)
		}
		var got pixfmt.PixelFormat
		if err := got.UnmarshalText([]byte(want[i])); err != nil || got != pf {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", want[i], got, err, pf)
		}
	}
	all[0] = 0
	if pixfmt.All()[0] != pixfmt.BGR24 {
		t.Error("All() returns a shared slice")
	}
}

func TestValuesThatAreNoFormat(t *testing.T) {
	for _, pf := range []pixfmt.PixelFormat{0, -1, 9, 42} {
		if pf.Valid() {
			t.Errorf("%d is valid", int(pf))
		}
		if got, want := pf.String(), fmt.Sprintf("PixelFormat(%d)", int(pf)); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
		if _, err := pf.MarshalText(); !errors.Is(err, pixfmt.ErrUnknown) {
			t.Errorf("PixelFormat(%d).MarshalText() error = %v, want ErrUnknown", int(pf), err)
		}
	}
}

func TestUnknownNameListsTheValidOnes(t *testing.T) {
	for _, name := range []string{"foo", "", "BGR24", "yuv420", "bgr24 "} {
		pf := pixfmt.NV12
		err := pf.UnmarshalText([]byte(name))
		want := fmt.Sprintf("unknown pixel format %q (want one of bgr24, rgb24, bgra, rgba, gray, yuv420p, nv12, yuyv422)", name)
		if err == nil || err.Error() != want || !errors.Is(err, pixfmt.ErrUnknown) {
			t.Errorf("UnmarshalText(%q) error = %v, want %q", name, err, want)
		}
		if pf != pixfmt.NV12 {
			t.Errorf("UnmarshalText(%q) changed the format to %v", name, pf)
		}
	}
}

func TestFormatsAreNamesInJSON(t *testing.T) {
	type cfg struct{ PixelFormat pixfmt.PixelFormat }
	b, err := json.Marshal(cfg{pixfmt.YUYV422})
	if err != nil || string(b) != `{"PixelFormat":"yuyv422"}` {
		t.Errorf("json.Marshal = %s, %v", b, err)
	}
	var c cfg
	if err := json.Unmarshal([]byte(`{"PixelFormat":"gray"}`), &c); err != nil || c.PixelFormat != pixfmt.Gray {
		t.Errorf("json.Unmarshal = %+v, %v", c, err)
	}
}

func FuzzUnmarshalText(f *testing.F) {
	for _, pf := range pixfmt.All() {
		f.Add(pf.String())
	}
	f.Add("")
	f.Add("BGR24")
	f.Fuzz(func(t *testing.T, name string) {
		var pf pixfmt.PixelFormat
		if err := pf.UnmarshalText([]byte(name)); err != nil {
			if pf != 0 || !errors.Is(err, pixfmt.ErrUnknown) {
				t.Fatalf("UnmarshalText(%q) = %v, %v", name, pf, err)
			}
			return
		}
		if !pf.Valid() || pf.String() != name {
			t.Fatalf("UnmarshalText(%q) = %v, which is named %q", name, int(pf), pf)
		}
		if text, err := pf.MarshalText(); err != nil || string(text) != name {
			t.Fatalf("%v does not round-trip: %q, %v", pf, text, err)
		}
	})
}
