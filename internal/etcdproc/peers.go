package etcdproc

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/seed764c596d/mastership/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/pkg/v3/proxy"
	"go.uber.org/zap"
)

// Peer proxies (Options.PeerProxies) put a fault proxy, etcd's own
// go.etcd.io/etcd/pkg/v3/proxy, on every link between two members, one per
// direction of dialling: the link from a to b carries the connections a
// opens to b, and so the messages a sends on them and b's answers.
//
// One proxy per member, in front of its peer listener, would not isolate
// it: raft traffic flows both ways on the connections each member opens to
// the others (etcd's stream transport sends a peer's messages on the
// connection that peer opened), so a member whose own proxy holds
// everything still hears the leader on the connections it opened itself,
// through the others' proxies. Isolating a member must cut the links it
// dials as well as those it is dialled on, and only those: the other
// members must go on talking to each other.
//
// Every member advertises the same peer URL to all, so a per-link proxy
// needs each member to resolve that URL to a proxy of its own. Peers talk
// over Unix sockets, which etcd (3.4 and later) supports for peer URLs and
// names relative to the working directory of the process: each member runs
// in a directory of its own, in which the name of each other member's peer
// URL is a symbolic link to the proxy of the link from this member to that
// one. The sockets rather than TCP ports also keep the proxies off the
// network: etcd's proxy, given a TCP port, listens on every interface.
// Clients still reach the members on 127.0.0.1.
//
// etcd turns a peer URL into the address its HTTP client dials, "host:port"
// ("host:80" when the URL has no port), and 3.4 wants a port in every peer
// URL: so every socket name the members use carries the port 1, and no
// proxy's does (etcd's proxy would take a name with a port for a TCP
// address to listen on).

// sockPort is the port in the socket names the members use; see above.
const sockPort = ":1"

// link is the proxy of the connections one member opens to another:
// etcdtest's Proxy, whose Hold stops the traffic in both directions
// without losing any, as a real partition does, and Release delivers it.
type link struct {
	from, to *Member
	*etcdtest.Proxy
}

// setUpPeers makes the working directory of each member under dir, names
// their peer URLs, and starts the proxy of every link. dir must be short:
// the proxies' socket paths are under it, and a Unix socket's path holds
// about 100 bytes at most.
func (c *Cluster) setUpPeers(dir string) error {
	for _, m := range c.Members {
		m.workDir = filepath.Join(dir, m.Name)
		if err := os.Mkdir(m.workDir, 0o700); err != nil {
			return err
		}
		m.listenPeer = "unix://listen" + sockPort
		m.PeerURL = "unix://" + m.Name + "-peer" + sockPort
		// A member never dials itself through a proxy; should it dial its
		// own URL, the name leads to its own listener.
		if err := os.Symlink("listen"+sockPort, filepath.Join(m.workDir, m.Name+"-peer"+sockPort)); err != nil {
			return err
		}
	}
	for _, from := range c.Members {
		for _, to := range c.Members {
			if from == to {
				continue
			}
			sock := filepath.Join(dir, "p-"+from.Name+"-"+to.Name)
			srv := proxy.NewServer(proxy.ServerConfig{
				Logger: zap.NewNop(),
				From:   url.URL{Scheme: "unix", Host: sock},
				To:     url.URL{Scheme: "unix", Host: filepath.Join(to.workDir, "listen"+sockPort)},
			})
			l := &link{from: from, to: to, Proxy: &etcdtest.Proxy{Server: srv}}
			c.links = append(c.links, l)
			select {
			case <-srv.Ready():
			case err := <-srv.Error():
				return fmt.Errorf("etcdproc: proxy %s: %w", sock, err)
			case <-time.After(StartTimeout):
				return fmt.Errorf("etcdproc: proxy %s not ready after %v", sock, StartTimeout)
			}
			go etcdtest.DrainErrors(srv)
			if err := os.Symlink(sock, filepath.Join(from.workDir, to.Name+"-peer"+sockPort)); err != nil {
				return err
			}
		}
	}
	return nil
}

// closePeers closes the proxies of every link and removes their directory.
// The members must have stopped first: a proxy's Close waits for its
// connections to end.
func (c *Cluster) closePeers() {
	for _, l := range c.links {
		l.Release()
		l.Close()
	}
	c.links = nil
	if c.peerDir != "" {
		os.RemoveAll(c.peerDir)
		c.peerDir = ""
	}
}

var errNoPeerProxies = errors.New("etcdproc: the cluster has no peer proxies (Options.PeerProxies)")

// Isolate cuts m off from the other members until Heal: the proxies of
// every link from m and to m hold their traffic, in both directions, while
// the other members go on talking to each other. m's clients still reach
// it; it answers what it can without its peers (a serializable read, a
// status), and the rest waits or fails as on a real partition. It needs
// Options.PeerProxies.
func (c *Cluster) Isolate(m *Member) error {
	if len(c.links) == 0 {
		return errNoPeerProxies
	}
	for _, l := range c.links {
		if l.from == m || l.to == m {
			l.Hold()
		}
	}
	return nil
}

// Heal undoes Isolate: what the proxies held is delivered, in order, and
// traffic flows again.
func (c *Cluster) Heal(m *Member) error {
	if len(c.links) == 0 {
		return errNoPeerProxies
	}
	for _, l := range c.links {
		if l.from == m || l.to == m {
			l.Release()
		}
	}
	return nil
}

// Leader returns the member that is the raft leader, and its term, as the
// members' status says: the first running member that reports itself as
// leader. It asks each member in turn through cli, each within the bounds
// of ctx, and skips the members that do not answer.
func (c *Cluster) Leader(ctx context.Context, cli *clientv3.Client) (*Member, uint64, error) {
	var errs []error
	for _, m := range c.Members {
		if !m.Running() {
			continue
		}
		st, err := cli.Status(ctx, m.ClientURL)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.Name, err))
			continue
		}
		if st.Leader != 0 && st.Leader == st.Header.MemberId {
			return m, st.RaftTerm, nil
		}
	}
	return nil, 0, fmt.Errorf("etcdproc: no member says it leads: %w", errors.Join(errs...))
}

// Running reports whether m's process runs.
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd != nil
}
