package mastershiptest

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// Proxy is a fault proxy between one member and whatever dials its URL:
// a process of the service under test, started with URL as its etcd
// endpoint, or the Client that Member.Client makes on it. Its faults act
// on that path alone, as a network fault between one machine and etcd
// does, and leave the other proxies and clients alone.
//
// The proxy can cut the path in three ways, and which one suits a cut
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
//     After Heal, a client goes on with its connection if the cut left it
//     whole, or notices it broke by its gRPC keep-alive and makes a new
//     one: within about 11s for a Client, in its own keep-alive time for a
//     process.
//   - Break (until Heal) breaks every connection at once and makes new
//     ones wait, as the crash of the machine at the other end does: the
//     code behind the proxy learns of the cut now rather than by its
//     keep-alive, and resumes its watches from where they were, which
//     Cluster.Compact may have removed meanwhile.
//
// Delay slows the path down without cutting it. The proxy accepts new
// connections during Hold, Cut and Delay, and holds, drops or delays their
// bytes as well.
type Proxy struct {
	// URL is the etcd endpoint through the proxy, for a process's
	// --endpoints flag or clientv3.Config.Endpoints: unix://path, the
	// proxy's Unix socket, or unixs://path, TLS over it, for a cluster
	// started WithSecure. A TLS client checks the member's certificate for
	// the socket's name, localhost, which the certificates of WithSecure
	// name.
	URL string

	p *etcdtest.Proxy

	mu     sync.Mutex
	broken bool // by Break, and not healed since
}

// Proxy starts a fault proxy to the member, for code that makes its own
// connections, such as a process of the service under test: hand it
// Proxy.URL. The test's clean-up closes the proxy, before the cluster.
// The proxy passes TLS through untouched: WithSecure, the process needs
// the files of Cluster.TLSFiles as well.
//
// While the member is stopped, the proxy accepts connections and leaves
// them open and silent: etcd's proxy does not close them when it fails to
// reach the member, as a stopped server would refuse them. A process that
// gives a connection attempt gRPC's default of 20s may take that long to
// reach the member once it restarts; a Client gives up an attempt after a
// second and tries again.
func (m *Member) Proxy(t testing.TB) *Proxy {
	t.Helper()
	p := etcdtest.ProxyTo(t, m.ClientURL)
	url := p.Endpoint
	if m.c.sec != nil {
		// A "unixs" endpoint makes clientv3 use TLS over the proxy's Unix
		// socket.
		url = "unixs://" + strings.TrimPrefix(url, "unix://")
	}
	return &Proxy{URL: url, p: p}
}

// Cut drops all traffic through the proxy, in both directions, until Heal:
// for cuts longer than the TTL only; see Proxy.
func (p *Proxy) Cut() { p.p.Blackhole() }

// Hold holds all traffic through the proxy, in both directions, until
// Release, without dropping a byte: the senders block once the socket
// buffers fill, as behind a real partition, and Release delivers what was
// held, in order. For cuts shorter than the TTL; see Proxy. Hold while
// held does nothing.
func (p *Proxy) Hold() { p.p.Hold() }

// Release ends Hold and delivers the held traffic. Release when not held
// does nothing.
func (p *Proxy) Release() { p.p.Release() }

// Delay adds d to each direction of the traffic through the proxy, so a
// request's round trip takes 2d longer, until Heal.
func (p *Proxy) Delay(d time.Duration) { p.p.Delay(d) }

// Break breaks every connection through the proxy as soon as the member
// sends on it, and leaves new connections waiting, unaccepted, until Heal:
// the code behind the proxy sees its connection fail now, as when the
// machine at the other end crashes, rather than after its keep-alive
// time, and reaches the member again only after Heal. The member sends
// something on each connection at least at its watches' progress
// notifications, every few minutes: put a key that a watch behind the
// proxy sees to break its connection at once.
//
// The proxy breaks a connection by handing the client garbage in place of
// what the member sent, which gRPC, or TLS beneath it, refuses by closing
// the connection. Break while broken does nothing.
func (p *Proxy) Break() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken {
		// etcd's proxy replaces its pause channel on every PauseAccept: a
		// second one would leave it accepting nothing for good.
		return
	}
	p.broken = true
	p.p.PauseAccept()
	p.p.ModifyRx(func(b []byte) []byte { return bytes.Repeat([]byte{0xff}, len(b)) })
}

// Heal ends every fault of the proxy: Cut, Break, Delay, and Hold, whose
// traffic it delivers.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.p.Heal() // Cut and Delay, and Break's garbage
	if p.broken {
		p.broken = false
		p.p.UnpauseAccept()
	}
	p.p.Release()
}
