package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/selector"
)

func TestBadFlagsNameTheFlag(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	badDSN := filepath.Join(t.TempDir(), "bad-dsn")
	if err := os.WriteFile(badDSN, []byte("postgres://u:secret@h:99999999/db"), 0o600); err != nil {
		t.Fatal(err)
	}
	worker := []string{"worker", "--host", "10.0.0.1", "--port", "5432"}
	manager := []string{"manager", "--id", "m1", "--target", "command", "--command", os.Args[0]}
	with := func(base []string, extra ...string) []string { return append(append([]string(nil), base...), extra...) }
	for _, tc := range []struct {
		args []string
		want string // the flag or word the error must name
	}{
		{nil, "usage"},
		{[]string{"boss"}, "boss"},
		{[]string{"worker", "--port", "5432"}, "--host"},
		{[]string{"worker", "--host", "h"}, "--port"},
		{[]string{"worker", "--host", "h", "--port", "0"}, "--port"},
		{[]string{"worker", "--host", "h", "--port", "65536"}, "--port"},
		{[]string{"worker", "--host", "h", "--port", "pg"}, "--port"},
		{[]string{"worker", "--host", "a b", "--port", "1"}, "--host"},
		{with(worker, "--id", "a/b"), "--id"},
		{with(worker, "--ttl", "1500ms"), "--ttl"},
		{with(worker, "--prefix", "rel"), "--prefix"},
		{with(worker, "--prefix", "/p/"), "--prefix"},
		{with(worker, "--endpoints", " , "), "--endpoints"},
		{with(worker, "extra"), "extra"},
		{with(worker, "--colour", "red"), "-colour"},
		{with(worker, "--check-interval", "0s"), "--check-interval"},
		{with(worker, "--check-dsn-file", empty), "--check-dsn-file"},
		{with(worker, "--check-dsn-file", empty+"x"), "--check-dsn-file"},
		{with(worker, "--check-dsn-file", badDSN), "--check-dsn-file"},
		{[]string{"manager", "--target", "command", "--command", os.Args[0]}, "--id"},
		{[]string{"manager", "--id", "m1"}, "--target"},
		{[]string{"manager", "--id", "m1", "--target", "citus"}, "--target"},
		{[]string{"manager", "--id", "m1", "--target", "command"}, "--command"},
		{[]string{"manager", "--id", "m1", "--target", "command", "--command", "/nonexistent/x"}, "--command"},
		{with(manager, "--dsn-file", empty), "--dsn-file"},
		{with(manager, "--add-sql", "SELECT 1"), "--add-sql"},
		{with(manager, "--interval", "0s"), "--interval"},
		{with(manager, "--grace-left", "-1s"), "--grace-left"},
		{with(manager, "--grace-expired", "-1s"), "--grace-expired"},
		{with(manager, "--target-timeout", "0s"), "--target-timeout"},
		{with(manager, "--ttl", "0s"), "--ttl"},
		{with(manager, "--listen", "9187"), "--listen"},
		{with(manager, "--listen", "127.0.0.1:http"), "--listen"},
		{with(manager, "--listen", "192.0.2.1:9187"), "--listen"}, // cannot be bound here
		{[]string{"manager", "--id", "m1", "--target", "sql"}, "--dsn-file"},
		{[]string{"manager", "--id", "m1", "--target", "sql", "--dsn-file", empty}, "--dsn-file"},
		{[]string{"manager", "--id", "m1", "--target", "sql", "--dsn-file", empty + "x"}, "--dsn-file"},
		{[]string{"manager", "--id", "m1", "--target", "sql", "--dsn-file", badDSN}, "--dsn-file"},
		{[]string{"manager", "--id", "m1", "--target", "sql", "--command", "x"}, "--command"},
		{[]string{"manager", "--id", "m1", "--target", "sql", "--remove-sql", " "}, "--remove-sql"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Setenv(dsnEnv, "")
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 {
				t.Errorf("stderr = %q, want exactly one line", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("stderr = %q, want it to name %s", msg, tc.want)
			}
			if strings.Contains(msg, "secret") {
				t.Errorf("stderr = %q gives the DSN's password", msg)
			}
		})
	}
}

