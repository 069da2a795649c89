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

// TestDemo runs the demo as the README's command does, with its embedded
// etcd, and checks that it tells the whole story in order.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, re := range []string{
		`(?m)^\s+\+\S+  a  INIT_MASTER\s+nodes=\[\]`,
		`(?m)^\s+\+\S+  c  INIT_SLAVE\s+nodes=\[a\]`,
		`(?m)^\s+\+\S+  b  CHANGE_TO_MASTER nodes=\[c\]  master=b members=\[b c\]`,
		`(?m)^\s+\+\S+  c  MASTER_CHANGE\s+nodes=\[b\]`,
		`(?m)^\s+\+\S+  b  OFFLINE`,
		`(?m)^\s+\+\S+  c  CHANGE_TO_MASTER nodes=\[\]  master=c members=\[c\]`,
		`-- Done\.`,
	} {
		if !regexp.MustCompile(re).MatchString(s) {
			t.Errorf("output lacks %s:\n%s", re, s)
		}
	}
	if i, j := strings.Index(s, "b  CHANGE_TO_MASTER"), strings.Index(s, "c  CHANGE_TO_MASTER"); i < 0 || j < i {
		t.Errorf("b should become master before c:\n%s", s)
	}
}

func TestBadFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the flag the error must name
	}{
		{[]string{"--ttl", "soon"}, "-ttl"},
		{[]string{"--ttl", "1500ms"}, "--ttl"},
		{[]string{"--ttl", "0s"}, "--ttl"},
		{[]string{"--endpoints", ","}, "--endpoints"},
		{[]string{"--cacert", "ca.pem"}, "--cacert"},
		{[]string{"--user", "demo"}, "--user"},
		{[]string{"extra"}, "extra"},
	} {
		err := run(context.Background(), tc.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q): %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}
