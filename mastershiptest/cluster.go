package mastershiptest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/internal/localetcdhook"
)

// opTimeout bounds each call that waits on etcd: a start, a restart, a
// leader move, a compaction, a revocation, a user's change.
const opTimeout = 30 * time.Second

// RootUser is the etcd user with every permission in a cluster started
// WithSecure. Its password is Cluster.RootPassword.
const RootUser = "root"

// Cluster is a real etcd cluster running in the test's process, started by
// NewCluster and stopped when the test ends.
type Cluster struct {
	// Members are the cluster's members, in order: Members[0] is the one
	// Cluster.Client reaches.
	Members []*Member

	et  *etcdtest.Cluster
	sec *etcdtest.Secure // nil without WithSecure
}

// Member is one etcd server of a Cluster.
type Member struct {
	// Name is the member's etcd name: m0, m1, and so on.
	Name string
	// ClientURL is where the member serves its clients directly, with no
	// fault proxy between: http://127.0.0.1:port, or https:// WithSecure.
	ClientURL string

	c *Cluster
	m *etcdtest.Member

	mu     sync.Mutex
	killed bool // by Kill, and not restarted since
}

// oneElectionTimeout is the election timeout of a one-member cluster. A
// fresh member of one elects itself one to ten heartbeats after it starts:
// with etcd's default timeout of 1s, it would wait 100ms to 1s (550ms on
// average) before it serves; with 100ms, 10ms to 100ms. Alone, it can
// lose no election, so the short timeout costs no stability; several
// members keep etcd's default, which a busy test machine's pauses would
// otherwise upset.
const oneElectionTimeout = 100 * time.Millisecond

// NewCluster starts a real etcd cluster for t, a one-member one unless
// WithMembers says otherwise, on free ports of 127.0.0.1 with its data in
// t's temporary directory, and returns once every member is ready to
// serve. It stops the cluster when t ends, after the clients made for t
// since, which t's clean-ups close first. A bad option, or a cluster that
// fails to start within 30s, fails the test.
//
// A one-member cluster runs with an election timeout of 100ms, not etcd's
// 1s, so that it serves within a fraction of a second of starting, and of
// a Restart. That lowers etcd's minimum lease TTL, 1.5 election timeouts
// rounded up to whole seconds, from 2s to 1s: a TTL of 1s, which a
// production etcd with default settings raises to 2s, is granted as asked.
// A cluster of several members keeps etcd's defaults.
func NewCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	cfg := config{members: 1}
	for _, o := range opts {
		if o == nil {
			cfg.fail(errors.New("nil Option"))
			continue
		}
		o.apply(&cfg)
	}
	if cfg.err != nil {
		t.Fatalf("mastershiptest: NewCluster: %v", cfg.err)
	}
	var tune localetcdhook.Options
	if cfg.members == 1 {
		tune.ElectionTimeout = oneElectionTimeout
	}
	c := &Cluster{}
	if cfg.secure {
		c.sec = etcdtest.StartSecureCluster(t, cfg.members, tune)
		c.et = c.sec.Cluster
	} else {
		c.et = etcdtest.StartCluster(t, cfg.members, tune)
	}
	for _, m := range c.et.Members {
		c.Members = append(c.Members, &Member{Name: m.Name, ClientURL: m.ClientURL, c: c, m: m})
	}
	// Before the cluster closes: a member killed and left down leaves etcd
	// connections behind (goleak sees them) unless it runs again and
	// closes as members do.
	t.Cleanup(c.restartKilled)
	return c
}

// restartKilled restarts the members that Kill stopped, at the end of the
// test.
func (c *Cluster) restartKilled() {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, m := range c.Members {
		m.mu.Lock()
		killed := m.killed
		m.mu.Unlock()
		if killed {
			wg.Go(func() { m.restart(ctx) })
		}
	}
	wg.Wait()
}

// Close stops every member for good. NewCluster has t's clean-up call it,
// so a test need not; a benchmark calls it to stop each cluster it starts. Close the cluster's
// clients first: with a client still open, an embedded server has been seen
// to take seconds to close. Close is safe to call more than once.
func (c *Cluster) Close() { c.et.Close() }

// Endpoints returns the members' client URLs, in order, with no fault proxy
// between: for code that makes its own clients. Cluster.Config returns a
// whole client configuration.
func (c *Cluster) Endpoints() []string { return c.et.Endpoints() }

// Leader returns the index in Members of the member that is the raft
// leader, or -1 when no running member leads.
func (c *Cluster) Leader() int { return c.et.Leader() }

