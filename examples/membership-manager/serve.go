package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/seed764c596d/mastership/health"
	"github.com/seed764c596d/mastership/metrics"
	"github.com/seed764c596d/mastership/selector"
)

// checkListen checks --listen without binding it: host:port, the port a
// number (0 for a free one).
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		var p int
		p, err = strconv.Atoi(port)
		if err == nil && (p < 0 || p > 65535) {
			err = errors.New("port out of range")
		}
	}
	if err != nil {
		return fmt.Errorf("--listen %q: want host:port, such as 127.0.0.1:9187 (port 0: a free one)", addr)
	}
	return nil
}

// managerMetrics are the manager's own metrics, beside package metrics' for
// its membership of the managers' group.
type managerMetrics struct {
	reconciles *prometheus.CounterVec // by result: success, failure
	changes    *prometheus.CounterVec // by action: add, remove
	workers    prometheus.Gauge
	nodes      prometheus.Gauge
	holding    prometheus.Gauge
}

func newManagerMetrics(id string) *managerMetrics {
	labels := prometheus.Labels{"id": id}
	return &managerMetrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "membership_manager_reconciles_total", ConstLabels: labels,
			Help: "Reconciliations this manager ran as master, by result (success, failure).",
		}, []string{"result"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "membership_manager_node_changes_total", ConstLabels: labels,
			Help: "Nodes this manager added to or removed from the target, by action (add, remove).",
		}, []string{"action"}),
		workers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "membership_manager_workers", ConstLabels: labels,
			Help: "Live workers at this manager's last reconciliation as master.",
		}),
		nodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "membership_manager_target_nodes", ConstLabels: labels,
			Help: "Nodes the target listed at this manager's last reconciliation as master.",
		}),
		holding: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "membership_manager_nodes_holding_data", ConstLabels: labels,
			Help: "Nodes without a worker that the target refused to remove at the last reconciliation because they still hold data.",
		}),
	}
}

// readiness is the manager's /manager-ready: ready only while it is the
// master and its last reconciliation succeeded.
type readiness struct {
	s  *selector.Selector
	ok *atomic.Bool // the last reconciliation of this mastership succeeded
}

func (r readiness) ready() bool {
	return health.Healthy(r.s.Status(), health.MasterOnly) && r.ok.Load()
}

func (r readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case r.ready():
		fmt.Fprintf(w, "ready %s: master, last reconciliation succeeded\n", r.s.ID())
	case !health.Healthy(r.s.Status(), health.MasterOnly):
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready %s: not the master\n", r.s.ID())
	default:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready %s: master, but its last reconciliation failed or has not ended\n", r.s.ID())
	}
}

// serve serves /healthz, /manager-ready and /metrics on ln until ctx ends,
// then shuts the server down.
func (m *manager) serve(ctx context.Context, ln net.Listener, s *selector.Selector) error {
	hh, err := health.NewHandler(s, health.Registered)
	if err != nil {
		return err
	}
	col, err := metrics.NewCollector(s)
	if err != nil {
		return err
	}
	rd := readiness{s: s, ok: &m.ok}
	reg := prometheus.NewRegistry()
	reg.MustRegister(col, m.metrics.reconciles, m.metrics.changes, m.metrics.workers, m.metrics.nodes, m.metrics.holding,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "membership_manager_ready", ConstLabels: prometheus.Labels{"id": m.cfg.id},
			Help: "1 while /manager-ready answers 200: master, and its last reconciliation succeeded.",
		}, func() float64 {
			if rd.ready() {
				return 1
			}
			return 0
		}))
	mux := http.NewServeMux()
	mux.Handle("/healthz", hh)
	mux.Handle("/manager-ready", rd)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	m.log.Info("serving /healthz, /manager-ready and /metrics", "addr", ln.Addr().String())
	select {
	case <-ctx.Done():
	case err := <-done:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
