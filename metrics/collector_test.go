package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/metrics"
	"github.com/seed764c596d/mastership/selector"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const ttl = 2 * time.Second

func TestNewCollectorNil(t *testing.T) {
	if _, err := metrics.NewCollector(nil); !errors.Is(err, metrics.ErrNilSource) {
		t.Fatalf("NewCollector(nil) = %v, want ErrNilSource", err)
	}
}

// The core packages must not pull in the Prometheus client: only programs
// that import metrics pay for it.
func TestCoreDoesNotImportPrometheus(t *testing.T) {
	const mod = "github.com/seed764c596d/mastership/"
	cmd := exec.Command("go", "list", "-deps", mod+"events", mod+"selector", mod+"election", mod+"health")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %v", deps)
	}
	for _, d := range deps {
		if strings.Contains(d, "prometheus") {
			t.Errorf("a core package depends on %s", d)
		}
	}
}

func join(t *testing.T, ctx context.Context, c *etcdtest.Cluster, prefix, id string) *selector.Selector {
	t.Helper()
	s, err := selector.New(ctx, c.Client(t), prefix, id, selector.WithTTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		for range s.Events() {
		}
	})
	return s
}

func expect(t *testing.T, s *selector.Selector, typ events.Type) events.Event {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case ev := <-s.Events():
		if ev.Type != typ {
			t.Fatalf("%s: event %v, want %v", s.ID(), ev, typ)
		}
		return ev
	case <-timer.C:
		t.Fatalf("%s: no %v within 10s", s.ID(), typ)
	}
	panic("unreachable")
}

// exposition returns the expected text of the metrics that do not depend
// on timing.
func exposition(prefix, id, role, state string, epoch int64, members int, transitions map[events.Type]int) string {
	var b strings.Builder
	l := fmt.Sprintf(`id=%q,prefix=%q`, id, prefix)
	fmt.Fprintf(&b, "# HELP mastership_epoch Epoch of the current master in the member's view (its key's CreateRevision); 0 while not registered.\n# TYPE mastership_epoch gauge\nmastership_epoch{%s} %d\n", l, epoch)
	fmt.Fprintf(&b, "# HELP mastership_lease_ttl_seconds Lease TTL etcd granted to the current or last registration or session.\n# TYPE mastership_lease_ttl_seconds gauge\nmastership_lease_ttl_seconds{%s} %g\n", l, ttl.Seconds())
	fmt.Fprintf(&b, "# HELP mastership_members Members in the member's view, itself included; 0 while not registered.\n# TYPE mastership_members gauge\nmastership_members{%s} %d\n", l, members)
	fmt.Fprintf(&b, "# HELP mastership_resyncs_total Times the member read its group afresh after its watch failed.\n# TYPE mastership_resyncs_total counter\nmastership_resyncs_total{%s} 0\n", l)
	b.WriteString("# HELP mastership_role 1 for the member's current role (MASTER, SLAVE or NONE), 0 for the others.\n# TYPE mastership_role gauge\n")
	for _, r := range []string{"MASTER", "NONE", "SLAVE"} {
		fmt.Fprintf(&b, "mastership_role{%s,role=%q} %d\n", l, r, map[bool]int{true: 1}[r == role])
	}
	b.WriteString("# HELP mastership_state 1 for the member's registration state (INIT, REFRESH or OFFLINE), 0 for the others.\n# TYPE mastership_state gauge\n")
	for _, s := range []string{"INIT", "OFFLINE", "REFRESH"} {
		fmt.Fprintf(&b, "mastership_state{%s,state=%q} %d\n", l, s, map[bool]int{true: 1}[s == state])
	}
	b.WriteString("# HELP mastership_transitions_total Events the member emitted, by type.\n# TYPE mastership_transitions_total counter\n")
	for _, typ := range []events.Type{events.ChangeToMaster, events.ChangeToSlave, events.InitMaster, events.InitSlave, events.MasterChange, events.Offline, events.SlaveAdd, events.SlaveDel, events.ValueChange} {
		fmt.Fprintf(&b, "mastership_transitions_total{%s,type=%q} %d\n", l, typ.String(), transitions[typ])
	}
	return b.String()
}

var exact = []string{"mastership_epoch", "mastership_lease_ttl_seconds", "mastership_members", "mastership_resyncs_total", "mastership_role", "mastership_state", "mastership_transitions_total"}

