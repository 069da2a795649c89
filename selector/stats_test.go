package selector

import (
	"context"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdtest"
)

func TestRoleString(t *testing.T) {
	for r, want := range map[Role]string{NoRole: "NONE", Slave: "SLAVE", Master: "MASTER", Role(7): "Role(?)"} {
		if got := r.String(); got != want {
			t.Errorf("Role(%d).String() = %q, want %q", int(r), got, want)
		}
	}
}

// wantTransitions checks st's counts of events: every type present, and
// the given counts, others zero.
func wantTransitions(t *testing.T, who string, st Stats, want map[events.Type]uint64) {
	t.Helper()
	for _, typ := range events.Types() {
		got, ok := st.Transitions[typ]
		if !ok {
			t.Errorf("%s: Transitions has no entry for %v", who, typ)
		}
		if got != want[typ] {
			t.Errorf("%s: Transitions[%v] = %d, want %d", who, typ, got, want[typ])
		}
	}
	if len(st.Transitions) != len(events.Types()) {
		t.Errorf("%s: Transitions has %d entries, want %d", who, len(st.Transitions), len(events.Types()))
	}
}

// checkLive checks the keep-alive and deadline fields of a registered
// member's snapshot.
func checkLive(t *testing.T, who string, st Stats) {
	t.Helper()
	if st.State != Refresh {
		t.Errorf("%s: State = %v, want REFRESH", who, st.State)
	}
	if st.TTL != testTTL {
		t.Errorf("%s: TTL = %v, want %v", who, st.TTL, testTTL)
	}
	if st.KeepAliveRTT <= 0 || st.KeepAliveRTT > st.TTL {
		t.Errorf("%s: KeepAliveRTT = %v, want in (0, TTL]", who, st.KeepAliveRTT)
	}
	if age := st.Time.Sub(st.LastKeepAlive); st.LastKeepAlive.IsZero() || age < 0 || age > st.TTL {
		t.Errorf("%s: LastKeepAlive %v is %v before the snapshot, want within the TTL", who, st.LastKeepAlive, age)
	}
	if st.UntilDeadline <= 0 || st.UntilDeadline > st.TTL || !st.SafeDeadline.Equal(st.Time.Add(st.UntilDeadline)) {
		t.Errorf("%s: SafeDeadline %v, UntilDeadline %v at %v: want a deadline within the TTL ahead", who, st.SafeDeadline, st.UntilDeadline, st.Time)
	}
	// The deadline comes from the last acknowledged keep-alive's send time.
	if sent := st.LastKeepAlive.Add(-st.KeepAliveRTT); st.SafeDeadline.After(sent.Add(st.TTL)) {
		t.Errorf("%s: SafeDeadline %v is later than the last keep-alive's send time %v plus the TTL", who, st.SafeDeadline, sent)
	}
}

// Stats follows a member through its roles: master alone, master of a
// slave, offline after Close; and the slave becoming master.
func TestStats(t *testing.T) {
	t.Parallel()
	cli := newClient(t, shared.Endpoints()...)
	prefix := prefixOf(t)

	a := join(t, cli, prefix, "a")
	ev := expect(t, a, events.InitMaster)
	st := a.Stats()
	if st.ID != "a" || st.Prefix != prefix+"/" {
		t.Errorf("a: ID %q, Prefix %q; want a, %s/", st.ID, st.Prefix, prefix)
	}
	if st.Role != Master || st.Epoch != ev.View.Epoch() || st.Members != 1 || st.Resyncs != 0 {
		t.Errorf("a: Role %v, Epoch %d, Members %d, Resyncs %d; want MASTER, %d, 1, 0", st.Role, st.Epoch, st.Members, st.Resyncs, ev.View.Epoch())
	}
	checkLive(t, "a", st)
	wantTransitions(t, "a", st, map[events.Type]uint64{events.InitMaster: 1})

	// The keep-alives go on: LastKeepAlive moves past the grant's answer.
	first := st.LastKeepAlive
	eventually(t, "a's keep-alive is acknowledged", 2*testTTL, func() bool {
		return a.Stats().LastKeepAlive.After(first)
	})
	checkLive(t, "a", a.Stats())

	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")
	sb := b.Stats()
	if sb.Role != Slave || sb.Epoch != ev.View.Epoch() || sb.Members != 2 {
		t.Errorf("b: Role %v, Epoch %d, Members %d; want SLAVE, %d, 2", sb.Role, sb.Epoch, sb.Members, ev.View.Epoch())
	}
	checkLive(t, "b", sb)
	wantTransitions(t, "b", sb, map[events.Type]uint64{events.InitSlave: 1})
	wantTransitions(t, "a", a.Stats(), map[events.Type]uint64{events.InitMaster: 1, events.SlaveAdd: 1})

	last := a.Stats().LastKeepAlive
	rest := shutdown(t, a)
	if len(rest) != 1 || rest[0].Type != events.Offline {
		t.Fatalf("a's last events: %v, want OFFLINE", rest)
	}
	sa := a.Stats()
	if sa.Role != NoRole || sa.State != Offline || sa.Epoch != 0 || sa.Members != 0 {
		t.Errorf("a after Close: Role %v, State %v, Epoch %d, Members %d; want NONE, OFFLINE, 0, 0", sa.Role, sa.State, sa.Epoch, sa.Members)
	}
	if !sa.SafeDeadline.IsZero() || sa.UntilDeadline != 0 {
		t.Errorf("a after Close: SafeDeadline %v, UntilDeadline %v; want none", sa.SafeDeadline, sa.UntilDeadline)
	}
	if sa.LastKeepAlive.Before(last) || sa.TTL != testTTL {
		t.Errorf("a after Close: LastKeepAlive %v (was %v), TTL %v: the last registration's should stay", sa.LastKeepAlive, last, sa.TTL)
	}
	wantTransitions(t, "a", sa, map[events.Type]uint64{events.InitMaster: 1, events.SlaveAdd: 1, events.Offline: 1})

	ev = expect(t, b, events.ChangeToMaster)
	sb = b.Stats()
	if sb.Role != Master || sb.Epoch != ev.View.Epoch() || sb.Members != 1 {
		t.Errorf("b: Role %v, Epoch %d, Members %d; want MASTER, %d, 1", sb.Role, sb.Epoch, sb.Members, ev.View.Epoch())
	}
	wantTransitions(t, "b", sb, map[events.Type]uint64{events.InitSlave: 1, events.ChangeToMaster: 1})
}

