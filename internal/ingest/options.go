package ingest

import (
	"slices"
	"strconv"
	"strings"
)

// Options are the encoder options of a FORMAT, its "key=value" pairs. A zero
// field is an absent key: the server's default applies.
type Options struct {
	BitrateKbps int     // "bitrate": kbit/s, 1…1000000
	CRF         float64 // "crf": x264's constant rate factor, above 0 and at most 51; excludes bitrate
	GOP         int     // "gop": frames between IDRs, 1…100000
	Preset      string  // "preset": an x264 preset, ultrafast … placebo
	Tune        string  // "tune": "none" or x264 tunes joined by commas, at most one of them psychovisual
	Profile     string  // "profile": baseline, main or high
	Threads     int     // "threads": x264 threads, 0 (auto) … 128
}

// Option limits.
const (
	MaxBitrateKbps = 1000000
	MaxCRF         = 51
	MaxGOP         = 100000
	MaxThreads     = 128
)

var (
	presetNames  = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}
	tuneNames    = []string{"film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode", "zerolatency"}
	psyTuneNames = []string{"film", "animation", "grain", "stillimage", "psnr", "ssim"}
	profileNames = []string{"baseline", "main", "high"}
)

// optionKeys lists the keys in the order String writes them.
var optionKeys = []string{"bitrate", "crf", "gop", "preset", "tune", "profile", "threads"}

// ParseOptions parses a FORMAT's options: "key=value" pairs separated by
// single spaces, or "". Every key is known and appears once, every value is
// valid (see Options). Errors are *Error with code bad-format, naming the
// pair at fault and what was expected.
func ParseOptions(s string) (Options, error) {
	var o Options
	if s == "" {
		return o, nil
	}
	seen := make(map[string]bool, len(optionKeys))
	for _, pair := range strings.Split(s, " ") {
		if pair == "" {
			return Options{}, newError(CodeBadFormat, "options %s: want key=value pairs separated by single spaces", quoteCut(s))
		}
		key, val, ok := strings.Cut(pair, "=")
		if !ok || key == "" || val == "" {
			return Options{}, newError(CodeBadFormat, "option %s: want key=value", quoteCut(pair))
		}
		if !slices.Contains(optionKeys, key) {
			return Options{}, newError(CodeBadFormat, "unknown option %s: want %s", quoteCut(key), strings.Join(optionKeys, ", "))
		}
		if seen[key] {
			return Options{}, newError(CodeBadFormat, "option %s appears twice", key)
		}
		seen[key] = true
		if err := o.set(key, val); err != nil {
			return Options{}, err
		}
	}
	if err := o.Validate(); err != nil {
		return Options{}, err
	}
	return o, nil
}

// set parses one value into o; Validate checks the ranges.
func (o *Options) set(key, val string) error {
	switch key {
	case "bitrate", "gop", "threads":
		n, ok := parseUint(val)
		if !ok {
			return newError(CodeBadFormat, "option %s=%s: want a whole number", key, quoteCut(val))
		}
		switch key {
		case "bitrate":
			o.BitrateKbps = n
			if n == 0 {
				return newError(CodeBadFormat, "option bitrate=0: want 1 to %d kbit/s", MaxBitrateKbps)
			}
		case "gop":
			o.GOP = n
			if n == 0 {
				return newError(CodeBadFormat, "option gop=0: want 1 to %d frames", MaxGOP)
			}
		case "threads":
			o.Threads = n
		}
	case "crf":
		v, err := strconv.ParseFloat(val, 64)
		if err != nil || strings.Trim(val, "0123456789.") != "" {
			return newError(CodeBadFormat, "option crf=%s: want a number such as 23 or 23.5", quoteCut(val))
		}
		o.CRF = v
		if v == 0 {
			return newError(CodeBadFormat, "option crf=%s: want more than 0 and at most %d", val, MaxCRF)
		}
	case "preset":
		o.Preset = val
	case "tune":
		o.Tune = val
	case "profile":
		o.Profile = val
	}
	return nil
}

// parseUint parses ASCII digits (no sign) into an int up to 1e9.
func parseUint(s string) (int, bool) {
	if len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// Validate reports whether o's values are in range and its names known.
// Errors are *Error with code bad-format.
func (o *Options) Validate() error {
	switch {
	case o.BitrateKbps < 0 || o.BitrateKbps > MaxBitrateKbps:
		return newError(CodeBadFormat, "option bitrate=%d: want 1 to %d kbit/s", o.BitrateKbps, MaxBitrateKbps)
	case o.CRF < 0 || o.CRF > MaxCRF || o.CRF != o.CRF:
		return newError(CodeBadFormat, "option crf=%g: want more than 0 and at most %d", o.CRF, MaxCRF)
	case o.BitrateKbps != 0 && o.CRF != 0:
		return newError(CodeBadFormat, "options bitrate and crf exclude each other: give one")
	case o.GOP < 0 || o.GOP > MaxGOP:
		return newError(CodeBadFormat, "option gop=%d: want 1 to %d frames", o.GOP, MaxGOP)
	case o.Threads < 0 || o.Threads > MaxThreads:
		return newError(CodeBadFormat, "option threads=%d: want 0 (automatic) to %d", o.Threads, MaxThreads)
	case o.Preset != "" && !slices.Contains(presetNames, o.Preset):
		return newError(CodeBadFormat, "option preset=%s: want one of %s", quoteCut(o.Preset), strings.Join(presetNames, ", "))
	case o.Profile != "" && !slices.Contains(profileNames, o.Profile):
		return newError(CodeBadFormat, "option profile=%s: want one of %s", quoteCut(o.Profile), strings.Join(profileNames, ", "))
	}
	if o.Tune != "" && o.Tune != "none" {
		psy := 0
		for _, t := range strings.Split(o.Tune, ",") {
			if !slices.Contains(tuneNames, t) {
				return newError(CodeBadFormat, "option tune=%s: want none, or one or more of %s joined by commas",
					quoteCut(o.Tune), strings.Join(tuneNames, ", "))
			}
			if slices.Contains(psyTuneNames, t) {
				psy++
			}
		}
		if psy > 1 {
			return newError(CodeBadFormat, "option tune=%s: at most one of %s", quoteCut(o.Tune), strings.Join(psyTuneNames, ", "))
		}
	}
	return nil
}

// String returns o as FORMAT options, keys in a fixed order and zero fields
// left out, e.g. "bitrate=2000 gop=60".
func (o Options) String() string {
	var b strings.Builder
	add := func(key, val string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(val)
	}
	if o.BitrateKbps != 0 {
		add("bitrate", strconv.Itoa(o.BitrateKbps))
	}
	if o.CRF != 0 {
		add("crf", strconv.FormatFloat(o.CRF, 'f', -1, 64))
	}
	if o.GOP != 0 {
		add("gop", strconv.Itoa(o.GOP))
	}
	if o.Preset != "" {
		add("preset", o.Preset)
	}
	if o.Tune != "" {
		add("tune", o.Tune)
	}
	if o.Profile != "" {
		add("profile", o.Profile)
	}
	if o.Threads != 0 {
		add("threads", strconv.Itoa(o.Threads))
	}
	return b.String()
}
