package mastershiptest

import (
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// Client is an etcd client of one member that reaches it through a fault
// proxy of its own, as a service's process reaches etcd over its own
// network path: the faults on one Client leave the other clients alone.
//
// The proxy can cut the path in two ways, and which one suits a cut
// depends on its length against the lease of the code under test (its
// TTL):
//
//   - Hold (until Release) stops the bytes in both directions and loses
//     none of them: what was held is delivered, in order, at Release. That
//     is what a real partition does to a live TCP connection, which
//     retransmits until the path is back. Use it for cuts shorter than the
//     TTL, which the code is meant to survive.
//   - Cut (until Heal) drops the bytes, in connections that stay open: no
//     real network loses bytes from a live TCP connection that way, and
//     code that survived a Cut would never learn what its dropped watch
//     responses said. Use it only for cuts longer than the TTL, after which
//     the code behind the proxy has lost its lease and must start afresh.
//     After Heal, the client goes on with its connection if the cut left
//     it whole, or notices it broke by its gRPC keep-alive, within about
//     11s, and makes a new one.
//
// Delay slows the path down without cutting it. The proxy accepts new
// connections during any fault, which holds or drops their bytes as well.
type Client struct {
	// Client is the etcd client, whose methods Client has: hand it to the
	// code under test. Close it, or let the test's clean-up close it.
	*clientv3.Client

	p *etcdtest.Proxy
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
	p := etcdtest.ProxyTo(t, m.ClientURL)
	ep := p.Endpoint
	if cfg.TLS != nil {
		// The proxy passes TLS through: a "unixs" endpoint makes clientv3
		// use TLS over the proxy's Unix socket, and check the server's
		// certificate for the socket's name, localhost.
		ep = "unixs://" + strings.TrimPrefix(ep, "unix://")
	}
	cfg.Endpoints = []string{ep}
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatalf("mastershiptest: client of %s as %q: %v", m.Name, user, err)
	}
	t.Cleanup(func() { cli.Close() })
	return &Client{Client: cli, p: p}
}

// Cut drops all traffic between the client and its member, in both
// directions, until Heal: for cuts longer than the TTL only; see Client.
func (c *Client) Cut() { c.p.Blackhole() }

// Hold holds all traffic between the client and its member, in both
// directions, until Release, without dropping a byte: the senders block
// once the socket buffers fill, as behind a real partition, and Release
// delivers what was held, in order. For cuts shorter than the TTL; see
// Client. Hold while held does nothing.
func (c *Client) Hold() { c.p.Hold() }

// Release ends Hold and delivers the held traffic. Release when not held
// does nothing.
func (c *Client) Release() { c.p.Release() }

// Delay adds d to each direction of the client's traffic, so a request's
// round trip takes 2d longer, until Heal.
func (c *Client) Delay(d time.Duration) { c.p.Delay(d) }

// Heal ends every fault of the client: Cut, Delay, and Hold, whose traffic
// it delivers.
func (c *Client) Heal() {
	c.p.Heal()
	c.p.Release()
}
