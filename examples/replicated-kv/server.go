package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/examples/replicated-kv/kvpb"
	"github.com/seed764c596d/mastership/health"
	"github.com/seed764c596d/mastership/metrics"
	"github.com/seed764c596d/mastership/selector"
)

// server is one member of the replicated store: a gRPC server with the KV
// service (answered while master) and the Sync service (for the master),
// a selector, and the housekeeper that follows the selector's events.
type server struct {
	cfg  config
	cli  *clientv3.Client
	id   string // incarnation id: name#nonce
	addr string // advertised address
	st   *store
	log  *slog.Logger

	lis net.Listener
	gs  *grpc.Server
	hs  *health.Server
	ops *http.Server // nil without OpsListen
	// opsLis and opsAddr are where ops serves, with OpsListen.
	opsLis  net.Listener
	opsAddr string
	sel     *selector.Selector
	done    chan struct{} // closed when the housekeeper returns

	failOnce sync.Once
	failed   chan struct{} // closed by fail
	failErr  error         // why; set before failed is closed

	mu    sync.Mutex
	term  *term // the current mastership, nil while not master
	stats termStats
}

// termStats counts what the terms of a server did; for tests and logs.
type termStats struct {
	ready   int // terms that served writes
	yielded int // terms that yielded to an in-sync member
	unclean int // terms that took over with no in-sync member alive
}

// newServer listens, registers the member in etcd and starts serving. It
// returns once the member is registered; ctx bounds only that.
func newServer(ctx context.Context, cli *clientv3.Client, cfg config) (*server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var nonce [4]byte
	rand.Read(nonce[:])
	s := &server{
		cfg:  cfg,
		cli:  cli,
		id:   cfg.Name + "#" + hex.EncodeToString(nonce[:]),
		st:   newStore(),
		done: make(chan struct{}),

		failed: make(chan struct{}),
	}
	s.log = cfg.Logger.With("id", s.id)
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.lis = lis
	if cfg.OpsListen != "" {
		// Bound before the member registers, so that an address in use
		// fails the start rather than a member already in the group.
		if s.opsLis, err = net.Listen("tcp", cfg.OpsListen); err != nil {
			lis.Close()
			return nil, fmt.Errorf("--ops-listen %s: %w", cfg.OpsListen, err)
		}
		s.opsAddr = s.opsLis.Addr().String()
	}
	s.addr = cfg.Advertise
	if s.addr == "" {
		s.addr = lis.Addr().String()
	}
	s.gs = grpc.NewServer()
	kvpb.RegisterKVServer(s.gs, kvService{s: s})
	kvpb.RegisterSyncServer(s.gs, syncService{s: s})

	sel, err := selector.New(ctx, cli, membersPrefix(cfg.Prefix), s.id,
		selector.WithValue(s.addr), selector.WithTTL(cfg.TTL), selector.WithLogger(cfg.Logger))
	if err != nil {
		lis.Close()
		return nil, err
	}
	s.sel = sel
	if err := s.serveOps(); err != nil {
		sel.Close()
		lis.Close()
		if s.opsLis != nil {
			s.opsLis.Close()
		}
		return nil, err
	}
	// Serve only now that the services can use the selector: the listener
	// holds early connections until then.
	go s.gs.Serve(lis)
	go s.housekeep()
	return s, nil
}

// Close leaves the group (a slave takes over at once), stops serving and
// waits for the housekeeper.
func (s *server) Close() error {
	s.hs.Shutdown()
	err := s.sel.Close()
	<-s.done
	s.gs.Stop()
	if s.ops != nil {
		s.ops.Close()
	}
	return err
}

// serveOps registers gRPC's health service, and serves /metrics and
// /healthz on OpsListen if it is set. Both health checks are SERVING, or
// 200, on the master alone (package health's MasterOnly mode), since only
// the master answers the KV service: a gRPC client with health checking,
// or a load balancer, sends its calls there. The health service answers for
// the KV service's name and for the server as a whole (the empty name).
func (s *server) serveOps() error {
	hs, err := health.NewServer(s.sel, health.MasterOnly, health.WithService(kvpb.KV_ServiceDesc.ServiceName))
	if err != nil {
		return err
	}
	s.hs = hs
	healthpb.RegisterHealthServer(s.gs, hs)
	if s.opsLis == nil {
		return nil
	}
	h, err := health.NewHandler(s.sel, health.MasterOnly)
	if err != nil {
		return err
	}
	col, err := metrics.NewCollector(s.sel)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(col); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", h)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.ops = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.ops.Serve(s.opsLis)
	return nil
}

// housekeep follows the selector's events until they end: it starts and
// stops the master's term, and tells the term which slaves come and go.
func (s *server) housekeep() {
	defer close(s.done)
	defer s.endTerm()
	defer func() {
		// The events end on Close, or when etcd refused the member while
		// it ran (its permission taken away): that one is for good.
		if err := s.sel.Err(); err != nil {
			s.fail(fmt.Errorf("etcd refused this member, which has ended: %w", err))
		}
	}()
	for ev := range s.sel.Events() {
		s.log.Info("event", "event", ev.String(), "epoch", ev.View.Epoch())
		switch ev.Type {
		case events.InitMaster, events.ChangeToMaster:
			s.endTerm()
			s.startTerm(ev.Nodes)
		case events.SlaveAdd:
			if t := s.current(); t != nil {
				t.addSlaves(ev.Nodes)
			}
		case events.SlaveDel:
			if t := s.current(); t != nil {
				t.delSlaves(ev.Nodes)
			}
		case events.ChangeToSlave, events.Offline, events.InitSlave, events.MasterChange:
			// Writes stopped already: the term runs under MasterContext,
			// which the selector cancelled when the mastership ended.
			s.endTerm()
		}
	}
}

// fail records that the server cannot go on, because etcd refuses what
// it must do (the first err is kept), and closes Failed. Whoever runs the
// server closes it then: it is not retried.
func (s *server) fail(err error) {
	s.failOnce.Do(func() {
		s.failErr = err
		close(s.failed)
	})
}

// Failed is closed once the server cannot go on; Err says why.
func (s *server) Failed() <-chan struct{} { return s.failed }

// Err returns why the server failed, once Failed is closed; nil before.
func (s *server) Err() error {
	select {
	case <-s.failed:
		return s.failErr
	default:
		return nil
	}
}

func (s *server) current() *term {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.term
}

// startTerm starts a mastership under the selector's MasterContext, unless
// it has ended already.
func (s *server) startTerm(slaves []events.Node) {
	ctx := s.sel.MasterContext()
	epoch := s.sel.Epoch()
	if ctx.Err() != nil {
		return // the mastership is over already; its end event follows
	}
	t := newTerm(s, ctx, epoch)
	s.mu.Lock()
	s.term = t
	s.mu.Unlock()
	t.addSlaves(slaves)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.takeOver()
	}()
}

// endTerm stops the current term, if any: at once for writes, and it
// closes the clients to the slaves.
func (s *server) endTerm() {
	s.mu.Lock()
	t := s.term
	s.term = nil
	s.mu.Unlock()
	if t != nil {
		t.stop()
	}
}

func (s *server) statsNow() termStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}
