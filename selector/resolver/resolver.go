package resolver

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/group"
)

// groupResolver resolves one target: it follows the group in etcd and
// gives gRPC the master's address, or the slaves', or an error naming the
// group.
type groupResolver struct {
	cc     resolver.ClientConn
	cli    *clientv3.Client
	prefix string
	role   role
	sc     *serviceconfig.ParseResult
	log    *slog.Logger
	read   time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	now    chan struct{} // ResolveNow's requests; one pending at most
	done   chan struct{} // closed when run returns

	last string // what was last given to gRPC; run's goroutine only
}

func (r *groupResolver) run() {
	defer close(r.done)
	key := group.Key(r.prefix)
	group.Follow(r.ctx, group.Config[struct{}]{
		Client:      r.cli,
		Prefix:      key,
		ReadTimeout: r.read,
		Log:         r.log,
		Requests:    r.now,
		Serve: func(struct{}) group.Action {
			r.log.Debug("reading afresh for ResolveNow")
			return group.Resync
		},
		Update: func(st group.State) bool {
			r.update(group.Members(key, st.KVs), st)
			return true
		},
		ReadFailed: func(err error) {
			err = fmt.Errorf("%w for %s: %w", ErrUnreachable, r.prefix, err)
			r.last = ""
			r.cc.ReportError(err)
		},
	}, group.State{})
}

// update gives gRPC the state of the group. A state from a watch response
// that changes nothing gRPC sees is not given again; a fresh read always
// is, so that ResolveNow is answered.
func (r *groupResolver) update(members []events.Node, st group.State) {
	addrs, err := r.addresses(members)
	seen := "err:" + fmt.Sprint(err)
	if err == nil {
		seen = "addrs:" + strings.Join(addrs, ",")
	}
	if seen == r.last && !st.Fresh {
		return
	}
	r.last = seen
	s := resolver.State{ServiceConfig: r.sc, Attributes: stateAttributes(st.Revision, err)}
	if err != nil {
		// No address, so that gRPC drops the old one rather than keep
		// calling a deposed master, and the error, which the balancer
		// gives to the calls.
		r.log.Info("no address", "err", err, "revision", st.Revision)
		r.cc.UpdateState(s)
		r.cc.ReportError(err)
		return
	}
	r.log.Info("addresses", "addrs", addrs, "revision", st.Revision)
	for _, a := range addrs {
		addr := resolver.Address{Addr: a}
		s.Addresses = append(s.Addresses, addr)
		s.Endpoints = append(s.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{addr}})
	}
	// An error here means only that the balancer did not like the state;
	// the next change of the group gives it another.
	if err := r.cc.UpdateState(s); err != nil {
		r.log.Debug("state refused", "err", err)
	}
}

// addresses returns the addresses the role resolves to among members, in
// join order, or the error that says why there are none.
func (r *groupResolver) addresses(members []events.Node) ([]string, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("%w for %s", ErrNoMaster, r.prefix)
	}
	if r.role == roleMaster {
		m := members[0]
		if m.Value == "" {
			return nil, fmt.Errorf("%w: master %q of %s", ErrNoAddress, m.ID, r.prefix)
		}
		return []string{m.Value}, nil
	}
	slaves := members[1:]
	if len(slaves) == 0 {
		return nil, fmt.Errorf("%w for %s", ErrNoSlave, r.prefix)
	}
	var addrs []string
	for _, s := range slaves {
		if s.Value != "" {
			addrs = append(addrs, s.Value)
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: slaves %q of %s", ErrNoAddress, events.IDs(slaves), r.prefix)
	}
	return addrs, nil
}

// ResolveNow makes the resolver read the group afresh and give gRPC the
// result: at once while it watches the group, after the current read or
// backoff otherwise. It does not block; requests made while one is pending
// are merged with it.
func (r *groupResolver) ResolveNow(resolver.ResolveNowOptions) {
	select {
	case r.now <- struct{}{}:
	default:
	}
}

// Close stops the resolver and waits until it no longer calls gRPC.
func (r *groupResolver) Close() {
	r.cancel()
	<-r.done
}
