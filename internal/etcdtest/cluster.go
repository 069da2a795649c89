package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startTimeout bounds how long a member may take to become ready.
const startTimeout = 30 * time.Second

// Cluster is a running embedded etcd cluster of one or more members.
type Cluster struct {
	Members []*Member
	dir     string
	ownDir  bool
}

// Member is one embedded etcd server of a Cluster.
type Member struct {
	Name      string
	ClientURL string // http://127.0.0.1:port
	PeerURL   string

	cfg *embed.Config
	mu  sync.Mutex
	etc *embed.Etcd // nil while stopped
}

// New starts a cluster of n members in dir, or in a new temporary directory
// (removed by Close) when dir is "". It returns once every member is ready.
func New(dir string, n int) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("etcdtest: cluster size %d, want at least 1", n)
	}
	c := &Cluster{dir: dir}
	if dir == "" {
		d, err := os.MkdirTemp("", "etcdtest-")
		if err != nil {
			return nil, err
		}
		c.dir, c.ownDir = d, true
	}
	var initial []string
	for i := range n {
		ports, err := freePorts(2)
		if err != nil {
			c.Close()
			return nil, err
		}
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	for _, m := range c.Members {
		cfg := embed.NewConfig()
		cfg.Name = m.Name
		cfg.Dir = filepath.Join(c.dir, m.Name)
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = "etcdtest"
		cfg.ListenClientUrls = []url.URL{mustURL(m.ClientURL)}
		cfg.AdvertiseClientUrls = cfg.ListenClientUrls
		cfg.ListenPeerUrls = []url.URL{mustURL(m.PeerURL)}
		cfg.AdvertisePeerUrls = cfg.ListenPeerUrls
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		m.cfg = cfg
	}
	// Members of a multi-member cluster wait for each other, so start them
	// all before waiting for any.
	errc := make(chan error, n)
	for _, m := range c.Members {
		go func() { errc <- m.start() }()
	}
	var errs []error
	for range n {
		errs = append(errs, <-errc)
	}
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Start starts a one-member cluster for t and stops it when t ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	return StartCluster(t, 1)
}

// StartCluster starts an n-member cluster for t and stops it when t ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c, err := New(t.TempDir(), n)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Endpoints returns the client URLs of all members.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.Members))
	for i, m := range c.Members {
		eps[i] = m.ClientURL
	}
	return eps
}

// Client returns a client of the whole cluster for t, closed when t ends
// (before the cluster, since clean-ups run last-registered first).
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return Client(t, c.Endpoints()...)
}

// Close stops every member and removes the directory if New made it.
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for _, m := range c.Members {
		wg.Add(1)
		go func() { defer wg.Done(); m.Stop() }()
	}
	wg.Wait()
	if c.ownDir {
		os.RemoveAll(c.dir)
	}
}

func (m *Member) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.etc != nil {
		return nil
	}
	e, err := embed.StartEtcd(m.cfg)
	if err != nil {
		return fmt.Errorf("etcdtest: start %s: %w", m.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("etcdtest: start %s: %w", m.Name, err)
	case <-time.After(startTimeout):
		e.Close()
		return fmt.Errorf("etcdtest: %s not ready after %v", m.Name, startTimeout)
	}
	m.etc = e
	return nil
}

// Stop stops the member; its data stays, so Restart brings it back.
func (m *Member) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.etc != nil {
		m.etc.Close()
		m.etc = nil
	}
}

// Restart starts a stopped member again on the same ports and data. It
// returns once the member is ready, which for a multi-member cluster needs a
// quorum of members running.
func (m *Member) Restart() error {
	m.cfg.ClusterState = embed.ClusterStateFlagExisting
	return m.start()
}

// Etcd returns the running embedded server, or nil while stopped.
func (m *Member) Etcd() *embed.Etcd {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.etc
}

// Client returns a client of the given endpoints for t, closed when t ends.
func Client(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := NewClient(endpoints...)
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// NewClient returns a client of the given endpoints with short timeouts
// suited to tests and demos, and silent logging. Its gRPC keep-alive
// notices a dead connection, such as one a proxy blackholed, so that it is
// replaced once the fault heals; gRPC raises the keep-alive interval to at
// least 10s, so that takes about 11s.
func NewClient(endpoints ...string) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          2 * time.Second,
		DialKeepAliveTime:    time.Second,
		DialKeepAliveTimeout: time.Second,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		return nil, err
	}
	return cli, nil
}

// WaitReady blocks until cli answers a read, or ctx ends.
func WaitReady(ctx context.Context, cli *clientv3.Client) error {
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := cli.Get(rctx, "health")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcdtest: etcd not reachable: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func mustURL(s string) url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return *u
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. Another process
// could take one before it is used; that race is accepted in tests.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
