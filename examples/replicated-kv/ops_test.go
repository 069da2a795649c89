package main

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/seed764c596d/mastership/examples/internal/proctest"
	"github.com/seed764c596d/mastership/examples/replicated-kv/kvpb"
)

// grpcHealth asks s's gRPC health service for service.
func grpcHealth(t *testing.T, s *server, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health check of %s for %q: %v", s.id, service, err)
	}
	return resp.GetStatus()
}

// TestOps: the master alone is healthy, over gRPC's health service (for
// the KV service and as a whole) and over /healthz; /metrics gives each
// server's role; after the master leaves, the next one is healthy.
func TestOps(t *testing.T) {
	c := newCluster(t)
	ops := func(cfg *config) { cfg.OpsListen = "127.0.0.1:0" }
	a := c.start("a", ops)
	waitServing(t, a)
	b := c.start("b", ops)
	for _, tc := range []struct {
		s    *server
		grpc healthpb.HealthCheckResponse_ServingStatus
		http int
		role string
	}{
		{a, healthpb.HealthCheckResponse_SERVING, http.StatusOK, "MASTER"},
		{b, healthpb.HealthCheckResponse_NOT_SERVING, http.StatusServiceUnavailable, "SLAVE"},
	} {
		for _, service := range []string{"", kvpb.KV_ServiceDesc.ServiceName} {
			if got := grpcHealth(t, tc.s, service); got != tc.grpc {
				t.Errorf("%s: gRPC health of %q is %v, want %v", tc.s.id, service, got, tc.grpc)
			}
		}
		if code, body := proctest.Get(t, "http://"+tc.s.opsAddr+"/healthz"); code != tc.http || !strings.Contains(body, tc.role) {
			t.Errorf("%s /healthz: %d %q, want %d naming %s", tc.s.id, code, body, tc.http, tc.role)
		}
		if code, body := proctest.Get(t, "http://"+tc.s.opsAddr+"/metrics"); code != http.StatusOK || !strings.Contains(body, `mastership_role{id="`+tc.s.id) {
			t.Errorf("%s /metrics: %d, no role of its own in:\n%s", tc.s.id, code, body)
		}
	}
	a.Close()
	waitFor(t, 10*time.Second, "b healthy once a left", func() bool {
		code, _ := proctest.Get(t, "http://"+b.opsAddr+"/healthz")
		return code == http.StatusOK && grpcHealth(t, b, "") == healthpb.HealthCheckResponse_SERVING
	})
}

// TestOpsListenInUse: an --ops-listen address in use fails the start,
// naming the flag, before the member registers: it writes nothing to etcd.
func TestOpsListenInUse(t *testing.T) {
	c := newCluster(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before, err := c.cli.Get(ctx, "any")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{Prefix: c.prefix, Name: "a", TTL: testTTL, OpsListen: busy.Addr().String(), Logger: testLogger(t, "a")}
	s, err := newServer(ctx, c.etcd.Client(t).Client, cfg)
	if err == nil {
		s.Close()
		t.Fatal("a server started on an --ops-listen address in use")
	}
	if !strings.Contains(err.Error(), "--ops-listen "+busy.Addr().String()) {
		t.Errorf("error %q does not name --ops-listen and its address", err)
	}
	// Not even a registration undone: etcd's revision has not moved.
	after, err := c.cli.Get(ctx, "any")
	if err != nil {
		t.Fatal(err)
	}
	if after.Header.Revision != before.Header.Revision {
		t.Errorf("etcd's revision moved from %d to %d: the member wrote before its start failed", before.Header.Revision, after.Header.Revision)
	}
}
