//go:build unix

package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"run", "-h"}, {"run", "--help"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, nil, &stdout, &stderr); code != 0 {
			t.Errorf("%v: exit code %d, want 0", args, code)
		}
		out := stdout.String()
		for _, f := range []string{"--prefix", "--id", "--ttl", "--grace", "--on-exit", "--value", "--log-format", "--log-level", "--dial-timeout", "--endpoints", "--cacert", "--cert", "--key", "--user", "--password-file"} {
			if !strings.Contains(out, "\n  "+f+" ") {
				t.Errorf("%v: help does not describe %s:\n%s", args, f, out)
			}
		}
		if !strings.HasPrefix(out, "usage: mastership run") {
			t.Errorf("%v: help starts %q, want the usage", args, out[:min(len(out), 40)])
		}
		if stderr.Len() != 0 {
			t.Errorf("%v: stderr = %q, want nothing", args, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, nil, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "run ") {
		t.Errorf("mastership -h: exit code %d, stdout %q; want 0 and the commands", code, stdout.String())
	}
}

// TestBadArguments: each is refused before anything is dialled, in one line
// naming the flag or the argument at fault, with exit code 2.
func TestBadArguments(t *testing.T) {
	base := []string{"run", "--prefix", "/p", "--id", "a", "--ttl", "2s"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"walk"}, `"walk"`},
		{[]string{"run", "--id", "a", "--", "true"}, "--prefix"},
		{[]string{"run", "--prefix", "/p", "--", "true"}, "--id"},
		{append(base, "--", "true"), ""},
		{append(base, "--grace", "0s", "--", "true"), "--grace"},
		{append(base, "--grace", "1750ms", "--", "true"), "--grace"}, // the window: 2s - 250ms
		{append(base, "--grace", "-1s", "--", "true"), "--grace"},
		{append(base, "--grace", "soon", "--", "true"), "-grace"},
		{append(base, "--on-exit", "sulk", "--", "true"), "--on-exit"},
		{append(base, "--log-format", "xml", "--", "true"), "--log-format"},
		{append(base, "--dial-timeout", "0s", "--", "true"), "--dial-timeout"},
		{append(base, "--colour", "red", "--", "true"), "-colour"},
		{append(base, "--endpoints", "127.0.0.1", "--", "true"), "--endpoints"},
		{base, "no program"},
		{append(base, "--"), "no program"},
		{append(base, "--", "/no/such/program"), "/no/such/program"},
		{append(base, "--", "no-such-program-in-path"), "no-such-program-in-path"},
	} {
		if tc.want == "" {
			continue // the base itself, with a program, is valid
		}
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, nil, &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") || !strings.HasPrefix(msg, "mastership") {
				t.Errorf("stderr = %q, want one line", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("stderr = %q, want it to name %s", msg, tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

// TestUnreachableEtcd: nothing listens at the endpoint; the supervisor
// gives up after --dial-timeout plus twice the TTL, in one line, with exit
// code 1, and never starts the program.
func TestUnreachableEtcd(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(context.Background(), []string{"run", "--endpoints", addr, "--prefix", "/p", "--id", "a", "--ttl", "1s", "--grace", "100ms", "--dial-timeout", "1s", "--", "sh", "-c", "echo started"}, nil, &stdout, &stderr)
	took := time.Since(start)
	t.Logf("gave up after %v", took)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if took > 15*time.Second {
		t.Errorf("gave up after %v, want about 3s", took)
	}
	if msg := stderr.String(); strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "unreachable") {
		t.Errorf("stderr = %q, want one line saying etcd is unreachable", msg)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q: the program ran", stdout.String())
	}
}
