package etcdtest

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/pkg/v3/proxy"
	"go.uber.org/zap"
)

// Proxy is a fault-injecting proxy between clients and one etcd member,
// built on etcd's own go.etcd.io/etcd/pkg/v3/proxy.
//
// It listens on a Unix socket rather than a TCP port: etcd's proxy listens
// on every interface when given a port, and tests must stay on this machine.
type Proxy struct {
	proxy.Server
	// Endpoint is the client endpoint that goes through the proxy.
	Endpoint string
}

// NewProxy starts a proxy to the member's client URL for t, closed when t
// ends.
func (m *Member) NewProxy(t testing.TB) *Proxy {
	t.Helper()
	// Unix socket paths are limited to about 100 bytes, and t.TempDir can be
	// longer than that, so the socket lives in a short directory of its own.
	dir, err := os.MkdirTemp("", "px")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	to, err := url.Parse(m.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	s := proxy.NewServer(proxy.ServerConfig{
		Logger: zap.NewNop(),
		From:   url.URL{Scheme: "unix", Host: sock},
		To:     url.URL{Scheme: "tcp", Host: to.Host},
	})
	select {
	case <-s.Ready():
	case err := <-s.Error():
		t.Fatalf("start proxy: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("proxy not ready after 10s")
	}
	go drainErrors(s)
	t.Cleanup(func() { s.Close() })
	return &Proxy{Server: s, Endpoint: "unix://" + sock}
}

// Client returns a client that reaches etcd only through the proxy, closed
// when t ends.
func (p *Proxy) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return Client(t, p.Endpoint)
}

// Blackhole drops all traffic in both directions until Heal.
func (p *Proxy) Blackhole() {
	p.BlackholeTx()
	p.BlackholeRx()
}

// Heal undoes Blackhole and Delay.
func (p *Proxy) Heal() {
	p.UnblackholeTx()
	p.UnblackholeRx()
	p.UndelayTx()
	p.UndelayRx()
}

// Delay adds latency to traffic in both directions until Heal.
func (p *Proxy) Delay(d time.Duration) {
	p.DelayTx(d, 0)
	p.DelayRx(d, 0)
}

// drainErrors reads and drops a proxy's errors until it is closed. The proxy
// blocks once 16 errors wait unread, and a fault test makes many (every
// connection it breaks).
func drainErrors(s proxy.Server) {
	for {
		select {
		case <-s.Error():
		case <-s.Done():
			return
		}
	}
}
