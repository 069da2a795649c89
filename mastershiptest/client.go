package mastershiptest

import (
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Client is an etcd client of one member that reaches it through a fault
// proxy of its own, as a service's process reaches etcd over its own
// network path: the faults on one Client leave the other clients alone.
// Its fault methods (Hold, Release, Cut, Break, Delay, Heal) are its
// Proxy's; see Proxy for which fault suits which cut.
type Client struct {
	// Client is the etcd client, whose methods Client has: hand it to the
	// code under test. Close it, or let the test's clean-up close it.
	*clientv3.Client
	// Proxy is the client's fault proxy, whose methods Client has too.
	// Another client or a process can dial its URL, and shares its faults.
	*Proxy
}

// Client returns a client of Members[0] behind a fault proxy of its own,
// closed when t ends, as Member.Client does.
func (c *Cluster) Client(t testing.TB) *Client {
	t.Helper()
	return c.Members[0].Client(t)
}

// Client returns a client of the member behind a fault proxy of its own,
// with short dial and keep-alive timeouts and silent logging; WithSecure,
// it authenticates as RootUser. The test's clean-up closes the client,
// then the proxy, both before the cluster. It talks to this member alone:
// a client of a stopped member fails or waits until the member restarts.
func (m *Member) Client(t testing.TB) *Client {
	t.Helper()
	user, password := m.c.rootUser()
	return m.client(t, user, password)
}

// ClientAs is Member.Client for a cluster started WithSecure, as user with
// password. clientv3 authenticates while connecting, so a wrong password
// fails the test: use Cluster.Config and clientv3.New to see that error.
func (m *Member) ClientAs(t testing.TB, user, password string) *Client {
	t.Helper()
	m.c.needSecure(t, "ClientAs")
	return m.client(t, user, password)
}

func (m *Member) client(t testing.TB, user, password string) *Client {
	t.Helper()
	cfg := m.c.config(t, user, password)
	p := m.Proxy(t)
	cfg.Endpoints = []string{p.URL}
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatalf("mastershiptest: client of %s as %q: %v", m.Name, user, err)
	}
	t.Cleanup(func() { cli.Close() })
	return &Client{Client: cli, Proxy: p}
}
