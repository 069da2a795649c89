package localetcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/seed764c596d/mastership/internal/localetcdhook"
)

// Config says what cluster Start starts. Its zero value is a one-member
// cluster in a new temporary directory, which Close removes, serving its
// clients over plain HTTP.
type Config struct {
	// Members is the number of members. They elect a leader among
	// themselves, as a production cluster's do, and serve only while a
	// majority of them runs. Default (0): 1. Less than 0 is an error.
	Members int

	// Dir is the directory the members keep their data in, a subdirectory
	// each, named after the member. Start makes it if it is missing; Close
	// leaves it in place. Default (""): a new temporary directory, which
	// Close removes.
	Dir string

	// TLS, when not nil, makes the members serve their clients over TLS
	// only, with these files: their client URLs start with https://.
	// Default (nil): plain HTTP.
	TLS *TLSFiles
}

// TLSFiles are the PEM files with which the members serve their clients
// over TLS. Start reads them, and fails if one is missing or bad.
type TLSFiles struct {
	// CertFile and KeyFile are the server's certificate and its private key,
	// both required. The certificate must be valid for 127.0.0.1, where the
	// clients reach the members.
	CertFile, KeyFile string

	// ClientCAFile, when not "", is the CA that must have signed the
	// certificate every client presents: clients without one are turned
	// away. etcd's own gateway then presents CertFile to its member, so that
	// certificate must be good for client authentication as well as server
	// authentication (extended key usages clientAuth and serverAuth).
	// Default (""): clients need no certificate.
	ClientCAFile string
}

// Cluster is a running cluster of etcd servers in this process, started by
// Start. Close stops it.
type Cluster struct {
	// Members are the cluster's members, named m0, m1, and so on in order.
	Members []*Member

	dir       string
	ownDir    bool
	closeOnce sync.Once
}

// Member is one etcd server of a Cluster.
type Member struct {
	// Name is the member's etcd name: m0, m1, and so on.
	Name string
	// ClientURL is where clients reach the member: http://127.0.0.1:port,
	// or https://127.0.0.1:port with Config.TLS.
	ClientURL string
	// PeerURL is where the other members reach the member:
	// http://127.0.0.1:port.
	PeerURL string

	cfg    *embed.Config
	mu     sync.Mutex
	etc    *embed.Etcd // nil while stopped
	closed bool        // by Cluster.Close: Restart fails
}

func init() {
	localetcdhook.Start = func(ctx context.Context, cfg any, opts localetcdhook.Options) (any, error) {
		c, err := start(ctx, cfg.(Config), opts)
		if err != nil {
			return nil, err // not a nil *Cluster in a non-nil any
		}
		return c, nil
	}
	localetcdhook.Etcd = func(m any) *embed.Etcd { return m.(*Member).etcd() }
}

// Start starts the cluster cfg describes, and returns once every member is
// ready to serve, or with an error once ctx ends first: ctx bounds the
// start-up, not the cluster's life. One member is ready within a fraction of
// a second; several take about a second more to elect a leader.
//
// A bad cfg is an error naming the field. When Start fails, it has stopped
// what it started and removed the directory it made, and the *Cluster is
// nil.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	return start(ctx, cfg, localetcdhook.Options{})
}

// check validates cfg and returns its number of members.
func (cfg Config) check() (int, error) {
	n := cfg.Members
	switch {
	case n < 0:
		return 0, fmt.Errorf("localetcd: Config.Members is %d, want 1 or more (0 means 1)", n)
	case n == 0:
		n = 1
	}
	if t := cfg.TLS; t != nil {
		switch {
		case t.CertFile == "":
			return 0, errors.New("localetcd: Config.TLS.CertFile is empty")
		case t.KeyFile == "":
			return 0, errors.New("localetcd: Config.TLS.KeyFile is empty")
		}
		// etcd reads the files at each handshake: a bad one would only
		// turn clients away.
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			return 0, fmt.Errorf("localetcd: Config.TLS.CertFile, KeyFile: %w", err)
		}
		if t.ClientCAFile != "" {
			pem, err := os.ReadFile(t.ClientCAFile)
			if err != nil {
				return 0, fmt.Errorf("localetcd: Config.TLS.ClientCAFile: %w", err)
			}
			if !x509.NewCertPool().AppendCertsFromPEM(pem) {
				return 0, fmt.Errorf("localetcd: Config.TLS.ClientCAFile: no PEM certificate in %s", t.ClientCAFile)
			}
		}
	}
	return n, nil
}

func start(ctx context.Context, cfg Config, opts localetcdhook.Options) (*Cluster, error) {
	n, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("localetcd: not started: %w", context.Cause(ctx))
	}
	c := &Cluster{dir: cfg.Dir}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "localetcd-")
		if err != nil {
			return nil, fmt.Errorf("localetcd: %w", err)
		}
		c.dir, c.ownDir = d, true
	} else if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("localetcd: Config.Dir: %w", err)
	}
	if err := c.setUp(n, cfg.TLS, opts); err != nil {
		c.Close()
		return nil, err
	}
	// Members of a multi-member cluster wait for each other, so start them
	// all before waiting for any. The first failure ends the others' wait.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, n)
	for _, m := range c.Members {
		go func() { errc <- m.start(sctx) }()
	}
	var first error
	for range n {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	if first != nil {
		c.Close()
		return nil, first
	}
	return c, nil
}

