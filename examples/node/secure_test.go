package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/etcdflags"
	"github.com/seed764c596d/mastership/mastershiptest"
)

// TestSecureProcesses runs node processes against an etcd with client TLS
// and auth, as a user that may read and write only the group's prefix, with
// the password from a file and from the environment. The password never
// appears in the output.
func TestSecureProcesses(t *testing.T) {
	sec := mastershiptest.NewCluster(t, mastershiptest.WithSecure())
	const password = "pw-Secret-4c7e"
	sec.AddPrefixUser(t, "node", password, "/secure-nodes")
	sec.AddUser(t, "norole", password)
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	files := sec.TLSFiles(t)
	tlsArgs := []string{"--endpoints", sec.Members[0].ClientURL, "--cacert", files.CAFile, "--cert", files.CertFile, "--key", files.KeyFile}
	args := func(id string, extra ...string) []string {
		return append(append(append([]string{}, tlsArgs...), "--prefix", "/secure-nodes", "--id", id, "--ttl", "2s"), extra...)
	}
	noSecret := func(what, out string) {
		t.Helper()
		if strings.Contains(out, password) {
			t.Errorf("%s reveals the password: %q", what, out)
		}
	}

	a := startNode(t, args("a", "--user", "node", "--password-file", pwFile, "--log-level", "DEBUG")...)
	expect(t, a.next(t), "INIT_MASTER", "a", []string{}, "a", []string{"a"}, "REFRESH")
	b := startNodeEnv(t, []string{etcdflags.PasswordEnv + "=" + password}, args("b", "--user", "node", "--log-level", "DEBUG")...)
	expect(t, b.next(t), "INIT_SLAVE", "b", []string{"a"}, "a", []string{"a", "b"}, "REFRESH")
	expect(t, a.next(t), "SLAVE_ADD", "a", []string{"b"}, "a", []string{"a", "b"}, "REFRESH")

	// A user without a role, and a wrong password: one line, exit 1.
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no role", args("c", "--user", "norole", "--password-file", pwFile), "permission denied"},
		{"wrong password", args("c", "--user", "node", "--password-file", writeFile(t, "wrong\n")), "authentication failed"},
		{"no user", args("c"), "etcd refused this member"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			msg := stderr.String()
			if code != 1 || stdout.Len() != 0 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1, nothing, one line saying %q", code, stdout.String(), msg, tc.want)
			}
			noSecret("stderr", msg)
			t.Logf("stderr: %s", msg)
		})
	}

	// A plain-text client at the TLS port: one line that says why it
	// cannot connect, at once, since retrying would not help.
	t.Run("plain text", func(t *testing.T) {
		old := startWait
		startWait = time.Second
		t.Cleanup(func() { startWait = old })
		var stdout, stderr bytes.Buffer
		plain := strings.Replace(sec.Members[0].ClientURL, "https://", "http://", 1)
		start := time.Now()
		code := run(context.Background(), []string{"--endpoints", plain, "--prefix", "/secure-nodes", "--id", "c", "--ttl", "1s"}, &stdout, &stderr)
		took := time.Since(start)
		msg := stderr.String()
		if code != 1 || stdout.Len() != 0 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "TLS handshake") || !strings.Contains(msg, "server preface") {
			t.Fatalf("exit %d, stdout %q, stderr %q; want 1, nothing, one line naming the TLS handshake, and why", code, stdout.String(), msg)
		}
		if took > startWait {
			t.Errorf("ended after %v, want before the start-up wait (%v)", took, startWait)
		}
	})

	// SIGTERM: a closes (revoking its lease needs write permission on its
	// key) and b takes over at once.
	if err := a.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expect(t, a.next(t), "OFFLINE", "a", []string{}, "", []string{}, "OFFLINE")
	if err := a.wait(); err != nil {
		t.Fatalf("a after SIGTERM: %v, want exit 0; stderr: %s", err, a.Stderr.String())
	}
	expect(t, b.next(t), "CHANGE_TO_MASTER", "b", []string{}, "b", []string{"b"}, "REFRESH")

	// The permission taken away: b prints OFFLINE, one line on standard
	// error, and exits 1.
	sec.RevokePrefix(t, "node", "/secure-nodes")
	expect(t, b.next(t), "OFFLINE", "b", []string{}, "", []string{}, "OFFLINE")
	err := b.wait()
	if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != 1 {
		t.Fatalf("b after its permission was revoked: %v, want exit 1; stderr: %s", err, b.Stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(b.Stderr.String()), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "node: etcd refused this member") || !strings.Contains(last, "permission denied") {
		t.Errorf("b's last line on stderr %q, want the refusal", last)
	}
	// Debug logs included, nothing reveals the password.
	noSecret("a's stderr", a.Stderr.String())
	noSecret("b's stderr", b.Stderr.String())
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
