package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestFailover runs the self-contained failover and checks its story: n1
// leads, stops on its own when its connection dies, and n2, next in line,
// takes over after that.
func TestFailover(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	s := out.String()
	order := []string{
		`n1  leading \(epoch \d+\): serving`,
		`n2  follows n1`,
		`n3  follows n1`,
		`-   n1 dies`,
		`n1  stopped leading`,
		`n2  leading \(epoch \d+\): serving`,
		`-   n2 took over`,
	}
	at := 0
	for _, re := range order {
		loc := regexp.MustCompile(re).FindStringIndex(s[at:])
		if loc == nil {
			t.Fatalf("output lacks %q after offset %d:\n%s", re, at, s)
		}
		at += loc[1]
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the flag the error must name
	}{
		{[]string{"--endpoints", "127.0.0.1:1"}, "--name"},
		{[]string{"--ttl", "x"}, "-ttl"},
		{[]string{"--ttl", "1500ms"}, "--ttl"},
		{[]string{"--name", "n1"}, "--name"},
		{[]string{"--cacert", "ca.pem"}, "--cacert"},
		{[]string{"--user", "u"}, "--user"},
		{[]string{"extra"}, "extra"},
	} {
		err := run(context.Background(), tc.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q): %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}
