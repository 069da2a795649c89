package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/seed764c596d/mastership/examples/internal/backoff"
	"github.com/seed764c596d/mastership/health"
	"github.com/seed764c596d/mastership/metrics"
	"github.com/seed764c596d/mastership/selector"
)

// Coordinator serves the catalog API. Coordinators form a group; its master
// alone writes catalogs and finishes drops, the others redirect writes to
// it. Any coordinator answers reads, from etcd. Its methods are safe for
// concurrent use.
type Coordinator struct {
	cli  *clientv3.Client
	keys layout
	log  *slog.Logger
	sel  *selector.Selector
	srv  *http.Server
	url  string

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// StartCoordinator listens on addr (host:port; port 0 picks a free one),
// joins the coordinators' group as id, and serves until Close.
func StartCoordinator(ctx context.Context, cli *clientv3.Client, prefix, id, addr string, ttl time.Duration, log *slog.Logger) (*Coordinator, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", addr, err)
	}
	c := &Coordinator{cli: cli, keys: newLayout(prefix), log: log.With("coordinator", id),
		url: "http://" + ln.Addr().String()}
	c.sel, err = selector.New(ctx, cli, c.keys.coordinators(), id, selector.WithTTL(ttl), selector.WithoutEvents(),
		selector.WithValue(c.url), selector.WithLogger(log))
	if err != nil {
		ln.Close()
		return nil, err
	}
	ops, err := opsHandlers(c.sel)
	if err != nil {
		c.sel.Close()
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/catalogs", c.list)
	mux.HandleFunc("GET /v1/catalogs/{name}", c.get)
	mux.HandleFunc("PUT /v1/catalogs/{name}", c.put)
	mux.HandleFunc("DELETE /v1/catalogs/{name}", c.drop)
	mux.Handle("GET /healthz", ops.health)
	mux.Handle("GET /metrics", ops.metrics)
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done.Add(2)
	go func() {
		defer c.done.Done()
		if err := c.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("serve", "err", err)
		}
	}()
	go c.finishDrops(runCtx)
	return c, nil
}

// ops are a coordinator's handlers for its operators: /healthz and
// /metrics.
type ops struct{ health, metrics http.Handler }

// opsHandlers makes the operators' handlers of a coordinator. /healthz is
// healthy while the coordinator is registered, master or not (package
// health's Registered mode): every coordinator answers reads and redirects
// writes to the master, so a load balancer may send requests to any of
// them. /metrics gives the library's metrics of its member (role, epoch,
// lease, events) in Prometheus' text format, from a registry of its own.
func opsHandlers(sel *selector.Selector) (ops, error) {
	h, err := health.NewHandler(sel, health.Registered)
	if err != nil {
		return ops{}, err
	}
	col, err := metrics.NewCollector(sel)
	if err != nil {
		return ops{}, err
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(col); err != nil {
		return ops{}, err
	}
	return ops{health: h, metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}, nil
}

// URL returns the base URL the coordinator serves on.
func (c *Coordinator) URL() string { return c.url }

// IsMaster reports whether this coordinator is the master now.
func (c *Coordinator) IsMaster() bool { return c.sel.IsMaster() }

// Close stops serving and leaves the group.
func (c *Coordinator) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.srv.Shutdown(ctx)
	c.cancel()
	err := c.sel.Close()
	c.done.Wait()
	return err
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
	// Master and URL name the master coordinator when this one is not.
	Master string `json:"master,omitempty"`
	URL    string `json:"url,omitempty"`
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	// Readers are programs and operators, not browsers: "<redacted>" is
	// shown as written rather than as \u003credacted\u003e.
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// notMaster answers a write sent to a coordinator that is not the master:
// a 307 redirect to the master, which keeps the method and body, or 503
// when there is no master now. It reports whether it answered.
func (c *Coordinator) notMaster(w http.ResponseWriter, r *http.Request) bool {
	if c.sel.IsMaster() {
		return false
	}
	m := c.sel.View().Master()
	if m.ID == "" || m.ID == c.sel.ID() {
		reply(w, http.StatusServiceUnavailable, apiError{Error: "no master coordinator now; retry"})
		return true
	}
	w.Header().Set("Location", m.Value+r.URL.RequestURI())
	reply(w, http.StatusTemporaryRedirect, apiError{Error: "not the master coordinator", Master: m.ID, URL: m.Value})
	return true
}

// state reads catalogs and workers at one revision.
func (c *Coordinator) state(ctx context.Context) ([]Catalog, map[string]int64, error) {
	resp, err := c.cli.Get(ctx, c.keys.root(), clientv3.WithPrefix())
	if err != nil {
		return nil, nil, err
	}
	var cats []Catalog
	applied := map[string]int64{}
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		switch {
		case strings.HasPrefix(k, c.keys.catalogs()):
			cat, err := decodeCatalog(k[len(c.keys.catalogs()):], kv.Value, kv.ModRevision)
			if err != nil {
				c.log.Error("catalog unreadable; skipped", "err", err)
				continue
			}
			cats = append(cats, cat)
		case strings.HasPrefix(k, c.keys.workers()):
			var rec workerRecord
			if err := json.Unmarshal(kv.Value, &rec); err != nil {
				c.log.Warn("worker record unreadable; counted as lagging", "key", k, "err", err)
			}
			applied[k[len(c.keys.workers()):]] = rec.Applied
		}
	}
	return cats, applied, nil
}