// Stop stops every member, as a whole cluster's outage does: clients' calls
// fail or wait until Restart, which brings the cluster back with its data.
// With several members it takes seconds: the leader waits, in vain, to
// hand its leadership over to a member that is stopping too. Stop of a
// stopped cluster does nothing.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, m := range c.Members {
		wg.Go(m.Stop)
	}
	wg.Wait()
}

// Restart starts every stopped member again, on the same ports and with the
// same data, and returns once the cluster serves. Running members go on
// running. It fails the test after 30s.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	// A member of several is ready only once a majority runs: start them
	// all before waiting for any.
	errs := make([]error, len(c.Members))
	var wg sync.WaitGroup
	for i, m := range c.Members {
		wg.Go(func() { errs[i] = m.restart(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("mastershiptest: Restart: %v", err)
	}
}

// Stop stops the member's server as an orderly shutdown does: a leader
// hands its leadership over first, which Kill does not. Its clients' calls
// go to no one until Restart. The other members go on while they are a
// majority. Stop of a stopped member does nothing.
func (m *Member) Stop() { m.m.Stop() }

// Kill stops the member's server at once, as a crash of its machine does:
// a leader hands nothing over, so the other members go without one until
// their election timeout (a second) has passed and they elect another.
// Restart brings it back with its data. Kill of a stopped member does
// nothing.
//
// Kill returns once the server has closed its clients' connections, and a
// client's stream still open on it, such as a watch or a lease's
// keep-alives, holds that up for etcd's request timeout (5s and more): a
// crashed process's connections end at once instead. To crash the member
// so, Break the proxies its clients reach it through before the Kill, and
// Heal them after the Restart: the server's notice that it goes away
// reaches each client as Break's garbage, which ends the connection.
//
// A member still down from a Kill when the test ends is restarted by the
// test's clean-up, just before the cluster stops: a killed member's peers
// keep connections to it that only its return lets them close, and goleak
// would report their goroutines.
func (m *Member) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m.Etcd() != nil {
		m.m.Kill()
		m.killed = true
	}
}

// restart restarts the member, and clears killed once it runs.
func (m *Member) restart(ctx context.Context) error {
	if err := m.m.Restart(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.killed = false
	return nil
}

// Restart starts the stopped or killed member again, on the same ports and
// with the same data, and returns once it serves; in a cluster of several, that
// needs a majority running. It fails the test after 30s. Restart of a
// running member does nothing.
func (m *Member) Restart(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := m.restart(ctx); err != nil {
		t.Fatalf("mastershiptest: Restart of %s: %v", m.Name, err)
	}
}

// Isolate cuts the running member off from the other members, as a
// partition between etcd's machines does: it loses its leader within an
// election timeout (a second) and then serves no linearizable call, while
// the others, if they are a majority, go on. Its clients stay connected.
// Rejoin undoes it; so does a restart.
func (m *Member) Isolate() { m.m.Isolate() }

// Rejoin undoes Isolate.
func (m *Member) Rejoin() { m.m.Rejoin() }

// MoveLeader makes Members[to] the raft leader, through etcd's own
// leadership transfer (clientv3's Maintenance.MoveLeader), and returns once
// it leads. It fails the test if to is out of range or stopped, if no
// member leads, or after 30s.
func (c *Cluster) MoveLeader(t testing.TB, to int) {
	t.Helper()
	if to < 0 || to >= len(c.Members) {
		t.Fatalf("mastershiptest: MoveLeader(%d): the cluster has members 0 to %d", to, len(c.Members)-1)
	}
	e := c.Members[to].m.Etcd()
	if e == nil {
		t.Fatalf("mastershiptest: MoveLeader(%d): %s is stopped", to, c.Members[to].Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	for lead := c.Leader(); lead != to; lead = c.Leader() {
		if lead >= 0 {
			// The leader takes the request: send it there.
			cli := c.admin(t, c.Members[lead].ClientURL)
			_, err := cli.MoveLeader(ctx, uint64(e.Server.MemberID()))
			cli.Close()
			if err != nil && ctx.Err() == nil {
				t.Logf("mastershiptest: MoveLeader(%d): %v; trying again", to, err)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("mastershiptest: MoveLeader(%d): leader is %d after %v", to, c.Leader(), opTimeout)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Compact compacts the keyspace's history up to the current revision, which
// it returns: reads and watches of older revisions then fail with
// rpctypes.ErrCompacted, as they do once a production etcd's automatic
// compaction has passed them. It returns once the compaction is done.
func (c *Cluster) Compact(t testing.TB) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cli := c.admin(t, c.Endpoints()...)
	defer cli.Close()
	resp, err := cli.Get(ctx, "mastershiptest-compact")
	if err != nil {
		t.Fatalf("mastershiptest: Compact: current revision: %v", err)
	}
	rev := resp.Header.Revision
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("mastershiptest: Compact to revision %d: %v", rev, err)
	}
	return rev
}

// RevokeLease revokes the lease now, as its expiry would: etcd deletes the
// keys attached to it, and the lease's keep-alives fail from then on.
func (c *Cluster) RevokeLease(t testing.TB, id clientv3.LeaseID) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cli := c.admin(t, c.Endpoints()...)
	defer cli.Close()
	if _, err := cli.Revoke(ctx, id); err != nil {
		t.Fatalf("mastershiptest: RevokeLease(%x): %v", int64(id), err)
	}
}

// RevokeLeaseOf revokes the lease that key is attached to, and returns it:
// the key a member holds, such as its registration or its election
// proposal, disappears with every other key of that lease, as if the
// member's session had expired. It fails the test if key does not exist
// or has no lease.
func (c *Cluster) RevokeLeaseOf(t testing.TB, key string) clientv3.LeaseID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cli := c.admin(t, c.Endpoints()...)
	defer cli.Close()
	resp, err := cli.Get(ctx, key)
	switch {
	case err != nil:
		t.Fatalf("mastershiptest: RevokeLeaseOf(%q): %v", key, err)
	case len(resp.Kvs) == 0:
		t.Fatalf("mastershiptest: RevokeLeaseOf(%q): no such key", key)
	case resp.Kvs[0].Lease == 0:
		t.Fatalf("mastershiptest: RevokeLeaseOf(%q): the key has no lease", key)
	}
	id := clientv3.LeaseID(resp.Kvs[0].Lease)
	if _, err := cli.Revoke(ctx, id); err != nil {
		t.Fatalf("mastershiptest: RevokeLeaseOf(%q): revoke lease %x: %v", key, int64(id), err)
	}
	return id
}

// admin returns a client of endpoints, directly, as RootUser WithSecure,
// for the cluster's own operations; the caller closes it.
func (c *Cluster) admin(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	user, password := c.rootUser()
	cfg := c.config(t, user, password)
	cfg.Endpoints = endpoints
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatalf("mastershiptest: client: %v", err)
	}
	return cli
}

// Config returns a client configuration of the cluster's members, directly,
// with no fault proxy between, for code that makes its own client: with
// short dial and keep-alive timeouts and silent logging and, WithSecure,
// TLS with the test's client certificate, authenticating as user with
// password. Without WithSecure, user and password must be "".
func (c *Cluster) Config(t testing.TB, user, password string) clientv3.Config {
	t.Helper()
	return c.config(t, user, password)
}

func (c *Cluster) config(t testing.TB, user, password string) clientv3.Config {
	t.Helper()
	var cfg clientv3.Config
	if c.sec == nil {
		if user != "" || password != "" {
			t.Fatalf("mastershiptest: client as %q: the cluster has no authentication; start it WithSecure", user)
		}
		cfg = etcdtest.ClientConfig(c.Endpoints()...)
	} else {
		var err error
		if cfg, err = c.sec.Config(user, password); err != nil {
			t.Fatalf("mastershiptest: client configuration: %v", err)
		}
	}
	cfg.DialOptions = append(cfg.DialOptions, reconnect)
	return cfg
}

// reconnect makes a client try a lost member again within a second, and
// give up on an attempt after a second. gRPC's defaults wait up to 20s for
// an attempt, and a fault proxy whose member is stopped leaves the
// connections it accepts meanwhile open and silent: etcd's proxy does not
// close them when it fails to reach the member. A real stopped server
// refuses the connection at once.
var reconnect = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff: backoff.Config{
		BaseDelay:  100 * time.Millisecond,
		Multiplier: 1.6,
		Jitter:     0.2,
		MaxDelay:   time.Second,
	},
	MinConnectTimeout: time.Second,
})

// rootUser returns the user and password the cluster's own clients use:
// RootUser's WithSecure, none without.
func (c *Cluster) rootUser() (user, password string) {
	if c.sec == nil {
		return "", ""
	}
	return RootUser, c.sec.RootPassword
}

// needSecure fails the test unless the cluster was started WithSecure.
func (c *Cluster) needSecure(t testing.TB, what string) {
	t.Helper()
	if c.sec == nil {
		t.Fatalf("mastershiptest: %s: the cluster has no authentication; start it WithSecure", what)
	}
}