// gauge returns the value of the named gauge or counter of member id.
func gauge(t *testing.T, reg *prometheus.Registry, name, id string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelOf(m, "id") == id {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s for %s", name, id)
	return 0
}

func labelOf(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// Two members' collectors in one registry follow the members through a
// failover, against a real etcd.
func TestCollector(t *testing.T) {
	c := etcdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const prefix = "/metrics-test"

	a := join(t, ctx, c, prefix, "a")
	ev := expect(t, a, events.InitMaster)
	b := join(t, ctx, c, prefix, "b")
	expect(t, b, events.InitSlave)
	expect(t, a, events.SlaveAdd)
	epoch := ev.View.Epoch()

	reg := prometheus.NewPedanticRegistry()
	for _, s := range []*selector.Selector{a, b} {
		col, err := metrics.NewCollector(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.Register(col); err != nil {
			t.Fatalf("register the collector of %s: %v", s.ID(), err)
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	want := exposition(prefix+"/", "a", "MASTER", "REFRESH", epoch, 2, map[events.Type]int{events.InitMaster: 1, events.SlaveAdd: 1}) +
		exposition(prefix+"/", "b", "SLAVE", "REFRESH", epoch, 2, map[events.Type]int{events.InitSlave: 1})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(merge(want)), exact...); err != nil {
		t.Error(err)
	}
	for _, id := range []string{"a", "b"} {
		if v := gauge(t, reg, "mastership_safe_deadline_remaining_seconds", id); v <= 0 || v > ttl.Seconds() {
			t.Errorf("%s: safe deadline remaining %gs, want in (0, %v]", id, v, ttl)
		}
		if v := gauge(t, reg, "mastership_keepalive_age_seconds", id); v < 0 || v > ttl.Seconds() {
			t.Errorf("%s: keep-alive age %gs, want in [0, %v]", id, v, ttl)
		}
		if v := gauge(t, reg, "mastership_keepalive_rtt_seconds", id); v <= 0 || v > ttl.Seconds() {
			t.Errorf("%s: keep-alive rtt %gs, want in (0, %v]", id, v, ttl)
		}
	}

	// a leaves: b takes over.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	expect(t, a, events.Offline)
	ev = expect(t, b, events.ChangeToMaster)
	want = exposition(prefix+"/", "a", "NONE", "OFFLINE", 0, 0, map[events.Type]int{events.InitMaster: 1, events.SlaveAdd: 1, events.Offline: 1}) +
		exposition(prefix+"/", "b", "MASTER", "REFRESH", ev.View.Epoch(), 1, map[events.Type]int{events.InitSlave: 1, events.ChangeToMaster: 1})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(merge(want)), exact...); err != nil {
		t.Error(err)
	}
	if v := gauge(t, reg, "mastership_safe_deadline_remaining_seconds", "a"); v != 0 {
		t.Errorf("a: safe deadline remaining %gs after Close, want 0", v)
	}
	// a's last keep-alive ages while it is offline.
	age := gauge(t, reg, "mastership_keepalive_age_seconds", "a")
	deadline := time.Now().Add(10 * time.Second)
	for gauge(t, reg, "mastership_keepalive_age_seconds", "a") <= age {
		if time.Now().After(deadline) {
			t.Fatalf("a's keep-alive age stays at %gs", age)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// merge groups the lines of the two members' expositions by metric, as
// the text format requires: one HELP and TYPE per metric, then its samples.
func merge(text string) string {
	type family struct {
		head    []string
		samples []string
	}
	var order []string
	fams := map[string]*family{}
	var cur *family
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "# HELP ") {
			name := strings.Fields(line)[2]
			if fams[name] == nil {
				fams[name] = &family{}
				order = append(order, name)
				cur = fams[name]
				cur.head = append(cur.head, line)
				continue
			}
			cur = fams[name]
			continue
		}
		if strings.HasPrefix(line, "# TYPE ") {
			if len(cur.head) == 1 {
				cur.head = append(cur.head, line)
			}
			continue
		}
		cur.samples = append(cur.samples, line)
	}
	var b strings.Builder
	for _, name := range order {
		f := fams[name]
		b.WriteString(strings.Join(f.head, ""))
		b.WriteString(strings.Join(f.samples, ""))
	}
	return b.String()
}

// BenchmarkGather measures one scrape of one member's metrics.
func BenchmarkGather(b *testing.B) {
	c, err := etcdtest.New("", 1)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cli, err := etcdtest.NewClient(c.Endpoints()...)
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := selector.New(ctx, cli, "/bench", "a", selector.WithTTL(ttl))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		s.Close()
		for range s.Events() {
		}
	}()
	col, err := metrics.NewCollector(s)
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
