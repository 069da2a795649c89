package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/pkg/v3/proxy"
	"go.uber.org/zap"

	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// faultProxy is etcd's fault-injecting proxy in front of the etcd member,
// on a Unix socket of its own (etcd's proxy would listen on every interface
// for a TCP port). internal/etcdtest has the same for tests, bound to a
// testing.TB; a benchmark program has none.
type faultProxy struct {
	proxy.Server
	endpoint string
	dir      string
}

func newProxy(c *etcdtest.Cluster) (*faultProxy, error) {
	dir, err := os.MkdirTemp("", "bpx")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "s")
	to, err := url.Parse(c.Members[0].ClientURL)
	if err != nil {
		return nil, err
	}
	s := proxy.NewServer(proxy.ServerConfig{
		Logger: zap.NewNop(),
		From:   url.URL{Scheme: "unix", Host: sock},
		To:     url.URL{Scheme: "tcp", Host: to.Host},
	})
	select {
	case <-s.Ready():
	case err := <-s.Error():
		s.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start proxy: %w", err)
	case <-time.After(10 * time.Second):
		s.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("proxy not ready after 10s")
	}
	go func() {
		// The proxy blocks once 16 errors wait unread, and every broken
		// connection is one.
		for {
			select {
			case <-s.Error():
			case <-s.Done():
				return
			}
		}
	}()
	return &faultProxy{Server: s, endpoint: "unix://" + sock, dir: dir}, nil
}

// blackhole drops all traffic both ways: to etcd, the client is dead.
func (p *faultProxy) blackhole() {
	p.BlackholeTx()
	p.BlackholeRx()
}

func (p *faultProxy) close() {
	p.Close()
	os.RemoveAll(p.dir)
}

// proxied is a client that reaches etcd only through its own fault proxy.
type proxied struct {
	cli   *clientv3.Client
	proxy *faultProxy
	once  sync.Once
}

func newProxied(c *etcdtest.Cluster) (*proxied, error) {
	p, err := newProxy(c)
	if err != nil {
		return nil, err
	}
	cli, err := etcdtest.NewClient(p.endpoint)
	if err != nil {
		p.close()
		return nil, err
	}
	return &proxied{cli: cli, proxy: p}, nil
}

// close closes the client first, so that whatever still uses it fails at
// once rather than waiting on a blackholed connection.
func (p *proxied) close() {
	p.once.Do(func() {
		p.cli.Close()
		p.proxy.close()
	})
}
