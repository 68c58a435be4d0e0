package ingest

import (
	"strings"
	"testing"
)

func TestParseOptionsTakesEveryKey(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want Options
		out  string
	}{
		{"", Options{}, ""},
		{"bitrate=2000 gop=60", Options{BitrateKbps: 2000, GOP: 60}, "bitrate=2000 gop=60"},
		{"gop=60 bitrate=2000", Options{BitrateKbps: 2000, GOP: 60}, "bitrate=2000 gop=60"},
		{"crf=23.5", Options{CRF: 23.5}, "crf=23.5"},
		{"crf=51", Options{CRF: 51}, "crf=51"},
		{"preset=veryfast tune=zerolatency profile=baseline threads=4", Options{Preset: "veryfast", Tune: "zerolatency", Profile: "baseline", Threads: 4}, "preset=veryfast tune=zerolatency profile=baseline threads=4"},
		{"tune=film,zerolatency,fastdecode", Options{Tune: "film,zerolatency,fastdecode"}, "tune=film,zerolatency,fastdecode"},
		{"tune=none", Options{Tune: "none"}, "tune=none"},
		{"threads=0", Options{}, ""},
		{"bitrate=1000000 gop=100000 threads=128", Options{BitrateKbps: 1000000, GOP: 100000, Threads: 128}, "bitrate=1000000 gop=100000 threads=128"},
	} {
		got, err := ParseOptions(tc.s)
		if err != nil || got != tc.want {
			t.Errorf("ParseOptions(%q) = %+v, %v; want %+v", tc.s, got, err, tc.want)
		}
		if s := got.String(); s != tc.out {
			t.Errorf("String of %q = %q, want %q", tc.s, s, tc.out)
		}
	}
}

func TestParseOptionsRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct{ s, want string }{
		{"bitrate=2000  gop=60", `options "bitrate=2000  gop=60": want key=value pairs separated by single spaces`},
		{" gop=60", "separated by single spaces"},
		{"gop=60 ", "separated by single spaces"},
		{"gop", `option "gop": want key=value`},
		{"gop=", `option "gop=": want key=value`},
		{"=60", `option "=60": want key=value`},
		{"keyint=60", `unknown option "keyint": want bitrate, crf, gop, preset, tune, profile, threads`},
		{"gop=60 gop=30", "option gop appears twice"},
		{"bitrate=fast", `option bitrate="fast": want a whole number`},
		{"bitrate=-5", `option bitrate="-5": want a whole number`},
		{"bitrate=+5", `option bitrate="+5": want a whole number`},
		{"bitrate=0", "option bitrate=0: want 1 to 1000000 kbit/s"},
		{"bitrate=1000001", "option bitrate=1000001: want 1 to 1000000 kbit/s"},
		{"bitrate=99999999999999999999", "want a whole number"},
		{"crf=0", "option crf=0: want more than 0 and at most 51"},
		{"crf=52", "option crf=52: want more than 0 and at most 51"},
		{"crf=1e1", `option crf="1e1": want a number such as 23 or 23.5`},
		{"crf=NaN", `option crf="NaN"`},
		{"crf=2.3.4", `option crf="2.3.4"`},
		{"bitrate=2000 crf=23", "options bitrate and crf exclude each other: give one"},
		{"gop=0", "option gop=0: want 1 to 100000 frames"},
		{"gop=100001", "option gop=100001"},
		{"threads=129", "option threads=129: want 0 (automatic) to 128"},
		{"preset=turbo", `option preset="turbo": want one of ultrafast, superfast`},
		{"profile=high10", `option profile="high10": want one of baseline, main, high`},
		{"tune=fast", `option tune="fast": want none, or one or more of film`},
		{"tune=film,grain", `option tune="film,grain": at most one of film, animation`},
		{"tune=zerolatency,", `option tune="zerolatency,"`},
		{"preset=" + strings.Repeat("x", 100), `option preset="xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"…`},
	} {
		_, err := ParseOptions(tc.s)
		checkError(t, err, CodeBadFormat, tc.want)
	}
}

func TestOptionsValidateRefusesWhatCannotBeWritten(t *testing.T) {
	for _, o := range []Options{{BitrateKbps: -1}, {CRF: -1}, {GOP: -1}, {Threads: -1}, {Preset: "ultra fast"}, {Tune: "a b"}} {
		if err := o.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want bad-format", o)
		}
	}
}

func FuzzOptions(f *testing.F) {
	f.Add("bitrate=2000 gop=60")
	f.Add("crf=23.5 preset=veryfast tune=film,zerolatency profile=main threads=2")
	f.Add("gop=60  bitrate=1")
	f.Add("crf=1.")
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseOptions(s)
		if err != nil {
			return
		}
		again, err := ParseOptions(o.String())
		if err != nil || again != o {
			t.Fatalf("ParseOptions(%q) = %+v, whose String %q parses as %+v, %v", s, o, o.String(), again, err)
		}
	})
}
