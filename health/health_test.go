package health_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/seed764c596d/mastership/election"
	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/health"
	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/selector"
	mstatus "github.com/seed764c596d/mastership/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	ttl      = 2 * time.Second
	waitTime = 10 * time.Second
)

// fixed is a fixed Source for the configuration tests.
type fixed mstatus.Status

func (s fixed) Status() mstatus.Status { return mstatus.Status(s) }

func TestConfig(t *testing.T) {
	src := fixed{}
	for _, tc := range []struct {
		name  string
		err   error
		field string
	}{
		{"handler nil source", func() error { _, err := health.NewHandler(nil, health.Registered); return err }(), "source"},
		{"handler bad mode", func() error { _, err := health.NewHandler(src, health.Mode(9)); return err }(), "mode"},
		{"server nil source", func() error { _, err := health.NewServer(nil, health.Registered); return err }(), "source"},
		{"server bad mode", func() error { _, err := health.NewServer(src, health.Mode(-1)); return err }(), "mode"},
		{"zero poll", func() error {
			_, err := health.NewServer(src, health.MasterOnly, health.WithPollInterval(0))
			return err
		}(), "WithPollInterval"},
		{"empty service", func() error {
			_, err := health.NewServer(src, health.MasterOnly, health.WithService(""))
			return err
		}(), "WithService"},
		{"nil option", func() error {
			_, err := health.NewServer(src, health.MasterOnly, nil)
			return err
		}(), "Option"},
	} {
		if !errors.Is(tc.err, health.ErrInvalidConfig) || !strings.Contains(tc.err.Error(), tc.field) {
			t.Errorf("%s: error %v, want ErrInvalidConfig naming %s", tc.name, tc.err, tc.field)
		}
	}
	if _, err := health.NewServer(src, health.MasterOnly, health.WithService("a"), health.WithService("a"), health.WithPollInterval(time.Millisecond)); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

func TestHealthy(t *testing.T) {
	for _, tc := range []struct {
		st                   mstatus.Status
		registered, onMaster bool
	}{
		{mstatus.Status{Role: mstatus.Master, State: mstatus.Refresh}, true, true},
		{mstatus.Status{Role: mstatus.Slave, State: mstatus.Refresh}, true, false},
		{mstatus.Status{Role: mstatus.NoRole, State: mstatus.Init}, false, false},
		{mstatus.Status{Role: mstatus.NoRole, State: mstatus.Offline}, false, false},
	} {
		if got := health.Healthy(tc.st, health.Registered); got != tc.registered {
			t.Errorf("Healthy(%v %v, Registered) = %v", tc.st.Role, tc.st.State, got)
		}
		if got := health.Healthy(tc.st, health.MasterOnly); got != tc.onMaster {
			t.Errorf("Healthy(%v %v, MasterOnly) = %v", tc.st.Role, tc.st.State, got)
		}
		if health.Healthy(tc.st, health.Mode(5)) {
			t.Errorf("Healthy with an unknown mode is true")
		}
	}
}

// group starts an etcd and two members, a master and b slave.
func group(t *testing.T) (a, b *selector.Selector) {
	c := etcdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	join := func(id string, first events.Type) *selector.Selector {
		s, err := selector.New(ctx, c.Client(t), "/health-test", id, selector.WithTTL(ttl))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			s.Close()
			for range s.Events() {
			}
		})
		expect(t, s, first)
		return s
	}
	a = join("a", events.InitMaster)
	b = join("b", events.InitSlave)
	expect(t, a, events.SlaveAdd)
	return a, b
}

func expect(t *testing.T, s *selector.Selector, typ events.Type) {
	t.Helper()
	timer := time.NewTimer(waitTime)
	defer timer.Stop()
	select {
	case ev := <-s.Events():
		if ev.Type != typ {
			t.Fatalf("%s: event %v, want %v", s.ID(), ev, typ)
		}
	case <-timer.C:
		t.Fatalf("%s: no %v within %v", s.ID(), typ, waitTime)
	}
}

