package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/examples/replicated-kv/kvpb"
	"github.com/seed764c596d/mastership/selector"
)

var (
	// errDeposed: this member is no longer master (its Guard failed, or a
	// newer epoch was seen).
	errDeposed = errors.New("replicated-kv: deposed")
	// errInvalidConfig: a field of config is invalid; the wrapping error
	// names it.
	errInvalidConfig = errors.New("replicated-kv: invalid config")
)

// Defaults of config.
const (
	defaultTTL                = 5 * time.Second
	defaultReplicationTimeout = time.Second
)

// config is one server's configuration.
type config struct {
	// Prefix is the group's prefix in etcd. Required.
	Prefix string
	// Name is this server's name, without "/" or "#". Required. Its member id
	// is Name#nonce, a new nonce for every process (an incarnation), since
	// its data lives in memory and dies with it.
	Name string
	// Listen is the address the gRPC server listens on. Default
	// 127.0.0.1:0, a free loopback port.
	Listen string
	// Advertise is the address the others dial, the member's value in etcd.
	// Default: the address listened on.
	Advertise string
	// TTL of the member's lease, whole seconds. Default 5s.
	TTL time.Duration
	// ReplicationTimeout bounds each Sync call to a slave; a slave that
	// does not answer in time leaves the in-sync set. Default 1s.
	ReplicationTimeout time.Duration
	// UncleanWait is how long a new master that is not in the in-sync set
	// waits for an in-sync member to appear before it takes over anyway,
	// losing what only the lost in-sync members held. Default 2×TTL.
	UncleanWait time.Duration
	// Logger; default none.
	Logger *slog.Logger

	// syncHook, when set, runs before every Sync call this server receives;
	// an error fails the call. For tests.
	syncHook func(method string) error
}

func (c *config) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", errInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Prefix == "" || c.Prefix == "/":
		return bad("prefix", "required")
	case c.Name == "":
		return bad("name", "required")
	case strings.ContainsAny(c.Name, "/#"):
		return bad("name", "%q contains \"/\" or \"#\"", c.Name)
	case c.TTL < 0 || c.TTL%time.Second != 0:
		return bad("ttl", "%v: want whole seconds, at least 1s", c.TTL)
	case c.ReplicationTimeout < 0:
		return bad("replication-timeout", "%v: want more than 0", c.ReplicationTimeout)
	case c.UncleanWait < 0:
		return bad("unclean-wait", "%v: want 0 or more", c.UncleanWait)
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.TTL == 0 {
		c.TTL = defaultTTL
	}
	if c.ReplicationTimeout == 0 {
		c.ReplicationTimeout = defaultReplicationTimeout
	}
	if c.UncleanWait == 0 {
		c.UncleanWait = 2 * c.TTL
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

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

	lis  net.Listener
	gs   *grpc.Server
	sel  *selector.Selector
	done chan struct{} // closed when the housekeeper returns

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
	}
	s.log = cfg.Logger.With("id", s.id)
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	s.lis = lis
	s.addr = cfg.Advertise
	if s.addr == "" {
		s.addr = lis.Addr().String()
	}
	s.gs = grpc.NewServer()
	kvpb.RegisterKVServer(s.gs, kvService{s: s})
	kvpb.RegisterSyncServer(s.gs, syncService{s: s})

	sel, err := selector.New(ctx, cli, cfg.Prefix, s.id,
		selector.WithValue(s.addr), selector.WithTTL(cfg.TTL), selector.WithLogger(cfg.Logger))
	if err != nil {
		lis.Close()
		return nil, err
	}
	s.sel = sel
	// Serve only now that the services can use the selector: the listener
	// holds early connections until then.
	go s.gs.Serve(lis)
	go s.housekeep()
	return s, nil
}

// Close leaves the group (a slave takes over at once), stops serving and
// waits for the housekeeper.
func (s *server) Close() error {
	err := s.sel.Close()
	<-s.done
	s.gs.Stop()
	return err
}

