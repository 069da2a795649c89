package resolver

import (
	"encoding/json"
	"fmt"
	"sync"

	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/pickfirst"
	"google.golang.org/grpc/balancer/roundrobin"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
)

// gRPC's stock balancers do not say why a resolver has no address: with
// zero addresses pick_first fails calls with "produced zero addresses" and
// round_robin with "no children to pick from", and both ignore a resolver
// error while they hold a previous good address. The resolver's service
// config therefore names these thin wrappers of pick_first and round_robin.
// They hand everything to the stock balancer, except that while the
// resolver reports no usable address they fail calls with the resolver's
// error ("resolver: no master for /services/db"), which gRPC turns into
// codes.Unavailable for calls that do not wait for ready.
const (
	masterBalancer = "mastership_pick_first"
	slaveBalancer  = "mastership_round_robin"
)

func init() {
	balancer.Register(wrapBuilder{name: masterBalancer, child: pickfirst.Name})
	balancer.Register(wrapBuilder{name: slaveBalancer, child: roundrobin.Name})
}

func serviceConfig(r role) string {
	name := masterBalancer
	if r == roleSlave {
		name = slaveBalancer
	}
	return fmt.Sprintf(`{"loadBalancingConfig":[{%q:{}}]}`, name)
}

// errKey is the key of the resolver's error in resolver.State.Attributes,
// set on a state with no address.
type errKey struct{}

// revKey is the key of the etcd revision a state was read at.
type revKey struct{}

func stateAttributes(rev int64, err error) *attributes.Attributes {
	a := attributes.New(revKey{}, rev)
	if err != nil {
		a = a.WithValue(errKey{}, err)
	}
	return a
}

type wrapBuilder struct {
	name, child string
}

func (b wrapBuilder) Name() string { return b.name }

func (b wrapBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	w := &wrapBalancer{cc: cc}
	w.child = balancer.Get(b.child).Build(childConn{ClientConn: cc, w: w}, opts)
	return w
}

type noConfig struct {
	serviceconfig.LoadBalancingConfig
}

func (wrapBuilder) ParseConfig(js json.RawMessage) (serviceconfig.LoadBalancingConfig, error) {
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, err
	}
	if len(m) != 0 {
		return nil, fmt.Errorf("resolver: balancer takes no config, got %s", js)
	}
	return noConfig{}, nil
}

// wrapBalancer is the balancer of one client: the stock child, and the
// resolver's error while it has no address.
type wrapBalancer struct {
	cc    balancer.ClientConn
	child balancer.Balancer

	mu       sync.Mutex
	hasAddrs bool // the last resolver state had addresses: the child is in charge
}

func (w *wrapBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	s.BalancerConfig = nil // the children take their defaults
	has := len(s.ResolverState.Endpoints) > 0 || len(s.ResolverState.Addresses) > 0
	w.mu.Lock()
	w.hasAddrs = has
	w.mu.Unlock()
	if has {
		return w.child.UpdateClientConnState(s)
	}
	// The child drops its connections to the addresses gone; what it then
	// says is hidden from gRPC until addresses come back.
	w.child.UpdateClientConnState(s)
	err, _ := s.ResolverState.Attributes.Value(errKey{}).(error)
	if err == nil {
		err = fmt.Errorf("%w: the resolver gave no address", ErrNoAddress)
	}
	w.fail(err)
	return nil
}

func (w *wrapBalancer) ResolverError(err error) {
	w.mu.Lock()
	has := w.hasAddrs
	w.mu.Unlock()
	if has {
		w.child.ResolverError(err) // the child keeps its good addresses
		return
	}
	w.fail(err)
}

func (w *wrapBalancer) fail(err error) {
	w.cc.UpdateState(balancer.State{ConnectivityState: connectivity.TransientFailure, Picker: errPicker{err}})
}

// UpdateSubConnState is deprecated in gRPC but still part of the Balancer
// interface; passing it on keeps the wrapper transparent for a child that
// creates SubConns without a StateListener.
func (w *wrapBalancer) UpdateSubConnState(sc balancer.SubConn, s balancer.SubConnState) {
	//lint:ignore SA1019 the Balancer interface still requires this method.
	w.child.UpdateSubConnState(sc, s)
}

func (w *wrapBalancer) Close() { w.child.Close() }

func (w *wrapBalancer) ExitIdle() { w.child.ExitIdle() }

// childConn is the child's ClientConn: its states reach gRPC only while
// the resolver gives addresses.
type childConn struct {
	balancer.ClientConn
	w *wrapBalancer
}

func (c childConn) UpdateState(s balancer.State) {
	c.w.mu.Lock()
	has := c.w.hasAddrs
	c.w.mu.Unlock()
	if has {
		c.w.cc.UpdateState(s)
	}
}

// errPicker fails every pick with err. err is not a status error, so gRPC
// fails calls with codes.Unavailable and err's text, and calls that wait
// for ready go on waiting.
type errPicker struct{ err error }

func (p errPicker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	return balancer.PickResult{}, p.err
}

var _ resolver.Builder = (*Builder)(nil)