func TestHandler(t *testing.T) {
	a, b := group(t)
	servers := map[string]*httptest.Server{}
	for _, s := range []*selector.Selector{a, b} {
		for _, m := range []health.Mode{health.Registered, health.MasterOnly} {
			h, err := health.NewHandler(s, m)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h) // on 127.0.0.1
			t.Cleanup(srv.Close)
			servers[s.ID()+" "+m.String()] = srv
		}
	}
	check := func(key string, method string, wantCode int, wantBody string) {
		t.Helper()
		req, err := http.NewRequest(method, servers[key].URL+"/healthz", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := servers[key].Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != wantCode || string(body) != wantBody {
			t.Errorf("%s %s: %d %q, want %d %q", key, method, resp.StatusCode, body, wantCode, wantBody)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", key, cc)
		}
	}
	check("a registered", http.MethodGet, 200, "ok a MASTER REFRESH\n")
	check("a master-only", http.MethodGet, 200, "ok a MASTER REFRESH\n")
	check("b registered", http.MethodGet, 200, "ok b SLAVE REFRESH\n")
	check("b master-only", http.MethodGet, 503, "unavailable b SLAVE REFRESH\n")
	check("b master-only", http.MethodHead, 503, "")

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// a answers 503 as soon as Close returns, before b takes over.
	check("a registered", http.MethodGet, 503, "unavailable a NONE OFFLINE\n")
	check("a master-only", http.MethodGet, 503, "unavailable a NONE OFFLINE\n")
	expect(t, b, events.ChangeToMaster)
	check("b master-only", http.MethodGet, 200, "ok b MASTER REFRESH\n")
	check("b registered", http.MethodGet, 200, "ok b MASTER REFRESH\n")
}

// serve starts a gRPC server on 127.0.0.1 with hs as its health service,
// and returns a client of it.
func serve(t *testing.T, hs *health.Server) healthpb.HealthClient {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		hs.Shutdown()
		gs.GracefulStop() // returns only if Shutdown ended the watches
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return healthpb.NewHealthClient(conn)
}

func checkStatus(t *testing.T, c healthpb.HealthClient, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	resp, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("Check(%q): %v", service, err)
	}
	if resp.GetStatus() != want {
		t.Errorf("Check(%q) = %v, want %v", service, resp.GetStatus(), want)
	}
}

// recv returns the next status of a Watch, failing after waitTime.
func recv(t *testing.T, w grpc.ServerStreamingClient[healthpb.HealthCheckResponse]) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	got := make(chan *healthpb.HealthCheckResponse, 1)
	errc := make(chan error, 1)
	go func() {
		r, err := w.Recv()
		if err != nil {
			errc <- err
			return
		}
		got <- r
	}()
	timer := time.NewTimer(waitTime)
	defer timer.Stop()
	select {
	case r := <-got:
		return r.GetStatus()
	case err := <-errc:
		t.Fatalf("Watch: %v", err)
	case <-timer.C:
		t.Fatalf("Watch: nothing within %v", waitTime)
	}
	panic("unreachable")
}

