package etcdtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/seed764c596d/mastership/internal/localetcdhook"
	"github.com/seed764c596d/mastership/localetcd"
)

// startTimeout bounds how long New and the testing helpers
// wait for a cluster to become ready.
const startTimeout = 30 * time.Second

// Cluster is a localetcd.Cluster, the cluster core, with the helpers of
// tests.
type Cluster struct {
	*localetcd.Cluster
	// Members are the members of the localetcd.Cluster, in the same order,
	// with the helpers of tests.
	Members []*Member
}

// Member is a localetcd.Member with the helpers of tests.
type Member struct {
	*localetcd.Member
}

// New starts a cluster of n members in dir, or in a new temporary directory
// (removed by Close) when dir is "". It returns once every member is ready,
// or fails after 30s.
func New(dir string, n int) (*Cluster, error) {
	return start(localetcd.Config{Dir: dir, Members: n}, localetcdhook.Options{})
}

// oneOf returns the one Options of opts, or none.
func oneOf(opts []localetcdhook.Options) localetcdhook.Options {
	if len(opts) == 0 {
		return localetcdhook.Options{}
	}
	return opts[0]
}

// start starts the cluster with localetcd, within startTimeout.
func start(cfg localetcd.Config, opts localetcdhook.Options) (*Cluster, error) {
	if cfg.Members < 1 {
		return nil, fmt.Errorf("etcdtest: cluster size %d, want at least 1", cfg.Members)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	lc, err := localetcdhook.Start(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Cluster: lc.(*localetcd.Cluster)}
	for _, m := range c.Cluster.Members {
		c.Members = append(c.Members, &Member{Member: m})
	}
	return c, nil
}

// Etcd returns the member's running embedded server, or nil while it is
// stopped.
func (m *Member) Etcd() *embed.Etcd {
	return localetcdhook.Etcd(m.Member)
}

// Start starts a one-member cluster for t and stops it when t ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	return StartCluster(t, 1)
}

// StartCluster starts an n-member cluster for t and stops it when t ends.
// opts, at most one, tune localetcd as the hook allows.
func StartCluster(t testing.TB, n int, opts ...localetcdhook.Options) *Cluster {
	t.Helper()
	c, err := start(localetcd.Config{Dir: t.TempDir(), Members: n}, oneOf(opts))
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Client returns a client of the whole cluster for t, closed when t ends
// (before the cluster, since clean-ups run last-registered first).
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return Client(t, c.Endpoints()...)
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
	cli, err := clientv3.New(ClientConfig(endpoints...))
	if err != nil {
		return nil, err
	}
	return cli, nil
}

// ClientConfig returns the configuration of a NewClient of endpoints.
func ClientConfig(endpoints ...string) clientv3.Config {
	return clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          2 * time.Second,
		DialKeepAliveTime:    time.Second,
		DialKeepAliveTimeout: time.Second,
		Logger:               zap.NewNop(),
	}
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

// FreePorts returns n distinct free TCP ports on 127.0.0.1. Another process
// could take one before it is used; that race is accepted in tests.
func FreePorts(n int) ([]int, error) {
	return localetcdhook.FreePorts(n)
}

// ForExample starts a one-member etcd in a temporary directory and returns
// a client of it, for runnable Example functions, which have no testing.TB.
// stop closes the client, then the server.
func ForExample() (cli *clientv3.Client, stop func(), err error) {
	cluster, err := New("", 1)
	if err != nil {
		return nil, nil, err
	}
	cli, err = NewClient(cluster.Endpoints()...)
	if err != nil {
		cluster.Close()
		return nil, nil, err
	}
	return cli, func() { cli.Close(); cluster.Close() }, nil
}

// MainShared is a TestMain for packages whose tests share one one-member
// cluster: it starts the cluster into *shared, runs the tests, closes the
// cluster, and then has goleak check, once everything is stopped, that no
// goroutine leaked. It exits the process with the tests' code.
func MainShared(m *testing.M, shared **Cluster, opts ...goleak.Option) {
	goleak.VerifyTestMain(withShared{m, shared}, opts...)
}

type withShared struct {
	m      *testing.M
	shared **Cluster
}

func (w withShared) Run() int {
	c, err := New("", 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start shared etcd:", err)
		return 1
	}
	*w.shared = c
	defer c.Close()
	return w.m.Run()
}
