package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seed764c596d/mastership/election"
	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/metrics"
)

func TestNewElectionCollectorConfig(t *testing.T) {
	if _, err := metrics.NewElectionCollector(nil, "a"); !errors.Is(err, metrics.ErrNilSource) {
		t.Errorf("NewElectionCollector(nil) = %v, want ErrNilSource", err)
	}
	c := etcdtest.Start(t)
	e, err := election.New(c.Client(t), "/x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.NewElectionCollector(e, ""); !errors.Is(err, metrics.ErrEmptyID) {
		t.Errorf("NewElectionCollector with no id = %v, want ErrEmptyID", err)
	}
	// A candidate has no id of its own to label it with.
	if _, err := metrics.NewCollector(e); !errors.Is(err, metrics.ErrEmptyID) {
		t.Errorf("NewCollector of a candidate = %v, want ErrEmptyID", err)
	}
}

// waitUntil polls cond every 10ms, failing after 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func electionText(prefix, id string, epoch, observed int64, terms int) string {
	l := fmt.Sprintf(`id=%q,prefix=%q`, id, prefix)
	return fmt.Sprintf(`# HELP mastership_epoch Epoch of the current master in the member's view (its key's CreateRevision); 0 while not registered.
# TYPE mastership_epoch gauge
mastership_epoch{%[1]s} %[2]d
# HELP mastership_election_observed_epoch Epoch of the leader the candidate last saw; 0 for no leader.
# TYPE mastership_election_observed_epoch gauge
mastership_election_observed_epoch{%[1]s} %[3]d
# HELP mastership_election_sessions_total Sessions, each with a lease of its own, that the candidate's Run started.
# TYPE mastership_election_sessions_total counter
mastership_election_sessions_total{%[1]s} 1
# HELP mastership_election_terms_total Leaderships the candidate began.
# TYPE mastership_election_terms_total counter
mastership_election_terms_total{%[1]s} %[4]d
`, l, epoch, observed, terms)
}

// roleOf returns the role whose mastership_role series is 1 for id.
func roleOf(t *testing.T, reg *prometheus.Registry, id string) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	role := ""
	for _, mf := range mfs {
		if mf.GetName() != "mastership_role" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelOf(m, "id") == id && m.GetGauge().GetValue() == 1 {
				if role != "" {
					t.Errorf("%s has two roles, %s and %s", id, role, labelOf(m, "role"))
				}
				role = labelOf(m, "role")
			}
		}
	}
	return role
}

// Two candidates' collectors, and a member's, in one registry follow a
// hand-over, against a real etcd.
func TestElectionCollector(t *testing.T) {
	c := etcdtest.Start(t)
	cli := c.Client(t)
	const prefix = "/metrics-election"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	reg := prometheus.NewPedanticRegistry()
	type cand struct {
		e    *election.Election
		stop context.CancelFunc
		done chan struct{}
	}
	run := func(id string) cand {
		e, err := election.New(cli, prefix, election.WithTTL(ttl), election.WithValue(id))
		if err != nil {
			t.Fatal(err)
		}
		col, err := metrics.NewElectionCollector(e, id)
		if err != nil {
			t.Fatal(err)
		}
		reg.MustRegister(col)
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			e.Run(rctx, election.Callbacks{OnStartedLeading: func(context.Context) {}})
		}()
		cd := cand{e, stop, done}
		t.Cleanup(func() { stop(); <-done })
		return cd
	}
	a := run("a")
	waitUntil(t, "a leads", a.e.IsLeader)
	// Leading and observing are told apart: a's observer may report a as
	// leader a moment after a has begun to lead.
	waitUntil(t, "a observes itself", func() bool { return a.e.Observed().Epoch == a.e.Epoch() })
	b := run("b")
	waitUntil(t, "b sees a", func() bool { return b.e.Observed().Value == "a" && b.e.Stats().Sessions == 1 })

	// A member's collector registers beside them: the lease metrics they
	// share have one help text.
	m := join(t, ctx, c, "/metrics-member", "m")
	expect(t, m, events.InitMaster)
	mc, err := metrics.NewCollector(m)
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(mc)
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}

	names := []string{"mastership_epoch", "mastership_election_observed_epoch", "mastership_election_sessions_total", "mastership_election_terms_total"}
	ea := a.e.Epoch()
	// A follower's epoch is the leader's it sees, as a slave's is the
	// master's; m is the member, with the counters of its own.
	want := electionText(prefix+"/", "a", ea, ea, 1) + electionText(prefix+"/", "b", ea, ea, 0) +
		fmt.Sprintf("# HELP mastership_epoch x\n# TYPE mastership_epoch gauge\nmastership_epoch{id=\"m\",prefix=\"/metrics-member/\"} %d\n", m.Epoch())
	if err := testutil.GatherAndCompare(reg, strings.NewReader(merge(want)), names...); err != nil {
		t.Error(err)
	}
	for id, want := range map[string]string{"a": "MASTER", "b": "SLAVE", "m": "MASTER"} {
		if got := roleOf(t, reg, id); got != want {
			t.Errorf("%s: role %q, want %q", id, got, want)
		}
	}
	for _, id := range []string{"a", "b", "m"} {
		if v := gauge(t, reg, "mastership_safe_deadline_remaining_seconds", id); v <= 0 || v > ttl.Seconds() {
			t.Errorf("%s: safe deadline remaining %gs, want in (0, %v]", id, v, ttl)
		}
		if v := gauge(t, reg, "mastership_keepalive_rtt_seconds", id); v <= 0 || v > ttl.Seconds() {
			t.Errorf("%s: keep-alive rtt %gs, want in (0, %v]", id, v, ttl)
		}
	}

	// a stops: b takes over.
	a.stop()
	<-a.done
	waitUntil(t, "b leads", b.e.IsLeader)
	eb := b.e.Epoch()
	waitUntil(t, "b observes itself", func() bool { return b.e.Observed().Epoch == eb })
	// a's observed leader is whatever its Run saw last before it returned.
	for _, c := range []struct {
		name, id string
		want     float64
	}{
		{"mastership_epoch", "a", 0},
		{"mastership_election_terms_total", "a", 1},
		{"mastership_epoch", "b", float64(eb)},
		{"mastership_election_observed_epoch", "b", float64(eb)},
		{"mastership_election_terms_total", "b", 1},
		{"mastership_election_sessions_total", "b", 1},
	} {
		if v := gauge(t, reg, c.name, c.id); v != c.want {
			t.Errorf("%s{id=%q} = %g, want %g", c.name, c.id, v, c.want)
		}
	}
	for id, want := range map[string]string{"a": "NONE", "b": "MASTER"} {
		if got := roleOf(t, reg, id); got != want {
			t.Errorf("%s after a stopped: role %q, want %q", id, got, want)
		}
	}
	if v := gauge(t, reg, "mastership_safe_deadline_remaining_seconds", "a"); v != 0 {
		t.Errorf("a: safe deadline remaining %gs after Run returned, want 0", v)
	}
}
