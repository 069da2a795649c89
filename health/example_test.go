package health_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/seed764c596d/mastership/health"
	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/selector"
)

func ExampleNewHandler() {
	cli, stop, err := etcdtest.ForExample() // an embedded etcd and a client, for the example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx := context.Background()

	var members []*selector.Selector
	defer func() {
		for _, s := range members {
			s.Close()
			for range s.Events() {
			}
		}
	}()
	for _, id := range []string{"db-1", "db-2"} {
		s, err := selector.New(ctx, cli, "/example/db", id, selector.WithTTL(2*time.Second))
		if err != nil {
			fmt.Println(err)
			return
		}
		<-s.Events()
		members = append(members, s)
	}

	for _, s := range members {
		// Route traffic to the master alone: 200 there, 503 elsewhere.
		h, err := health.NewHandler(s, health.MasterOnly)
		if err != nil {
			fmt.Println(err)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 200 ok db-1 MASTER REFRESH
	// 503 unavailable db-2 SLAVE REFRESH
}

func ExampleNewServer() {
	cli, stop, err := etcdtest.ForExample() // an embedded etcd and a client, for the example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	s, err := selector.New(context.Background(), cli, "/example/db", "db-1", selector.WithTTL(2*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		s.Close()
		for range s.Events() {
		}
	}()
	<-s.Events()

	// Healthy while registered, under the empty name and "db".
	hs, err := health.NewServer(s, health.Registered, health.WithService("db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	defer func() {
		hs.Shutdown() // ends the Watch calls, so that GracefulStop returns
		gs.GracefulStop()
	}()
	// Serve gs on a listener; here the service is called directly.
	resp, err := hs.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "db"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.GetStatus())
	// Output:
	// SERVING
}