// A master cut off from etcd: its last keep-alive ages, the time left
// before its safe deadline runs out, and Stats says NONE from the moment
// the mastership ends, the deadline having come no earlier than the last
// acknowledged keep-alive allows. After the heal it registers again.
func TestStatsCutOff(t *testing.T) {
	t.Parallel()
	prefix := prefixOf(t)
	p := newProxy(t, shared.Members[0])
	a := join(t, p.Client(t), prefix, "a")
	expect(t, a, events.InitMaster)
	margin := a.reg.lease.Margin
	before := a.Stats()
	checkLive(t, "a", before)

	// Held, not dropped: a real partition holds a live connection's bytes.
	// (A blackhole drops them inside the connection, which can leave it
	// rejecting every request after the heal.)
	p.Hold()
	var last Stats // the last snapshot taken while a was master
	eventually(t, "a leaves the master role", 2*testTTL, func() bool {
		st := a.Stats()
		if st.Role == Master {
			if last.Role == Master && st.UntilDeadline > last.UntilDeadline && st.LastKeepAlive.Equal(last.LastKeepAlive) {
				t.Errorf("a: the time left before the deadline grew from %v to %v without a keep-alive", last.UntilDeadline, st.UntilDeadline)
			}
			last = st
			return false
		}
		off := st
		if off.State == Refresh || off.Epoch != 0 || off.Members != 0 || off.UntilDeadline != 0 || !off.SafeDeadline.IsZero() {
			t.Errorf("a out of its role: State %v, Epoch %d, Members %d, SafeDeadline %v (%v); want not REFRESH, no view, no deadline",
				off.State, off.Epoch, off.Members, off.SafeDeadline, off.UntilDeadline)
		}
		// The deadline came at the earliest TTL - margin after the last
		// acknowledged keep-alive was sent.
		if age, least := off.Time.Sub(off.LastKeepAlive), off.TTL-margin-off.KeepAliveRTT; age < least {
			t.Errorf("a lost its role %v after its last acknowledged keep-alive, earlier than the %v its deadline allows", age, least)
		}
		return true
	})
	if last.Role != Master || last.UntilDeadline <= 0 {
		t.Errorf("a's last snapshot as master: %v, %v left; want MASTER with time left", last.Role, last.UntilDeadline)
	}
	expectWithin(t, a, 2*testTTL, events.Offline)
	if n := a.Stats().Transitions[events.Offline]; n != 1 {
		t.Errorf("a: %d OFFLINE counted, want 1", n)
	}

	p.Release()
	expectWithin(t, a, 20*time.Second, events.InitMaster)
	st := a.Stats()
	checkLive(t, "a", st)
	if st.Role != Master || !st.LastKeepAlive.After(before.LastKeepAlive) {
		t.Errorf("a after the heal: Role %v, LastKeepAlive %v (before the cut %v); want MASTER, a newer keep-alive", st.Role, st.LastKeepAlive, before.LastKeepAlive)
	}
	wantTransitions(t, "a", st, map[events.Type]uint64{events.InitMaster: 2, events.Offline: 1})
}

// BenchmarkStats measures a snapshot, which health checks and metric
// scrapes take as often as they like.
func BenchmarkStats(b *testing.B) {
	cli, err := etcdtest.NewClient(shared.Endpoints()...)
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := New(ctx, cli, "/bench-stats", "a", WithTTL(testTTL))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		s.Close()
		for range s.Events() {
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		if s.Stats().State != Refresh {
			b.Fatal("not registered")
		}
	}
}
