package member

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	c := Defaults()
	if err := c.Check(); err != nil || c.TTL != DefaultTTL || c.Log == nil {
		t.Fatalf("Defaults: %v, TTL %v, Log %v; want DefaultTTL and a logger", err, c.TTL, c.Log)
	}
	for _, tc := range []struct {
		c     Config
		field string
	}{
		{Config{}, "TTL"},
		{Config{TTL: 1500 * time.Millisecond}, "TTL"},
		{Config{TTL: -time.Second}, "TTL"},
		{Config{TTL: 2 * time.Hour}, "TTL"},
		{Config{TTL: 3 * time.Second, Margin: 2 * time.Second, MarginSet: true}, "SafetyMargin"},
		{Config{TTL: DefaultTTL, MarginSet: true}, "SafetyMargin"},
		{Config{TTL: DefaultTTL, LogSet: true}, "Logger"},
	} {
		err := tc.c.Check()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.HasPrefix(err.Error(), tc.field+": ") {
			t.Errorf("%+v: Check = %v, want a FieldError naming %s", tc.c, err, tc.field)
		}
	}
}

func TestPrefix(t *testing.T) {
	for in, want := range map[string]string{"/g": "/g/", "/g/": "/g/", "g": "g/", "/a/b": "/a/b/"} {
		if got, err := Prefix(in); err != nil || got != want {
			t.Errorf("Prefix(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "/", "//", "///"} {
		var fe *FieldError
		if _, err := Prefix(in); !errors.As(err, &fe) || fe.Field != "prefix" {
			t.Errorf("Prefix(%q) = %v, want a FieldError naming prefix", in, err)
		}
	}
}