// TestBadDSNFromEnvNamesTheVariable: a DSN from the environment that cannot
// be parsed is a bad flag like one from a file (exit 2, one line), and the
// line names the variable it came from, not a flag that was not given, and
// not the password.
func TestBadDSNFromEnvNamesTheVariable(t *testing.T) {
	const bad = "postgres://u:secret@h:99999999/db"
	for _, tc := range []struct {
		env  string
		args []string
	}{
		{checkDSNEnv, []string{"worker", "--host", "10.0.0.1", "--port", "5432"}},
		{dsnEnv, []string{"manager", "--id", "m1", "--target", "sql"}},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(dsnEnv, "")
			t.Setenv(checkDSNEnv, "")
			t.Setenv(tc.env, bad)
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "$"+tc.env) {
				t.Errorf("stderr = %q, want one line naming $%s", msg, tc.env)
			}
			if strings.Contains(msg, "secret") {
				t.Errorf("stderr = %q gives the DSN's password", msg)
			}
		})
	}
}

// TestMalformedEndpoint: an endpoint without a port is refused at once by
// both roles, in one line naming --endpoints and the element, with the exit
// code of any bad flag, rather than retried for the whole start-up wait as
// if etcd were down.
func TestMalformedEndpoint(t *testing.T) {
	for _, args := range [][]string{
		{"worker", "--host", "10.0.0.1", "--port", "5432"},
		{"manager", "--id", "m1", "--target", "command", "--command", os.Args[0]},
	} {
		t.Run(args[0], func(t *testing.T) {
			// The context ends the run only if the endpoint is not refused.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var stderr bytes.Buffer
			start := time.Now()
			code := run(ctx, append(args, "--endpoints", "127.0.0.1", "--prefix", "/mm"), io.Discard, &stderr)
			took := time.Since(start)
			t.Logf("ended after %v", took)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if took > 5*time.Second {
				t.Errorf("ended after %v, want at once (the start-up wait is %v)", took, startWait+2*selector.DefaultTTL)
			}
			want := "membership-manager " + args[0] + `: --endpoints: "127.0.0.1" has no port (want host:port`
			if msg := stderr.String(); strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, want) {
				t.Errorf("stderr = %q, want one line starting %q", msg, want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c, _, err := parseManager([]string{"--id", "m1", "--target", "sql"}, func(k string) string {
		if k == dsnEnv {
			return " postgres://u@h/db "
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.dsn != "postgres://u@h/db" || c.add != defaultAddSQL || c.remove != defaultRemoveSQL || c.list != defaultListSQL {
		t.Errorf("config = %+v, want the DSN from %s and Citus's statements", c, dsnEnv)
	}
	w, _, err := parseWorker([]string{"--host", "::1", "--port", "5432"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if w.id != "[::1]:5432" || w.node != (Node{"::1", 5432}) {
		t.Errorf("worker id %q node %v, want [::1]:5432", w.id, w.node)
	}
}

func TestCommandEnvironmentHasNoSecrets(t *testing.T) {
	t.Setenv(dsnEnv, "postgres://u:secret@h/db")
	t.Setenv(checkDSNEnv, "postgres://u:secret@worker/db")
	t.Setenv("ETCD_PASSWORD", "secret")
	t.Setenv("MEMBERSHIP_MANAGER_TEST_KEEP", "kept")
	env := environ()
	for _, kv := range env {
		if strings.Contains(kv, "secret") {
			t.Errorf("the command's environment holds %q", kv)
		}
	}
	if !slices.Contains(env, "MEMBERSHIP_MANAGER_TEST_KEEP=kept") {
		t.Errorf("the command's environment lost the other variables")
	}
}

// TestCommandTargetOutput checks how the command target reads its command:
// a good list, a bad line named by number, and a failure with its message.
func TestCommandTargetOutput(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) *commandTarget {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		return &commandTarget{path: path}
	}
	ctx := context.Background()
	nodes, err := script("good", `printf '10.0.0.1 5432\n\n  ::1   6432 \n'`).List(ctx)
	if err != nil || !slices.Equal(nodes, []Node{{"10.0.0.1", 5432}, {"::1", 6432}}) {
		t.Errorf("List = %v, %v; want 10.0.0.1:5432 and [::1]:6432", nodes, err)
	}
	if _, err := script("bad", `printf '10.0.0.1 5432\n10.0.0.2:5432\n'`).List(ctx); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("List of a bad line: %v, want an error naming line 2", err)
	}
	if _, err := script("port", `echo '10.0.0.1 99999'`).List(ctx); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("List of a bad port: %v, want an error naming line 1", err)
	}
	err = script("fail", `echo "no such pool: $2" >&2; exit 4`).Add(ctx, Node{"h; rm -rf /", 1})
	if err == nil || !strings.Contains(err.Error(), "no such pool: h; rm -rf /") || !strings.Contains(err.Error(), "exit status 4") {
		t.Errorf("Add with a failing command: %v, want its exit status and message, the host passed as one argument", err)
	}
}
