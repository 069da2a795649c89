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

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/pkg/v3/proxy"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

// startTimeout bounds how long a member may take to become ready.
const startTimeout = 30 * time.Second

// Cluster is a running embedded etcd cluster of one or more members.
type Cluster struct {
	Members []*Member
	dir     string
	ownDir  bool
	proxies []proxy.Server // peer proxies, closed by Close
}

// Member is one embedded etcd server of a Cluster.
type Member struct {
	Name      string
	ClientURL string // http://127.0.0.1:port; https:// in a cluster made by StartSecure
	PeerURL   string

	// PeerProxy, in a cluster made by NewIsolatable, carries the raft
	// traffic on the connections other members open to this one; nil
	// otherwise.
	PeerProxy proxy.Server

	listenPeer string // where the member listens for peers: PeerURL, or its proxy's target

	cfg *embed.Config
	mu  sync.Mutex
	etc *embed.Etcd // nil while stopped
}

// New starts a cluster of n members in dir, or in a new temporary directory
// (removed by Close) when dir is "". It returns once every member is ready.
func New(dir string, n int) (*Cluster, error) {
	return newCluster(dir, n, clusterOpts{})
}

// NewIsolatable is New for a cluster whose members' peer traffic arrives
// through fault proxies, each member's PeerProxy, for faults between etcd
// members; Isolate works on any cluster.
//
// Peers talk over Unix sockets (etcd's proxy would listen on every network
// interface for a TCP port), and etcd names a peer's socket after the
// host:port of its URL, relative to the current directory: the caller must
// run in a directory of its own, such as a temporary one, where the sockets
// are made. Their names start with the cluster's directory's base name.
func NewIsolatable(dir string, n int) (*Cluster, error) {
	return newCluster(dir, n, clusterOpts{isolatable: true})
}

// clusterOpts are the ways a cluster may differ from the plain one.
type clusterOpts struct {
	isolatable bool
	// tls, when not nil, makes the members serve clients over TLS only.
	tls *transport.TLSInfo
}

func newCluster(dir string, n int, o clusterOpts) (*Cluster, error) {
	isolatable := o.isolatable
	scheme := "http"
	if o.tls != nil {
		scheme = "https"
	}
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
		ports, err := FreePorts(2)
		if err != nil {
			c.Close()
			return nil, err
		}
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[0]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		}
		listenPeer := m.PeerURL
		if isolatable {
			// The member listens on one socket; its proxy listens on
			// another, the one the other members are told to use.
			//
			// etcd dials a peer's socket by the host:port its HTTP client
			// makes of the URL, "name:80", while etcd's proxy takes a name
			// with a port for a TCP address: so the proxy listens on
			// "name" and a link "name:80" leads to it.
			base := fmt.Sprintf("%s-%s", filepath.Base(c.dir), m.Name)
			listenPeer = fmt.Sprintf("unix://%s-member", base)
			m.PeerURL = fmt.Sprintf("unix://%s-proxy", base)
			p := proxy.NewServer(proxy.ServerConfig{
				Logger: zap.NewNop(),
				From:   url.URL{Scheme: "unix", Host: base + "-proxy"},
				To:     url.URL{Scheme: "unix", Host: base + "-member"},
			})
			os.Remove(base + "-proxy:80")
			if err := os.Symlink(base+"-proxy", base+"-proxy:80"); err != nil {
				p.Close()
				c.Close()
				return nil, err
			}
			c.proxies = append(c.proxies, p)
			m.PeerProxy = p
			select {
			case <-p.Ready():
			case err := <-p.Error():
				c.Close()
				return nil, fmt.Errorf("etcdtest: peer proxy of %s: %w", m.Name, err)
			}
			go DrainErrors(p)
		}
		m.listenPeer = listenPeer
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
		cfg.ListenPeerUrls = []url.URL{mustURL(m.listenPeer)}
		cfg.AdvertisePeerUrls = []url.URL{mustURL(m.PeerURL)}
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		if o.tls != nil {
			cfg.ClientTLSInfo = *o.tls
			// bcrypt's least cost: every client authenticates on each new
			// stream, and the default cost takes seconds under the race
			// detector. Test passwords need no strength.
			cfg.BcryptCost = 4
		}
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
	for _, p := range c.proxies {
		p.Close()
	}
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

// FreePorts returns n distinct free TCP ports on 127.0.0.1. Another process
// could take one before it is used; that race is accepted in tests.
func FreePorts(n int) ([]int, error) {
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

// Isolate cuts the member off from the other members: it stops sending
// raft messages and hearing theirs (etcd's own PauseSending), so it loses
// its leader within an election timeout, while the others, if they are a
// majority, go on. Blackholing its peer proxy is not enough: the member
// still hears the leader on the connections it opens itself.
func (m *Member) Isolate() {
	m.Etcd().Server.PauseSending()
}

// Rejoin undoes Isolate.
func (m *Member) Rejoin() {
	m.Etcd().Server.ResumeSending()
}

// Leader returns the index of the member that is the raft leader, or -1.
func (c *Cluster) Leader() int {
	for i, m := range c.Members {
		if e := m.Etcd(); e != nil && e.Server.Leader() == e.Server.MemberID() {
			return i
		}
	}
	return -1
}

// IgnorePeerConns returns the goleak options that ignore the goroutines
// etcd's raft transport leaves behind between the members of a cluster made
// by NewIsolatable, whose peers talk over Unix sockets through proxies: idle
// HTTP connections, and its peer prober's last request. They are etcd's,
// and end with the process. Use them in the TestMain of packages that make
// such clusters.
func IgnorePeerConns() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("github.com/xiang90/probing.(*prober).AddHTTP.func1"),
	}
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
