//go:build etcdcompat

package etcdproc

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestCluster starts a three-member cluster of the binary $MASTERSHIP_ETCD
// names, and checks that a write survives a member's crash and restart,
// that etcdctl of the same version reaches it, and that auth works as set
// up.
func TestCluster(t *testing.T) {
	bin := FromEnv(t)
	v, err := bin.Version()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: etcd %s", bin.Etcd, v)
	c := Start(t, bin, Options{Members: 3})
	for _, m := range c.Members {
		for _, u := range []string{m.ClientURL, m.PeerURL} {
			if !strings.HasPrefix(u, "http://127.0.0.1:") || strings.HasSuffix(u, ":2379") || strings.HasSuffix(u, ":2380") {
				t.Errorf("%s listens on %s, want a free loopback port", m.Name, u)
			}
		}
	}
	cli := c.Client(t, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got, err := c.ServerVersion(ctx, cli); err != nil || got != v {
		t.Fatalf("server version %q (%v), binary %q", got, err, v)
	}
	if _, err := cli.Put(ctx, "/k", "v1"); err != nil {
		t.Fatal(err)
	}

	// A crash, then a restart on the same data and ports.
	m := c.Members[1]
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := c.StartMember(m); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(c.Members[2]); err != nil {
		t.Fatal(err)
	}
	if out := c.MustCtl(t, "", "", "--endpoints", m.ClientURL, "get", "/k", "--print-value-only"); strings.TrimSpace(out) != "v1" {
		t.Fatalf("etcdctl get /k from the restarted member = %q, want v1", out)
	}

	// Auth: root may do anything; a prefix user only its prefix.
	c.EnableAuth(t, "rootpw")
	c.AddPrefixUser(t, "rootpw", "u", "upw", "/p")
	u := c.Client(t, "u", "upw")
	if _, err := u.Put(ctx, "/p/x", "1"); err != nil {
		t.Fatalf("put under the prefix: %v", err)
	}
	if _, err := u.Put(ctx, "/k", "2"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("put outside the prefix = %v, want permission denied", err)
	}
	c.RevokePrefix(t, "rootpw", "u", "/p")
	if _, err := u.Put(ctx, "/p/x", "3"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("put after the revoke = %v, want permission denied", err)
	}

	c.Stop(t)
	for _, m := range c.Members {
		m.mu.Lock()
		running := m.cmd != nil
		m.mu.Unlock()
		if running {
			t.Errorf("%s still running after Stop", m.Name)
		}
	}
}
