// Package localetcdhook gives this module's test helpers (internal/etcdtest)
// what package localetcd keeps out of its public API because it is etcd's
// own: a member's embedded server, and settings of etcd's that only tests
// tune. Package localetcd sets the hooks in its init, so they are set
// wherever localetcd is linked in.
//
// The hooks speak of localetcd's types as any, since this package cannot
// import localetcd; etcdtest wraps them in functions of the right types.
//
// It also holds the helpers both packages use: FreePorts and DrainErrors.
package localetcdhook

import (
	"context"
	"net"
	"time"

	"go.etcd.io/etcd/pkg/v3/proxy"
	"go.etcd.io/etcd/server/v3/embed"
)

// Options are the ways a cluster may differ from what its localetcd.Config
// says.
type Options struct {
	// ElectionTimeout, when above 0, replaces etcd's election timeout of
	// 1s, and the heartbeat becomes a tenth of it (etcd's ratio). A fresh
	// member of one elects itself within one to ten heartbeats of
	// starting, so a shorter timeout starts it sooner; it also lowers
	// etcd's minimum lease TTL, 1.5 election timeouts rounded up to whole
	// seconds (2s by default, 1s from a timeout of 666ms down).
	ElectionTimeout time.Duration
}

// The hooks, set by package localetcd.
var (
	// Start is localetcd.Start with opts: cfg is a localetcd.Config, and
	// cluster a *localetcd.Cluster, nil when err is not.
	Start func(ctx context.Context, cfg any, opts Options) (cluster any, err error)
	// Etcd returns the running server of member, a *localetcd.Member, or
	// nil while it is stopped.
	Etcd func(member any) *embed.Etcd
)

// FreePorts returns n distinct free TCP ports on 127.0.0.1. Another process
// could take one before it is used; that race is accepted.
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

// DrainErrors reads and drops a proxy's errors until it is closed. The proxy
// blocks once 16 errors wait unread, and a fault test makes many (every
// connection it breaks).
func DrainErrors(s proxy.Server) {
	for {
		select {
		case <-s.Error():
		case <-s.Done():
			return
		}
	}
}
