package main

import (
	"bytes"
	"context"
	"regexp"
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
	for _, args := range [][]string{{"--endpoints", "127.0.0.1:1"}, {"--ttl", "x"}, {"extra"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q) succeeded, want an error", args)
		}
	}
}
