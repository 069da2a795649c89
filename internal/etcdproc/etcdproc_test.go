//go:build etcdcompat

package etcdproc

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
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

// TestClusterIsolate starts a three-member cluster with peer proxies and
// isolates a follower: it loses its leader while the other two go on
// writing, and once healed it catches up with what they wrote.
func TestClusterIsolate(t *testing.T) {
	bin := FromEnv(t)
	began := time.Now()
	c := Start(t, bin, Options{Members: 3, PeerProxies: true})
	t.Logf("the cluster serves %v after its start", time.Since(began).Round(time.Millisecond))
	cli := c.Client(t, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leader, term, err := c.Leader(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	var f, other *Member
	for _, m := range c.Members {
		switch {
		case m == leader:
		case f == nil:
			f = m
		default:
			other = m
		}
	}
	t.Logf("leader %s, term %d; isolating %s", leader.Name, term, f.Name)
	if err := c.Isolate(f); err != nil {
		t.Fatal(err)
	}
	isolated := time.Now()
	// The follower says it has no leader within a few election timeouts
	// (etcd's default is 1 s).
	fcli := c.memberClient(t, f)
	for {
		sctx, scancel := context.WithTimeout(ctx, time.Second)
		st, err := fcli.Status(sctx, f.ClientURL)
		scancel()
		if err == nil && st.Leader == 0 {
			t.Logf("%s without a leader %v after the cut (term %d)", f.Name, time.Since(isolated).Round(time.Millisecond), st.RaftTerm)
			break
		}
		if time.Since(isolated) > 10*time.Second {
			if err != nil {
				t.Fatalf("%s: no status 10s after the cut: %v", f.Name, err)
			}
			t.Fatalf("%s still has leader %x 10s after the cut", f.Name, st.Leader)
		}
		time.Sleep(100 * time.Millisecond) // polling a status: no notification exists
	}
	// The others, a majority, still write.
	ocli := c.memberClient(t, other)
	put := time.Now()
	if _, err := ocli.Put(ctx, "/during", "x"); err != nil {
		t.Fatalf("put through %s while %s is cut off: %v", other.Name, f.Name, err)
	}
	t.Logf("put through %s in %v", other.Name, time.Since(put).Round(time.Millisecond))
	// The cut-off follower cannot serve a linearizable read.
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = fcli.Get(rctx, "/during")
	rcancel()
	if err == nil {
		t.Fatalf("a linearizable read through the cut-off %s succeeded", f.Name)
	}
	if err := c.Heal(f); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	for {
		gctx, gcancel := context.WithTimeout(ctx, time.Second)
		resp, err := fcli.Get(gctx, "/during", clientv3.WithSerializable())
		gcancel()
		if err == nil && len(resp.Kvs) == 1 {
			break
		}
		if time.Since(healed) > 20*time.Second {
			t.Fatalf("%s has not caught up 20s after the heal: %v", f.Name, err)
		}
		time.Sleep(100 * time.Millisecond) // polling a read: no notification exists
	}
	l2, term2, err := c.Leader(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s caught up %v after the heal; leader %s, term %d", f.Name, time.Since(healed).Round(time.Millisecond), l2.Name, term2)
}

// memberClient returns a client of m alone, closed when t ends.
func (c *Cluster) memberClient(t *testing.T, m *Member) *clientv3.Client {
	cfg := c.Config("", "")
	cfg.Endpoints = []string{m.ClientURL}
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}
