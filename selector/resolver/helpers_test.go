package resolver

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"

	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/selector"
)

// waitTime bounds the wait for something that should happen promptly.
const waitTime = 10 * time.Second

// callTimeout bounds one call; calls that fail fast fail well before it.
const callTimeout = 3 * time.Second

// shared is a one-member etcd cluster shared by the tests that do not need
// one of their own. Each test works under its own prefix.
var shared *etcdtest.Cluster

func TestMain(m *testing.M) { etcdtest.MainShared(m, &shared) }

// prefixOf returns a group prefix of the test's own.
func prefixOf(t *testing.T) string {
	return "/" + strings.ReplaceAll(t.Name(), "/", "_")
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// server is a gRPC server on a free loopback port whose UnaryCall answers
// with its id, so that a test sees which server a call reached.
type server struct {
	testpb.UnimplementedTestServiceServer
	id   string
	addr string
	srv  *grpc.Server
}

func (s *server) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{ServerId: s.id}, nil
}

// startServer starts a server that answers id, stopped when t ends.
func startServer(t *testing.T, id string) *server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{id: id, addr: lis.Addr().String(), srv: grpc.NewServer()}
	testpb.RegisterTestServiceServer(s.srv, s)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.srv.Serve(lis)
	}()
	t.Cleanup(func() {
		s.srv.Stop()
		wg.Wait()
	})
	return s
}

// join registers member id of the group at prefix with the given value
// (its address), and closes it when t ends. Its events are read and
// dropped.
func join(t *testing.T, cli *clientv3.Client, prefix, id, value string) *selector.Selector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := selector.New(ctx, cli, prefix, id, selector.WithTTL(2*time.Second), selector.WithValue(value))
	if err != nil {
		t.Fatalf("selector.New(%q): %v", id, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range s.Events() {
		}
	}()
	t.Cleanup(func() {
		s.Close()
		select {
		case <-done:
		case <-time.After(waitTime):
			t.Errorf("%s: events not closed after Close", id)
		}
	})
	return s
}

func newBuilder(t *testing.T, cli *clientv3.Client, opts ...Option) *Builder {
	t.Helper()
	b, err := NewBuilder(cli, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dial returns a client of target through b, closed when t ends.
func dial(t *testing.T, b *Builder, target string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(target, grpc.WithResolvers(b), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("NewClient(%q): %v", target, err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// who makes one call and returns the id of the server that answered.
func who(cc *grpc.ClientConn, opts ...grpc.CallOption) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := testpb.NewTestServiceClient(cc).UnaryCall(ctx, &testpb.SimpleRequest{}, opts...)
	if err != nil {
		return "", err
	}
	return resp.ServerId, nil
}

// reaches calls until a call reaches the server want, and fails t if none
// does within waitTime.
func reaches(t *testing.T, cc *grpc.ClientConn, want string) {
	t.Helper()
	deadline := time.Now().Add(waitTime)
	var got string
	var err error
	for time.Now().Before(deadline) {
		got, err = who(cc)
		if err == nil && got == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("calls did not reach %q within %v; last call: %q, %v", want, waitTime, got, err)
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: not within %v", what, timeout)
		}
	}
}

// fakeConn is a resolver.ClientConn that records what a resolver gives
// it, for tests that look at the resolver alone.
type fakeConn struct {
	states chan resolver.State
	errs   chan error
}

func newFakeConn() *fakeConn {
	return &fakeConn{states: make(chan resolver.State, 1000), errs: make(chan error, 1000)}
}

func (c *fakeConn) UpdateState(s resolver.State) error {
	c.states <- s
	return nil
}

func (c *fakeConn) ReportError(err error) { c.errs <- err }

func (c *fakeConn) NewAddress([]resolver.Address) {}

func (c *fakeConn) ParseServiceConfig(string) *serviceconfig.ParseResult {
	return &serviceconfig.ParseResult{}
}

// next returns the next state, or fails t after waitTime.
func (c *fakeConn) next(t *testing.T) resolver.State {
	t.Helper()
	select {
	case s := <-c.states:
		return s
	case <-time.After(waitTime):
		t.Fatalf("no state within %v", waitTime)
		return resolver.State{}
	}
}

func revisionOf(s resolver.State) int64 {
	rev, _ := s.Attributes.Value(revKey{}).(int64)
	return rev
}

func addrsOf(s resolver.State) []string {
	var out []string
	for _, a := range s.Addresses {
		out = append(out, a.Addr)
	}
	return out
}

var simpleRequest testpb.SimpleRequest

func clientOf(cc *grpc.ClientConn) testpb.TestServiceClient { return testpb.NewTestServiceClient(cc) }