func TestServer(t *testing.T) {
	a, b := group(t)
	const (
		serving    = healthpb.HealthCheckResponse_SERVING
		notServing = healthpb.HealthCheckResponse_NOT_SERVING
		unknown    = healthpb.HealthCheckResponse_SERVICE_UNKNOWN
	)
	newServer := func(s *selector.Selector, m health.Mode) (*health.Server, healthpb.HealthClient) {
		hs, err := health.NewServer(s, m, health.WithService("db"), health.WithPollInterval(10*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		return hs, serve(t, hs)
	}
	_, ca := newServer(a, health.Registered)
	bs, cb := newServer(b, health.MasterOnly)
	checkStatus(t, ca, "", serving)
	checkStatus(t, ca, "db", serving)
	checkStatus(t, cb, "", notServing)
	checkStatus(t, cb, "db", notServing)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cb.Check(ctx, &healthpb.HealthCheckRequest{Service: "other"}); status.Code(err) != codes.NotFound {
		t.Errorf("Check of an unknown service: %v, want NotFound", err)
	}
	list, err := cb.List(ctx, &healthpb.HealthListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st := list.GetStatuses(); len(st) != 2 || st[""].GetStatus() != notServing || st["db"].GetStatus() != notServing {
		t.Errorf("List = %v, want \"\" and db NOT_SERVING", st)
	}

	wa, err := ca.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wb, err := cb.Watch(ctx, &healthpb.HealthCheckRequest{Service: "db"})
	if err != nil {
		t.Fatal(err)
	}
	wu, err := cb.Watch(ctx, &healthpb.HealthCheckRequest{Service: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if st := recv(t, wa); st != serving {
		t.Errorf("a's first Watch status %v, want SERVING", st)
	}
	if st := recv(t, wb); st != notServing {
		t.Errorf("b's first Watch status %v, want NOT_SERVING", st)
	}
	if st := recv(t, wu); st != unknown {
		t.Errorf("an unknown service's first Watch status %v, want SERVICE_UNKNOWN", st)
	}

	// a leaves: its watch turns NOT_SERVING, and b's SERVING once b is master.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if st := recv(t, wa); st != notServing {
		t.Errorf("a's Watch after Close: %v, want NOT_SERVING", st)
	}
	checkStatus(t, ca, "", notServing)
	if st := recv(t, wb); st != serving {
		t.Errorf("b's Watch after a left: %v, want SERVING", st)
	}
	if !b.IsMaster() {
		t.Errorf("b's Watch said SERVING, but b is not master")
	}
	checkStatus(t, cb, "db", serving)

	// Shutdown: NOT_SERVING, then the watch ends.
	bs.Shutdown()
	if st := recv(t, wb); st != notServing {
		t.Errorf("b's Watch after Shutdown: %v, want NOT_SERVING", st)
	}
	if _, err := wb.Recv(); err != io.EOF {
		t.Errorf("b's Watch after Shutdown and NOT_SERVING: %v, want the end of the stream", err)
	}
	if _, err := wu.Recv(); err != io.EOF {
		t.Errorf("the unknown service's Watch after Shutdown: %v, want the end of the stream", err)
	}
	checkStatus(t, cb, "", notServing)
}

// An election candidate is a Source: a leader is healthy in both modes, a
// follower only while registered, and a candidate whose Run has returned in
// neither.
func TestElection(t *testing.T) {
	c := etcdtest.Start(t)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type cand struct {
		e    *election.Election
		stop func()
	}
	run := func(id string) cand {
		e, err := election.New(cli, "/health-election", election.WithTTL(ttl), election.WithValue(id))
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			e.Run(rctx, election.Callbacks{OnStartedLeading: func(context.Context) {}})
		}()
		once := func() { stop(); <-done }
		t.Cleanup(once)
		return cand{e, once}
	}
	code := func(src health.Source, m health.Mode) int {
		t.Helper()
		h, err := health.NewHandler(src, m)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		return rec.Code
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.NewTimer(waitTime)
		defer deadline.Stop()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for !cond() {
			select {
			case <-tick.C:
			case <-deadline.C:
				t.Fatalf("%s: not within %v", what, waitTime)
			}
		}
	}

	a := run("a")
	waitUntil("a leads", a.e.IsLeader)
	b := run("b")
	sb := health.Source(b.e)
	waitUntil("b's session", func() bool { return sb.Status().State == mstatus.Refresh })
	sa := health.Source(a.e)
	st := sa.Status()
	if st.Role != mstatus.Master || st.Epoch != a.e.Epoch() || st.UntilDeadline <= 0 {
		t.Errorf("a: %v, epoch %d (want %d), %v left; want MASTER with time left", st.Role, st.Epoch, a.e.Epoch(), st.UntilDeadline)
	}
	for _, c := range []struct {
		who  string
		src  health.Source
		mode health.Mode
		want int
	}{
		{"a", sa, health.Registered, 200},
		{"a", sa, health.MasterOnly, 200},
		{"b", sb, health.Registered, 200},
		{"b", sb, health.MasterOnly, 503},
	} {
		if got := code(c.src, c.mode); got != c.want {
			t.Errorf("%s %v: %d, want %d", c.who, c.mode, got, c.want)
		}
	}

	a.stop()
	if got := code(sa, health.Registered); got != 503 {
		t.Errorf("a after Run returned: %d, want 503", got)
	}
	waitUntil("b leads", b.e.IsLeader)
	if got := code(sb, health.MasterOnly); got != 200 {
		t.Errorf("b leading, master-only: %d, want 200", got)
	}
}