// housekeep follows the selector's events until they end: it starts and
// stops the master's term, and tells the term which slaves come and go.
func (s *server) housekeep() {
	defer close(s.done)
	defer s.endTerm()
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

// kvService answers clients: on the master while its term serves, and with
// UNAVAILABLE everywhere else, so that clients look for the master again.
type kvService struct {
	kvpb.UnimplementedKVServer
	s *server
}

func notMaster(id string) error {
	return status.Errorf(codes.Unavailable, "replicated-kv: %s is not master", id)
}

func (k kvService) serving() (*term, error) {
	t := k.s.current()
	if t == nil {
		return nil, notMaster(k.s.id)
	}
	if err := t.serving(); err != nil {
		return nil, err
	}
	return t, nil
}

func (k kvService) Put(ctx context.Context, req *kvpb.PutRequest) (*kvpb.PutResponse, error) {
	if req.GetKey() == "" {
		return nil, status.Error(codes.InvalidArgument, "replicated-kv: key: empty")
	}
	t, err := k.serving()
	if err != nil {
		return nil, err
	}
	idx, err := t.write(ctx, &kvpb.Op{Kind: kvpb.Op_PUT, Key: req.GetKey(), Value: req.GetValue()})
	if err != nil {
		return nil, err
	}
	return &kvpb.PutResponse{Index: idx, Epoch: t.epoch}, nil
}

func (k kvService) Delete(ctx context.Context, req *kvpb.DeleteRequest) (*kvpb.DeleteResponse, error) {
	if req.GetKey() == "" {
		return nil, status.Error(codes.InvalidArgument, "replicated-kv: key: empty")
	}
	t, err := k.serving()
	if err != nil {
		return nil, err
	}
	_, found, _ := k.s.st.get(req.GetKey())
	idx, err := t.write(ctx, &kvpb.Op{Kind: kvpb.Op_DELETE, Key: req.GetKey()})
	if err != nil {
		return nil, err
	}
	return &kvpb.DeleteResponse{Index: idx, Epoch: t.epoch, Found: found}, nil
}

func (k kvService) Get(ctx context.Context, req *kvpb.GetRequest) (*kvpb.GetResponse, error) {
	t, err := k.serving()
	if err != nil {
		return nil, err
	}
	v, ok, idx := k.s.st.get(req.GetKey())
	// The read is a master's read only if the term still serves after it.
	if err := t.serving(); err != nil {
		return nil, err
	}
	return &kvpb.GetResponse{Found: ok, Value: v, Index: idx, Epoch: t.epoch}, nil
}

// syncService is what the master calls on this member when it is a slave.
// Every call is fenced by epoch: older than the newest this member has
// seen, from a Sync call or from its own view of the group, is rejected.
type syncService struct {
	kvpb.UnimplementedSyncServer
	s *server
}

func (y syncService) check(method string, epoch int64) error {
	if h := y.s.cfg.syncHook; h != nil {
		if err := h(method); err != nil {
			return status.Error(codes.Unavailable, err.Error())
		}
	}
	if epoch <= 0 {
		return status.Error(codes.InvalidArgument, "replicated-kv: epoch: want more than 0")
	}
	return nil
}

func syncError(err error) error {
	if errors.Is(err, errStaleEpoch) || errors.Is(err, errOutOfOrder) {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func (y syncService) Snapshot(ctx context.Context, req *kvpb.SnapshotRequest) (*kvpb.SyncResponse, error) {
	if err := y.check("Snapshot", req.GetEpoch()); err != nil {
		return nil, err
	}
	if err := y.s.checkMaster(ctx, req.GetMaster(), req.GetEpoch()); err != nil {
		y.s.log.Warn("snapshot rejected", "from", req.GetMaster(), "err", err)
		return nil, err
	}
	if err := y.s.st.restore(req.GetEpoch(), y.s.sel.Epoch(), req.GetIndex(), req.GetEntries()); err != nil {
		y.s.log.Warn("snapshot rejected", "from", req.GetMaster(), "err", err)
		return nil, syncError(err)
	}
	y.s.log.Info("snapshot applied", "from", req.GetMaster(), "epoch", req.GetEpoch(), "index", req.GetIndex(), "keys", len(req.GetEntries()))
	return &kvpb.SyncResponse{Index: req.GetIndex()}, nil
}

// checkMaster returns nil if the member master holds, in etcd, the key
// created at revision epoch: then it is the group's master now, since no
// key created later can come before it. A snapshot replaces all of a
// slave's data, so the slave checks where it comes from: a deposed master,
// or any other caller with a made-up epoch, is refused. Writes need no such
// check: a slave applies them only in the epoch of its last snapshot.
func (s *server) checkMaster(ctx context.Context, master string, epoch int64) error {
	key := strings.TrimSuffix(s.cfg.Prefix, "/") + "/" + master
	ctx, cancel := context.WithTimeout(ctx, etcdTimeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return status.Errorf(codes.Unavailable, "replicated-kv: check master %s: %v", master, err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != epoch {
		return status.Errorf(codes.FailedPrecondition, "%v: %s is not the master of epoch %d", errStaleEpoch, master, epoch)
	}
	return nil
}

func (y syncService) Apply(ctx context.Context, req *kvpb.ApplyRequest) (*kvpb.SyncResponse, error) {
	if err := y.check("Apply", req.GetEpoch()); err != nil {
		return nil, err
	}
	if err := y.s.st.apply(req.GetEpoch(), y.s.sel.Epoch(), req.GetIndex(), req.GetOp()); err != nil {
		y.s.log.Warn("write rejected", "from", req.GetMaster(), "err", err)
		return nil, syncError(err)
	}
	return &kvpb.SyncResponse{Index: req.GetIndex()}, nil
}

func (y syncService) Status(ctx context.Context, _ *kvpb.StatusRequest) (*kvpb.StatusResponse, error) {
	if h := y.s.cfg.syncHook; h != nil {
		if err := h("Status"); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
	}
	return y.s.st.status(), nil
}
