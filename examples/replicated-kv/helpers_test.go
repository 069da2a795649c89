package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/seed764c596d/mastership/examples/internal/proctest"
	"github.com/seed764c596d/mastership/examples/replicated-kv/kvpb"
	"github.com/seed764c596d/mastership/mastershiptest"
)

// The test binary doubles as the program: with this variable set, it runs
// main instead of the tests, so that tests can run servers as processes and
// kill them.
const asProgram = "MASTERSHIP_TEST_RUN_REPLICATED_KV"

func TestMain(m *testing.M) { proctest.Main(m, asProgram, main) }

// testTTL is the smallest TTL etcd grants with its default settings.
const testTTL = 2 * time.Second

// cluster is an embedded etcd and the servers of one group on it.
type cluster struct {
	t      *testing.T
	etcd   *mastershiptest.Cluster
	cli    *clientv3.Client // the test's own client
	prefix string
}

func newCluster(t *testing.T) *cluster {
	c := mastershiptest.NewCluster(t)
	return &cluster{t: t, etcd: c, cli: c.Client(t).Client, prefix: "/kv"}
}

// start starts a server named name in-process, with its own etcd client
// (behind a fault proxy of its own), closed when the test ends (if the
// test did not close it before).
func (c *cluster) start(name string, mod func(*config)) *server {
	c.t.Helper()
	return c.startWith(c.etcd.Members[0].Client(c.t).Client, name, mod)
}

// startWith starts a server that reaches etcd with cli.
func (c *cluster) startWith(cli *clientv3.Client, name string, mod func(*config)) *server {
	c.t.Helper()
	cfg := config{Prefix: c.prefix, Name: name, TTL: testTTL, Logger: testLogger(c.t, name)}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := newServer(ctx, cli, cfg)
	if err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	c.t.Cleanup(func() { s.Close() })
	return s
}

// isr reads the group's in-sync set.
func (c *cluster) isr() isr {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, _, err := readISR(ctx, c.cli, c.prefix)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// waitISR waits until the recorded in-sync set is exactly the given
// servers, recorded by the first of them as master.
func (c *cluster) waitISR(servers ...*server) isr {
	c.t.Helper()
	var want []string
	for _, s := range servers {
		want = append(want, s.id)
	}
	var got isr
	waitFor(c.t, 15*time.Second, fmt.Sprintf("in-sync set %v", want), func() bool {
		got = c.isr()
		if len(got.Members) != len(want) || got.Master != want[0] {
			return false
		}
		for _, id := range want {
			if !got.has(id) {
				return false
			}
		}
		return true
	})
	return got
}

// waitFor polls cond until it holds, or fails the test after d.
var waitFor = proctest.WaitFor

// waitServing waits until s serves as master and returns its epoch.
func waitServing(t *testing.T, s *server) int64 {
	t.Helper()
	var ep int64
	waitFor(t, 15*time.Second, s.cfg.Name+" serving as master", func() bool {
		tm := s.current()
		if tm == nil || tm.serving() != nil {
			return false
		}
		ep = tm.epoch
		return true
	})
	return ep
}

// direct returns a client of the KV service of s, dialled by address, and
// the Sync client of the same connection.
func direct(t *testing.T, s *server) (kvClient, kvpb.SyncClient) {
	t.Helper()
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return newKVClient(conn, 10*time.Second), kvpb.NewSyncClient(conn)
}

func mustDial(t *testing.T, addr string) *grpc.ClientConn { return mustDialB(t, addr) }

func mustDialB(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// putN writes key-from..key-(to-1) through c and fails the test on an error.
func putN(t *testing.T, c kvClient, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := c.put(ctxFor(t, 20*time.Second), fmt.Sprintf("key-%d", i), fmt.Appendf(nil, "value-%d", i)); err != nil {
			t.Fatalf("put key-%d: %v", i, err)
		}
	}
}

// hasAll reports whether st holds key-0..key-(n-1) with their values.
func hasAll(st *store, n int) bool {
	for i := range n {
		v, ok, _ := st.get(fmt.Sprintf("key-%d", i))
		if !ok || string(v) != fmt.Sprintf("value-%d", i) {
			return false
		}
	}
	return true
}

// testLogger logs to standard error when MASTERSHIP_TEST_LOG is set, and
// nowhere otherwise.
func testLogger(t *testing.T, name string) *slog.Logger {
	if os.Getenv("MASTERSHIP_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test", t.Name(), "name", name)
}

// failSwitch makes a slave's Sync calls fail while it is on: its hook is a
// config.syncHook.
type failSwitch struct{ on atomic.Bool }

func (s *failSwitch) hook(string) error {
	if s.on.Load() {
		return errors.New("test: slave unreachable")
	}
	return nil
}