// setUp makes the members and configures their servers.
func (c *Cluster) setUp(n int, tlsFiles *TLSFiles, opts localetcdhook.Options) error {
	scheme := "http"
	if tlsFiles != nil {
		scheme = "https"
	}
	// All ports at once, so that they are distinct.
	ports, err := localetcdhook.FreePorts(2 * n)
	if err != nil {
		return fmt.Errorf("localetcd: free ports: %w", err)
	}
	var initial []string
	listenPeer := make([]url.URL, n)
	for i := range n {
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[2*i]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
		}
		listenPeer[i] = url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	for i, m := range c.Members {
		cfg := embed.NewConfig()
		cfg.Name = m.Name
		cfg.Dir = filepath.Join(c.dir, m.Name)
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = "localetcd"
		client, err := url.Parse(m.ClientURL)
		if err != nil {
			return fmt.Errorf("localetcd: %w", err)
		}
		peer, err := url.Parse(m.PeerURL)
		if err != nil {
			return fmt.Errorf("localetcd: %w", err)
		}
		cfg.ListenClientUrls = []url.URL{*client}
		cfg.AdvertiseClientUrls = cfg.ListenClientUrls
		cfg.ListenPeerUrls = []url.URL{listenPeer[i]}
		cfg.AdvertisePeerUrls = []url.URL{*peer}
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		// bcrypt's least cost: a client with a user and password
		// authenticates on each new stream, and the default cost takes
		// seconds under the race detector. Throwaway passwords need no
		// strength.
		cfg.BcryptCost = 4
		if et := opts.ElectionTimeout; et > 0 {
			cfg.ElectionMs = uint(et.Milliseconds())
			cfg.TickMs = uint(max(et.Milliseconds()/10, 1))
		}
		if t := tlsFiles; t != nil {
			cfg.ClientTLSInfo = transport.TLSInfo{
				CertFile:       t.CertFile,
				KeyFile:        t.KeyFile,
				TrustedCAFile:  t.ClientCAFile,
				ClientCertAuth: t.ClientCAFile != "",
			}
		}
		m.cfg = cfg
	}
	return nil
}

// Endpoints returns the client URLs of all members, in order.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.Members))
	for i, m := range c.Members {
		eps[i] = m.ClientURL
	}
	return eps
}

// Leader returns the index in Members of the member that is the raft
// leader, or -1 when no running member leads.
func (c *Cluster) Leader() int {
	for i, m := range c.Members {
		if e := m.etcd(); e != nil && e.Server.Leader() == e.Server.MemberID() {
			return i
		}
	}
	return -1
}

// Close stops every member and, if Start made the directory, removes it. It
// may take seconds: a leader hands its leadership over before it stops.
// Close is safe to call more than once, and from several goroutines; the
// calls after the first return once it is done. Close of a nil *Cluster,
// which a failed Start returns, does nothing.
func (c *Cluster) Close() {
	if c == nil {
		return
	}
	c.closeOnce.Do(func() {
		var wg sync.WaitGroup
		for _, m := range c.Members {
			wg.Go(func() { m.close() })
		}
		wg.Wait()
		if c.ownDir {
			os.RemoveAll(c.dir)
		}
	})
}

func (m *Member) start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.startLocked(ctx)
}

func (m *Member) startLocked(ctx context.Context) error {
	if m.etc != nil {
		return nil
	}
	e, err := embed.StartEtcd(m.cfg)
	if err != nil {
		return fmt.Errorf("localetcd: start %s: %w", m.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		m.etc = e
		return nil
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("localetcd: start %s: %w", m.Name, err)
	case <-ctx.Done():
		e.Close()
		return fmt.Errorf("localetcd: %s not ready: %w", m.Name, context.Cause(ctx))
	}
}

// Stop stops the member's server, which hands its leadership over first if
// it leads, and closes its clients' connections. Its data stays, so Restart
// brings it back. Stop of a stopped member does nothing.
func (m *Member) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopLocked()
}

func (m *Member) stopLocked() {
	if m.etc != nil {
		m.etc.Close()
		m.etc = nil
	}
}

// Kill stops the member's server at once, as a crash does: unlike Stop, a
// leader hands nothing over, so the other members elect a new one only
// once their election timeout (a second) has passed without it. Its data
// stays, so Restart brings it back. Kill of a stopped member does nothing.
func (m *Member) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.etc != nil {
		// Stopped so, the server's own Stop, which Close calls, finds no
		// raft to hand the leadership over with, and returns at once.
		m.etc.Server.HardStop()
		m.stopLocked()
	}
}

// close stops the member for good.
func (m *Member) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.stopLocked()
}

// errClosed is Restart's error after Cluster.Close.
var errClosed = errors.New("cluster closed")

// Restart starts a stopped member again, on the same ports and data, and
// returns once it is ready, or with an error once ctx ends first. In a
// cluster of several members, ready needs a majority of them running.
// Restart of a running member does nothing; after Cluster.Close it fails.
func (m *Member) Restart(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("localetcd: restart %s: %w", m.Name, errClosed)
	}
	if m.etc != nil {
		return nil
	}
	m.cfg.ClusterState = embed.ClusterStateFlagExisting
	return m.startLocked(ctx)
}

// etcd returns the running embedded server, or nil while stopped.
func (m *Member) etcd() *embed.Etcd {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.etc
}

// Isolate cuts the running member off from the other members: it stops
// sending raft messages and hearing theirs, so it loses its leader within
// an election timeout (a second), while the others, if they are a majority,
// go on. Its clients stay connected, and it answers what needs no leader,
// such as serializable reads. Rejoin undoes it, and so does a restart.
// Isolate of a stopped member does nothing.
func (m *Member) Isolate() {
	// etcd's own PauseSending. Blackholing a peer proxy would not be
	// enough: the member would still hear the leader on the connections it
	// opens itself.
	if e := m.etcd(); e != nil {
		e.Server.PauseSending()
	}
}

// Rejoin undoes Isolate. Rejoin of a member that is stopped, or not
// isolated, does nothing.
func (m *Member) Rejoin() {
	if e := m.etcd(); e != nil {
		e.Server.ResumeSending()
	}
}
