package main

import (
	"bytes"
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/mastershiptest"
)

// TestValueFile: --value-file gives the member a value above the limit of
// one command-line argument (128 KiB on Linux), byte for byte; the member
// runs as a real process, so the argument limit is the real one.
func TestValueFile(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	// 200 KiB, with a trailing newline, which is part of the value.
	value := strings.Repeat("0123456789abcdef", 200*1024/16) + "\n"
	a := startNode(t, "--endpoints", c.Members[0].ClientURL, "--prefix", "/vf", "--id", "a", "--ttl", "2s",
		"--value-file", writeFile(t, value))
	expect(t, a.next(t), "INIT_MASTER", "a", []string{}, "a", []string{"a"}, "REFRESH")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Client(t).Get(ctx, "/vf/a")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != value {
		var got int
		if len(resp.Kvs) == 1 {
			got = len(resp.Kvs[0].Value)
		}
		t.Fatalf("/vf/a: %d keys, value of %d bytes; want the file's %d bytes", len(resp.Kvs), got, len(value))
	}
	if err := a.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expect(t, a.next(t), "OFFLINE", "a", []string{}, "", []string{}, "OFFLINE")
	if err := a.wait(); err != nil {
		t.Fatalf("a after SIGTERM: %v, want exit 0", err)
	}
}

func TestValueFileFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--value", "x", "--value-file", writeFile(t, "y")}, "node: --value and --value-file: give one or the other"},
		{[]string{"--value-file", "/nonexistent/value"}, "node: --value-file: open /nonexistent/value"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"--prefix", "/p", "--id", "a"}, tc.args...), &stdout, &stderr)
		if code != 2 || !strings.HasPrefix(stderr.String(), tc.want) || strings.Count(stderr.String(), "\n") != 1 || stdout.Len() != 0 {
			t.Errorf("run(%q): exit %d, stderr %q, stdout %q; want 2 and one line starting %q", tc.args, code, stderr.String(), stdout.String(), tc.want)
		}
	}
}