func (c *Coordinator) list(w http.ResponseWriter, r *http.Request) {
	cats, applied, err := c.state(r.Context())
	if err != nil {
		reply(w, http.StatusServiceUnavailable, apiError{Error: "read etcd: " + err.Error()})
		return
	}
	reply(w, http.StatusOK, statusOf(cats, applied))
}

func (c *Coordinator) get(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	cats, applied, err := c.state(r.Context())
	if err != nil {
		reply(w, http.StatusServiceUnavailable, apiError{Error: "read etcd: " + err.Error()})
		return
	}
	for _, s := range statusOf(cats, applied) {
		if s.Name == name {
			reply(w, http.StatusOK, s)
			return
		}
	}
	reply(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("catalog %q: not found", name)})
}

// putRequest is the body of PUT /v1/catalogs/{name}.
type putRequest struct {
	Connector  string     `json:"connector"`
	Properties Properties `json:"properties"`
}

// written is the answer to a write.
type written struct {
	Name     string `json:"name"`
	Revision int64  `json:"revision"`
	State    string `json:"state"`
}

func (c *Coordinator) put(w http.ResponseWriter, r *http.Request) {
	if c.notMaster(w, r) {
		return
	}
	var req putRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		reply(w, http.StatusBadRequest, apiError{Error: "body: " + jsonErr(err).Error()})
		return
	}
	cat := Catalog{Name: r.PathValue("name"), Connector: req.Connector, Properties: req.Properties}
	if err := cat.validate(); err != nil {
		reply(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	key := c.keys.catalog(cat.Name)
	guard, err := c.sel.Guard()
	if err != nil {
		c.notMaster(w, r)
		return
	}
	get, err := c.cli.Get(r.Context(), key)
	if err != nil {
		reply(w, http.StatusServiceUnavailable, apiError{Error: "read etcd: " + err.Error()})
		return
	}
	// The write holds only if the catalog is as read: absent, or unchanged
	// since. A catalog being dropped cannot be updated: the drop finishes
	// first, then the name can be created again.
	unchanged := clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	if len(get.Kvs) > 0 {
		kv := get.Kvs[0]
		if old, err := decodeCatalog(cat.Name, kv.Value, kv.ModRevision); err == nil && old.Dropping {
			reply(w, http.StatusConflict, apiError{Error: fmt.Sprintf("catalog %q is being dropped; create it again once the drop is done", cat.Name)})
			return
		}
		unchanged = clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)
	}
	resp, err := c.cli.Txn(r.Context()).If(guard, unchanged).Then(clientv3.OpPut(key, cat.encode())).Commit()
	if err != nil {
		reply(w, http.StatusServiceUnavailable, apiError{Error: "write etcd: " + err.Error()})
		return
	}
	if !resp.Succeeded {
		if !c.notMaster(w, r) {
			reply(w, http.StatusConflict, apiError{Error: fmt.Sprintf("catalog %q changed meanwhile; retry", cat.Name)})
		}
		return
	}
	c.log.Info("catalog written", "catalog", Catalog{Name: cat.Name, Connector: cat.Connector, Properties: cat.Properties, Revision: resp.Header.Revision})
	reply(w, http.StatusOK, written{Name: cat.Name, Revision: resp.Header.Revision, State: StatePending})
}

