package resolver_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/selector"
	"github.com/seed764c596d/mastership/selector/resolver"
)

// serve starts a gRPC server with the health service on a free loopback
// port, for the examples, and returns its address and a stop function.
func serve() (string, func(), error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(lis)
	}()
	return lis.Addr().String(), func() { srv.Stop(); <-done }, nil
}

func ExampleNewBuilder() {
	cli, stop, err := etcdtest.ForExample() // an embedded etcd and a client, for the example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx := context.Background()

	addr, stopServer, err := serve()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stopServer()
	// The master's value is its address.
	m, err := selector.New(ctx, cli, "/example/db", "db-1",
		selector.WithTTL(2*time.Second), selector.WithValue(addr))
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() {
		for range m.Events() {
		}
	}()

	b, err := resolver.NewBuilder(cli)
	if err != nil {
		fmt.Println(err)
		return
	}
	conn, err := grpc.NewClient("mastership:///example/db",
		grpc.WithResolvers(b),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{})
	fmt.Println("master:", resp.GetStatus(), err)

	m.Close() // no master left: calls fail at once, naming the group
	for {
		_, err = healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{})
		if err != nil || cctx.Err() != nil {
			break
		}
	}
	fmt.Println(err)
	// Output:
	// master: SERVING <nil>
	// rpc error: code = Unavailable desc = resolver: no master for /example/db
}

func ExampleNewDirectory() {
	cli, stop, err := etcdtest.ForExample() // an embedded etcd and a client, for the example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx := context.Background()

	addr, stopServer, err := serve()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stopServer()
	// Two groups under /example/shards: 0001 with a master, 0002 later.
	m, err := selector.New(ctx, cli, "/example/shards/0001", "a",
		selector.WithTTL(2*time.Second), selector.WithValue(addr))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	go func() {
		for range m.Events() {
		}
	}()

	d, err := resolver.NewDirectory(ctx, cli, "/example/shards",
		resolver.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	fmt.Println(<-d.Changes())

	n, err := selector.New(ctx, cli, "/example/shards/0002", "b",
		selector.WithTTL(2*time.Second), selector.WithValue(addr))
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() {
		for range n.Events() {
		}
	}()
	fmt.Println(<-d.Changes())
	n.Close()
	fmt.Println(<-d.Changes())

	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.Conn(cctx, "0001") // ready, to the master of 0001
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{})
	fmt.Println("0001:", resp.GetStatus(), err)
	// Output:
	// GROUP_ADDED 0001 (master "a", was "")
	// GROUP_ADDED 0002 (master "b", was "")
	// GROUP_REMOVED 0002 (master "", was "b")
	// 0001: SERVING <nil>
}
