//go:build etcdcompat

package compat

import (
	"context"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/seed764c596d/mastership/internal/etcdproc"
	"github.com/seed764c596d/mastership/selector"
	"github.com/seed764c596d/mastership/selector/resolver"
)

// callTimeout bounds one gRPC call; a call to a live server on the
// loopback answers within milliseconds.
const callTimeout = 3 * time.Second

// steadyCalls is how many calls in a row must reach the master once one
// has, so that a call still reaching an old master would show.
const steadyCalls = 20

// grpcServer is a gRPC server on a free loopback port whose UnaryCall
// answers with its id, so that a test sees which server a call reached (as
// in selector/resolver's tests).
type grpcServer struct {
	testpb.UnimplementedTestServiceServer
	id, addr string
}

func (s *grpcServer) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{ServerId: s.id}, nil
}

// startGRPC starts a server that answers id, stopped when t ends.
func startGRPC(t *testing.T, id string) *grpcServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &grpcServer{id: id, addr: lis.Addr().String()}
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, s)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		wg.Wait()
	})
	return s
}

// serving registers selector member id with value addr and TTL testTTL; its
// events are read and dropped; it is closed when t ends.
func serving(t *testing.T, cli *clientv3.Client, prefix, id, addr string) *selector.Selector {
	t.Helper()
	s, err := selector.New(ctxFor(t, waitTime), cli, prefix, id, selector.WithTTL(testTTL), selector.WithValue(addr))
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
			t.Errorf("%s: events not closed %v after Close", id, waitTime)
		}
	})
	return s
}

// who makes one call through cc and returns the id of the server that
// answered.
func who(cc *grpc.ClientConn) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := testpb.NewTestServiceClient(cc).UnaryCall(ctx, &testpb.SimpleRequest{})
	if err != nil {
		return "", err
	}
	return resp.ServerId, nil
}

// routed calls through cc, every 10 ms, until a call reaches the server
// want, at most waitTime after since; then each of steadyCalls calls in a
// row must reach it too. It logs how long after since the first did.
func routed(t *testing.T, cc *grpc.ClientConn, what string, since time.Time, want string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(time.Until(since.Add(waitTime)))
	defer deadline.Stop()
	var got string
	var err error
	calls := 0
	for {
		got, err = who(cc)
		calls++
		if err == nil && got == want {
			break
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: no call reached %q within %v; %d calls, the last: %q, %v", what, want, waitTime, calls, got, err)
		}
	}
	t.Logf("%s: calls reach %s %v after (%d calls)", what, want, time.Since(since).Round(time.Millisecond), calls)
	for i := range steadyCalls {
		if got, err := who(cc); err != nil || got != want {
			t.Fatalf("%s: call %d after one reached %s: %q, %v", what, i, want, got, err)
		}
	}
}

// TestResolverProcess routes gRPC calls through the resolver to the
// master of a group on an etcd process of the version under test, whose
// members are selector members, an `etcdctl elect` of that version whose
// proposal is an address, and an election candidate whose value is one:
// calls go to the master, and after it leaves, to the next.
func TestResolverProcess(t *testing.T) {
	onVersion(t, func(t *testing.T, bin etcdproc.Binaries) {
		c, cli := plainProcess(t, bin)
		const prefix = "/compat/route"
		srv := map[string]*grpcServer{}
		for _, id := range []string{"a", "k", "e", "b"} {
			srv[id] = startGRPC(t, id)
		}
		a := serving(t, cli, prefix, "a", srv["a"].addr)
		k := startElect(t, c, "etcdctl-k", prefix, srv["k"].addr)
		waitKey(t, cli, prefix, srv["k"].addr)
		e := runVoter(t, cli, prefix, "e", srv["e"].addr)
		waitKey(t, cli, prefix, srv["e"].addr)
		serving(t, cli, prefix, "b", srv["b"].addr)

		b, err := resolver.NewBuilder(cli)
		if err != nil {
			t.Fatal(err)
		}
		cc, err := grpc.NewClient("mastership://"+prefix, grpc.WithResolvers(b),
			grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })

		start := time.Now()
		routed(t, cc, "at the start", start, "a")

		// a leaves: etcdctl's k is elected, and calls go to its proposal.
		at := time.Now()
		if err := a.Close(); err != nil {
			t.Errorf("a.Close: %v", err)
		}
		k.next(t, at.Add(waitTime))
		routed(t, cc, "a closed", at, "k")

		// k is interrupted: etcdctl resigns, e leads.
		at = time.Now()
		if err := k.signal(t, syscall.SIGINT); err != nil {
			t.Errorf("etcdctl-k after SIGINT: %v; stderr: %s", err, k.stderr.String())
		}
		e.nextRole(t, true, at.Add(waitTime))
		routed(t, cc, "etcdctl-k interrupted", at, "e")

		// e resigns, and campaigns again behind b: b is master.
		at = time.Now()
		if err := e.Resign(ctxFor(t, waitTime)); err != nil {
			t.Fatalf("e.Resign: %v", err)
		}
		routed(t, cc, "e resigned", at, "b")
		t.Logf("routing done %v after the start", time.Since(start).Round(time.Millisecond))
	})
}