// drop is the first phase of a drop: the catalog is marked dropping, so
// workers stop new use. finishDrops does the second.
func (c *Coordinator) drop(w http.ResponseWriter, r *http.Request) {
	if c.notMaster(w, r) {
		return
	}
	name := r.PathValue("name")
	key := c.keys.catalog(name)
	guard, err := c.sel.Guard()
	if err != nil {
		c.notMaster(w, r)
		return
	}
	get, err := c.cli.Get(r.Context(), key)
	if err != nil {
		reply(w, http.StatusServiceUnavailable, apiError{Error: "read etcd: " + err.Error()})
		return
	}
	if len(get.Kvs) == 0 {
		reply(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("catalog %q: not found", name)})
		return
	}
	kv := get.Kvs[0]
	cat, err := decodeCatalog(name, kv.Value, kv.ModRevision)
	if err != nil {
		reply(w, http.StatusInternalServerError, apiError{Error: err.Error()})
		return
	}
	if cat.Dropping {
		reply(w, http.StatusAccepted, written{Name: name, Revision: kv.ModRevision, State: StateDropping})
		return
	}
	cat.Dropping = true
	resp, err := c.cli.Txn(r.Context()).
		If(guard, clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
		Then(clientv3.OpPut(key, cat.encode())).
		Commit()
	if err != nil {
		reply(w, http.StatusServiceUnavailable, apiError{Error: "write etcd: " + err.Error()})
		return
	}
	if !resp.Succeeded {
		if !c.notMaster(w, r) {
			reply(w, http.StatusConflict, apiError{Error: fmt.Sprintf("catalog %q changed meanwhile; retry", name)})
		}
		return
	}
	c.log.Info("catalog dropping (phase 1)", "name", name, "revision", resp.Header.Revision)
	reply(w, http.StatusAccepted, written{Name: name, Revision: resp.Header.Revision, State: StateDropping})
}

// finishDrops, on the master, deletes each dropping catalog once every live
// worker has stopped it: the second phase, on which workers release it. It
// looks after every change under the prefix, and every second in case a
// watch was lost.
func (c *Coordinator) finishDrops(ctx context.Context) {
	defer c.done.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := c.cli.Watch(wctx, c.keys.root(), clientv3.WithPrefix())
	watching:
		for {
			select {
			case <-ctx.Done():
				break watching
			case <-tick.C:
			case wr, open := <-wch:
				if !open || wr.Err() != nil {
					break watching
				}
			}
			if c.sel.IsMaster() {
				c.release(c.sel.MasterContext())
			}
		}
		cancel()
		// A watch that fails at once (no etcd leader) is not retried in a
		// tight loop.
		backoff.Sleep(ctx, 100*time.Millisecond)
	}
}

func (c *Coordinator) release(ctx context.Context) {
	guard, err := c.sel.Guard()
	if err != nil {
		return
	}
	cats, applied, err := c.state(ctx)
	if err != nil {
		return
	}
	for _, s := range statusOf(cats, applied) {
		if s.State != StateDropping || len(s.Lagging) > 0 {
			continue
		}
		key := c.keys.catalog(s.Name)
		resp, err := c.cli.Txn(ctx).
			If(guard, clientv3.Compare(clientv3.ModRevision(key), "=", s.Revision)).
			Then(clientv3.OpDelete(key)).
			Commit()
		if err == nil && resp.Succeeded {
			c.log.Info("catalog dropped (phase 2): workers release it", "name", s.Name, "revision", resp.Header.Revision)
		}
	}
}
