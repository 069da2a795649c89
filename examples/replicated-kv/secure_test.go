package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/mastershiptest"
)

// secureArgs are the etcd flags for sec as user, with the password from a
// file.
func secureArgs(t *testing.T, sec *mastershiptest.Cluster, user, password string) []string {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	files := sec.TLSFiles(t)
	return []string{"--endpoints", sec.Members[0].ClientURL, "--cacert", files.CAFile, "--cert", files.CertFile, "--key", files.KeyFile,
		"--user", user, "--password-file", pw}
}

// TestGrantOnPrefixOnly: a server whose user may read and write only
// <prefix>/ (the grant the README asks for) serves, and every key the
// program writes is under <prefix>/.
func TestGrantOnPrefixOnly(t *testing.T) {
	sec := mastershiptest.NewCluster(t, mastershiptest.WithSecure())
	const password = "pw-Kv-5b1e"
	sec.AddPrefixUser(t, "kv", password, "/skv")
	etcdArgs := secureArgs(t, sec, "kv", password)
	a := startProc(t, "server a", append(append([]string{"server"}, etcdArgs...), "--prefix", "/skv", "--name", "a", "--ttl", "2s")...)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, append(append([]string{"put"}, etcdArgs...), "--prefix", "/skv", "--retry-for", "20s", "greeting", "hello"), &stdout, &stderr)
	if code != 0 || !strings.HasPrefix(stdout.String(), "OK index=1 ") {
		t.Fatalf("put: exit %d, stdout %q, stderr %q; want 0 and OK index=1; server's stderr: %s", code, stdout.String(), stderr.String(), a.Stderr.String())
	}
	if strings.Contains(stderr.String()+stdout.String()+a.Stderr.String(), password) {
		t.Errorf("the output shows the password")
	}

	resp, err := sec.Client(t).Get(ctx, "", clientv3.WithFromKey(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
		if !strings.HasPrefix(string(kv.Key), "/skv/") {
			t.Errorf("key %q is outside /skv/, the prefix granted", kv.Key)
		}
	}
	if !strings.Contains(strings.Join(keys, " "), isrKey("/skv")) {
		t.Errorf("keys %q, want the in-sync record %s among them", keys, isrKey("/skv"))
	}
}

// TestISRRefusedStopsServer: a server whose user may write its member key
// but not the in-sync record ends at once, exit 1, with one line naming the
// record and the grant needed, rather than retry the record every second.
func TestISRRefusedStopsServer(t *testing.T) {
	sec := mastershiptest.NewCluster(t, mastershiptest.WithSecure())
	const password = "pw-Kv-7c2d"
	sec.AddPrefixUser(t, "kvm", password, membersPrefix("/skv2"))
	a := startProc(t, "server a", append(append([]string{"server"}, secureArgs(t, sec, "kvm", password)...), "--prefix", "/skv2", "--name", "a", "--ttl", "2s")...)
	select {
	case <-a.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("server still running 20s after etcd refused its in-sync record; stderr: %s", a.Stderr.String())
	}
	if err := a.Err(); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("server ended with %v, want exit status 1", err)
	}
	msg := a.Stderr.String()
	for _, want := range []string{"replicated-kv server: etcd refused the in-sync record", isrKey("/skv2"), "permission denied", "readwrite /skv2/ --prefix"} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr = %q, want it to say %q", msg, want)
		}
	}
	if strings.Contains(msg, password) {
		t.Errorf("stderr shows the password: %q", msg)
	}
}

// TestWrongPassword: a wrong password is a failure at run time (exit 1),
// as in the other programs, not a bad flag (exit 2).
func TestWrongPassword(t *testing.T) {
	sec := mastershiptest.NewCluster(t, mastershiptest.WithSecure())
	const password, wrong = "pw-Kv-0a9f", "wrong-Kv-3e8d"
	sec.AddPrefixUser(t, "kv", password, "/skv3")
	for _, args := range [][]string{
		{"server", "--name", "a", "--ttl", "2s"},
		{"put", "k", "v"},
		{"get", "k"},
	} {
		t.Run(args[0], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			all := append(append(append([]string{args[0]}, secureArgs(t, sec, "kv", wrong)...), "--prefix", "/skv3", "--retry-for", "5s"), args[1:]...)
			if args[0] == "server" {
				all = append(append(append([]string{args[0]}, secureArgs(t, sec, "kv", wrong)...), "--prefix", "/skv3"), args[1:]...)
			}
			code := run(ctx, all, &stdout, &stderr)
			msg := stderr.String()
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "replicated-kv "+args[0]+": ") || !strings.Contains(msg, "authentication failed") {
				t.Errorf("stderr = %q, want one line saying authentication failed", msg)
			}
			if strings.Contains(msg+stdout.String(), wrong) {
				t.Errorf("the output shows the password: %q", msg)
			}
		})
	}
}
