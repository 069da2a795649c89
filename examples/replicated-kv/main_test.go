package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // what the one line on standard error must name
	}{
		{nil, "usage"},
		{[]string{"serve"}, "serve"},
		{[]string{"server", "--name", "a"}, "--prefix"},
		{[]string{"server", "--prefix", "/kv"}, "--name"},
		{[]string{"server", "--prefix", "/kv", "--name", "a#b"}, "--name"},
		{[]string{"server", "--prefix", "kv", "--name", "a"}, "--prefix"},
		{[]string{"server", "--prefix", "/kv", "--name", "a", "--ttl", "1500ms"}, "--ttl"},
		{[]string{"server", "--prefix", "/kv", "--name", "a", "--ttl", "0s"}, "--ttl"},
		{[]string{"server", "--prefix", "/kv", "--name", "a", "--replication-timeout", "0s"}, "--replication-timeout"},
		{[]string{"server", "--prefix", "/kv", "--name", "a", "--unclean-wait", "-1s"}, "--unclean-wait"},
		{[]string{"server", "--prefix", "/kv", "--name", "a", "--endpoints", " , "}, "--endpoints"},
		{[]string{"server", "--prefix", "/kv", "--name", "a", "extra"}, "extra"},
		{[]string{"server", "--prefix", "/kv", "--name", "a", "--advertise", "nohost"}, "--advertise"},
		{[]string{"server", "--prefix", "/kv", "--name", "a", "--log-level", "loud"}, "log-level"},
		{[]string{"put", "k", "v"}, "--prefix"},
		{[]string{"put", "--prefix", "/kv", "k"}, "2 arguments"},
		{[]string{"get", "--prefix", "/kv"}, "1 arguments"},
		{[]string{"client", "--prefix", "/kv", "--count", "-1"}, "--count"},
		{[]string{"client", "--prefix", "/kv", "--retry-for", "0s"}, "--retry-for"},
		{[]string{"client", "--prefix", "kv"}, "--prefix"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tc.want) {
				t.Errorf("stderr = %q, want one line naming %s", msg, tc.want)
			}
		})
	}
}

// TestMalformedEndpoint: an endpoint without a port is refused at once by
// every command, in one line naming --endpoints and the element, with the
// exit code of any bad flag, rather than retried for the whole start-up
// wait (a server) or --retry-for (a client) as if etcd were down.
func TestMalformedEndpoint(t *testing.T) {
	for _, args := range [][]string{
		{"server", "--name", "a"},
		{"put", "k", "v"},
		{"get", "k"},
		{"delete", "k"},
		{"client", "--count", "1"},
	} {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel()
			// The context ends the run only if the endpoint is not refused.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			start := time.Now()
			// The flags before the arguments, which end them.
			all := append([]string{args[0], "--endpoints", "127.0.0.1", "--prefix", "/kv"}, args[1:]...)
			code := run(ctx, all, &stdout, &stderr)
			took := time.Since(start)
			t.Logf("ended after %v", took)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if took > 5*time.Second {
				t.Errorf("ended after %v, want at once (the start-up wait is %v, --retry-for 30s)", took, startWait+2*defaultTTL)
			}
			want := "replicated-kv " + args[0] + `: --endpoints: "127.0.0.1" has no port (want host:port`
			if msg := stderr.String(); strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, want) {
				t.Errorf("stderr = %q, want one line starting %q", msg, want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

// The client commands, through the resolver, against an in-process server.
func TestCommands(t *testing.T) {
	c := newCluster(t)
	a := c.start("a", nil)
	waitServing(t, a)
	ep := c.etcd.Members[0].ClientURL
	cmd := func(want int, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args = append([]string{args[0], "--endpoints", ep, "--prefix", c.prefix, "--retry-for", "10s"}, args[1:]...)
		if code := run(ctxFor(t, 30*time.Second), args, &stdout, &stderr); code != want {
			t.Fatalf("%v: exit %d, want %d; stderr: %s", args, code, want, stderr.String())
		}
		return stdout.String()
	}
	if out := cmd(0, "put", "k", "v"); !strings.HasPrefix(out, "OK index=1 ") {
		t.Errorf("put: %q", out)
	}
	if out := cmd(0, "get", "k"); out != "v\n" {
		t.Errorf("get: %q, want v", out)
	}
	if out := cmd(0, "delete", "k"); !strings.Contains(out, "found=true") {
		t.Errorf("delete: %q", out)
	}
	cmd(3, "get", "k")
	out := cmd(0, "client", "--count", "5", "--key-prefix", "c-")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("client printed %d lines, want 5: %q", len(lines), out)
	}
	for i, l := range lines {
		var m struct {
			Key   string
			Index int64
			Epoch int64
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil || m.Key != "c-"+string(rune('0'+i)) || m.Epoch == 0 {
			t.Errorf("line %q (%v)", l, err)
		}
	}
	if !strings.Contains(cmd(0, "get", "c-4"), "value-4") {
		t.Error("c-4 not written")
	}
}
