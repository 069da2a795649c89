package history

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/events"
)

// Shorthands for the event types.
const (
	initMaster     = events.InitMaster
	initSlave      = events.InitSlave
	changeToMaster = events.ChangeToMaster
	changeToSlave  = events.ChangeToSlave
	masterChange   = events.MasterChange
	slaveAdd       = events.SlaveAdd
	slaveDel       = events.SlaveDel
	offline        = events.Offline
)

// partitioned returns a history where a (epoch 10) and b (epoch 11) each
// believe they are alone: a master from 0 until its OFFLINE at aOff (none if
// negative), b master from 500ms until its OFFLINE at bOff (none if
// negative).
func partitioned(aOff, bOff int) *History {
	a := inc("a#1", rec(0, "a", initMaster, "", "a", 10))
	if aOff >= 0 {
		a = append(a, rec(aOff, "a", offline, "", "", 0))
	}
	b := inc("b#1", rec(500, "b", initMaster, "", "b", 11))
	if bOff >= 0 {
		b = append(b, rec(bOff, "b", offline, "", "", 0))
	}
	return build(a, b)
}

func TestOneMasterOverlap(t *testing.T) {
	h := partitioned(1000, 2000)
	vs := Check(h, Options{})
	onlyRule(t, vs, RuleOneMaster)
	v := wantViolation(t, h, vs, RuleOneMaster, "a#1 (a)", "b#1 (b)", "for 500ms")
	if len(vs) != 1 {
		t.Errorf("%d violations, want 1:\n%s", len(vs), Format(vs))
	}
	if !slices.Equal(v.Incarnations, []string{"a#1", "b#1"}) || !slices.Equal(v.Members, []string{"a", "b"}) {
		t.Errorf("violation names %v %v", v.Incarnations, v.Members)
	}
	if len(v.Times) != 2 || !v.Times[0].Equal(ms(500)) || !v.Times[1].Equal(ms(1000)) {
		t.Errorf("violation times %v, want 500ms and 1s after t0", v.Times)
	}
	// The excerpt marks both starts and the end that closes the overlap.
	for _, want := range []string{
		"> 22:00:00.000000000  a#1  a INIT_MASTER [] master=a members=[a] epoch=10 REFRESH",
		"> 22:00:00.500000000  b#1  b INIT_MASTER [] master=b members=[b] epoch=11 REFRESH",
		"> 22:00:01.000000000  a#1  a OFFLINE [] master= members=[] epoch=0 OFFLINE",
	} {
		if !strings.Contains(v.Excerpt, want) {
			t.Errorf("excerpt lacks %q:\n%s", want, v.Excerpt)
		}
	}
	if s := v.String(); !strings.HasPrefix(s, "[one-master] two masters at once") {
		t.Errorf("String() = %q", s)
	}
}

func TestOneMasterTouching(t *testing.T) {
	h := partitioned(500, 2000) // a's OFFLINE at the very instant b starts
	clean(t, h, Check(h, Options{}))
}

// A killed master prints nothing more; its process's end closes its
// mastership.
func TestOneMasterKilledEndCloses(t *testing.T) {
	h := partitioned(-1, 2000)
	h.End("a#1", ms(400))
	clean(t, h, Check(h, Options{}))
}

func TestOneMasterKilledEndTooLate(t *testing.T) {
	h := partitioned(-1, 2000)
	h.End("a#1", ms(700))
	wantViolation(t, h, Check(h, Options{}), RuleOneMaster, "for 200ms", "process end")
}

// An incarnation that never ended is still master at the end of the history.
func TestOneMasterOpenAtEnd(t *testing.T) {
	h := partitioned(-1, 900)
	wantViolation(t, h, Check(h, Options{}), RuleOneMaster, "for 400ms", "still master")

	h = partitioned(-1, -1)
	v := wantViolation(t, h, Check(h, Options{}), RuleOneMaster, "to the end of the history")
	if len(v.Times) != 1 {
		t.Errorf("an open overlap has times %v, want its start only", v.Times)
	}
}

// A process restarted under the same id is another incarnation: the first
// one's mastership must have ended.
func TestOneMasterRestartedMember(t *testing.T) {
	h := build(
		inc("a#1", rec(0, "a", initMaster, "", "a", 10)),
		inc("a#2", rec(3000, "a", initMaster, "", "a", 12)),
	)
	wantViolation(t, h, Check(h, Options{}), RuleOneMaster, "a#1 (a)", "a#2 (a)")
	h.End("a#1", ms(1000))
	clean(t, h, Check(h, Options{}))
}

// The selector reports a master's new epoch as OFFLINE and INIT_MASTER at
// one instant: two masterships of one incarnation, back to back.
func TestOneMasterSameIncarnationAgain(t *testing.T) {
	h := build(inc("a#1",
		rec(0, "a", initMaster, "", "a", 10),
		rec(1000, "a", offline, "", "", 0),
		rec(1000, "a", initMaster, "", "a", 12),
	))
	clean(t, h, Check(h, Options{}))
}

// yielded returns a history of a Yield: a, master of b, yields; b emits
// CHANGE_TO_MASTER at 500ms, a its CHANGE_TO_SLAVE only at 600ms.
func yielded() *History {
	return build(
		inc("a#1",
			rec(0, "a", initMaster, "b", "a b", 10),
			rec(600, "a", changeToSlave, "b", "b a", 11),
			rec(600, "a", slaveDel, "b", "b a", 11),
		),
		inc("b#1",
			rec(100, "b", initSlave, "a", "a b", 10),
			rec(500, "b", changeToMaster, "a", "b a", 11),
			rec(500, "b", slaveAdd, "a", "b a", 11),
		),
	)
}

func TestOneMasterEndMastership(t *testing.T) {
	h := yielded()
	wantViolation(t, h, Check(h, Options{}), RuleOneMaster, "for 100ms", "CHANGE_TO_SLAVE")
	h.EndMastership("a#1", ms(450)) // a's master context ended when it called Yield
	clean(t, h, Check(h, Options{}))
}

// EndMastership outside any mastership changes nothing.
func TestEndMastershipOutside(t *testing.T) {
	h := partitioned(1000, 2000)
	h.EndMastership("b#1", ms(100)) // before b's mastership
	h.EndMastership("a#1", ms(1500))
	wantViolation(t, h, Check(h, Options{}), RuleOneMaster, "for 500ms")
}

func TestEpochOrder(t *testing.T) {
	h := build(
		inc("a#1", rec(0, "a", initMaster, "", "a", 10), rec(100, "a", offline, "", "", 0)),
		inc("b#1", rec(200, "b", initMaster, "", "b", 9)),
	)
	vs := Check(h, Options{})
	onlyRule(t, vs, RuleEpoch)
	v := wantViolation(t, h, vs, RuleEpoch, "epoch 9", "epoch 10", "a#1 (a)", "b#1 (b)")
	if !slices.Equal(v.Incarnations, []string{"a#1", "b#1"}) {
		t.Errorf("violation names %v", v.Incarnations)
	}

	h = build(
		inc("a#1", rec(0, "a", initMaster, "", "a", 10), rec(100, "a", offline, "", "", 0)),
		inc("b#1", rec(200, "b", initMaster, "", "b", 10)),
	)
	wantViolation(t, h, Check(h, Options{}), RuleEpoch, "not above")
}

func TestEpochDownWhileRegistered(t *testing.T) {
	h := build(inc("c#1",
		rec(0, "c", initSlave, "a", "a b c", 10),
		rec(100, "c", masterChange, "b", "b c", 8),
		rec(100, "c", slaveDel, "b", "b c", 8),
	))
	vs := Check(h, Options{})
	onlyRule(t, vs, RuleEpoch)
	wantViolation(t, h, vs, RuleEpoch, "c#1 (c), record 2", "goes down from 10 to 8")

	// A new registration may start anywhere.
	h = build(inc("c#1",
		rec(0, "c", initSlave, "a", "a c", 10),
		rec(100, "c", offline, "", "", 0),
		rec(200, "c", initSlave, "a", "a c", 10),
	))
	clean(t, h, Check(h, Options{}))
}

func TestEpochChangesWithinMastership(t *testing.T) {
	h := build(inc("a#1",
		rec(0, "a", initMaster, "", "a", 10),
		rec(100, "a", slaveAdd, "b", "a b", 12),
	))
	wantViolation(t, h, Check(h, Options{}), RuleEpoch, "changes from 10 to 12 within one mastership")
}

// TestReplay runs one incarnation's records through Check: a valid stream
// must pass, each broken one must be reported as a replay violation holding
// want, at record n (1-based).
func TestReplay(t *testing.T) {
	cases := []struct {
		name string
		recs []Record
		want string
		n    int
	}{
		{name: "valid master", recs: []Record{
			rec(0, "a", initMaster, "", "a", 10),
			rec(1, "a", slaveAdd, "b c", "a b c", 10),
			rec(2, "a", slaveDel, "b", "a c", 10),
			rec(3, "a", slaveAdd, "b", "a c b", 10),
			rec(4, "a", offline, "", "", 0),
			rec(5, "a", initSlave, "c", "c b a", 13),
		}},
		{name: "valid yield", recs: []Record{
			rec(0, "a", initMaster, "b c", "a b c", 10),
			rec(1, "a", changeToSlave, "b", "b c a", 11),
			rec(1, "a", slaveDel, "b", "b c a", 11),
		}},
		{name: "valid slave of a yield", recs: []Record{
			rec(0, "c", initSlave, "a", "a b c", 10),
			rec(1, "c", masterChange, "b", "b c a", 11),
			rec(1, "c", slaveDel, "b", "b c a", 11),
			rec(1, "c", slaveAdd, "a", "b c a", 11),
		}},
		{name: "valid takeover", recs: []Record{
			rec(0, "c", initSlave, "a", "a b c d", 10),
			rec(1, "c", changeToMaster, "d", "c d", 12),
			rec(1, "c", slaveDel, "b", "c d", 12),
		}},
		{name: "valid change in INIT state", recs: []Record{
			{TS: ms(0), Type: initMaster, Self: "a", Nodes: list(""), Master: "a", Members: list("a"), Epoch: 1, State: StateInit},
		}},

		{name: "SLAVE_ADD of a member already there", n: 3, want: "SLAVE_ADD of b, which already is a slave", recs: []Record{
			rec(0, "a", initMaster, "b", "a b", 10),
			rec(1, "a", slaveAdd, "c", "a b c", 10),
			rec(2, "a", slaveAdd, "b", "a c b", 10),
		}},
		{name: "SLAVE_DEL of an absent member", n: 3, want: "SLAVE_DEL of b, which is not a slave", recs: []Record{
			rec(0, "a", initMaster, "b c", "a b c", 10),
			rec(1, "a", slaveDel, "b", "a c", 10),
			rec(2, "a", slaveDel, "b", "a", 10),
		}},
		{name: "view the events never built", n: 2, want: "the view [b c] has [c], which the events never added", recs: []Record{
			rec(0, "b", initSlave, "a", "a b", 10),
			rec(1, "b", changeToMaster, "c", "b c", 11),
		}},
		{name: "view without a member the events kept", n: 2, want: "the events keep [c]", recs: []Record{
			rec(0, "a", initMaster, "b c", "a b c", 10),
			rec(1, "a", slaveDel, "b", "a", 10),
		}},
		{name: "new master never deleted from the slaves", n: 2, want: "keep the master b among the slaves", recs: []Record{
			rec(0, "c", initSlave, "a", "a b c", 10),
			rec(1, "c", masterChange, "b", "b c", 11),
		}},
		{name: "master changed without a role event", n: 2, want: "the events make a the master, the view b", recs: []Record{
			rec(0, "c", initSlave, "a", "a b c", 10),
			rec(1, "c", slaveDel, "b", "b c", 11),
		}},
		{name: "two role events in one change", n: 3, want: "two role events in one change", recs: []Record{
			rec(0, "c", initSlave, "a", "a b c", 10),
			rec(1, "c", masterChange, "b", "b c", 11),
			rec(1, "c", masterChange, "b", "b c", 11),
			rec(1, "c", slaveDel, "b", "b c", 11),
		}},
		{name: "SLAVE_DEL after SLAVE_ADD", n: 3, want: "SLAVE_DEL follows SLAVE_ADD in one change", recs: []Record{
			rec(0, "a", initMaster, "b", "a b", 10),
			rec(1, "a", slaveAdd, "c", "a c", 10),
			rec(1, "a", slaveDel, "b", "a c", 10),
		}},
		{name: "INIT followed by SLAVE_ADD", n: 2, want: "SLAVE_ADD follows INIT_MASTER for the same view", recs: []Record{
			rec(0, "a", initMaster, "b", "a b", 10),
			rec(0, "a", slaveAdd, "b", "a b", 10),
		}},
		{name: "record before INIT", n: 1, want: "SLAVE_ADD before the INIT_MASTER or INIT_SLAVE", recs: []Record{
			rec(0, "b", slaveAdd, "c", "a b c", 10),
		}},
		{name: "record after OFFLINE before INIT", n: 3, want: "SLAVE_ADD before the INIT", recs: []Record{
			rec(0, "b", initSlave, "a", "a b", 10),
			rec(1, "b", offline, "", "", 0),
			rec(2, "b", slaveAdd, "c", "a b c", 10),
		}},
		{name: "OFFLINE while not registered", n: 1, want: "OFFLINE while not registered", recs: []Record{
			rec(0, "b", offline, "", "", 0),
		}},
		{name: "OFFLINE twice", n: 3, want: "OFFLINE while not registered", recs: []Record{
			rec(0, "b", initSlave, "a", "a b", 10),
			rec(1, "b", offline, "", "", 0),
			rec(2, "b", offline, "", "", 0),
		}},
		{name: "INIT while registered", n: 2, want: "INIT_SLAVE while registered", recs: []Record{
			rec(0, "b", initSlave, "a", "a b", 10),
			rec(1, "b", initSlave, "a", "a b c", 10),
		}},
		{name: "CHANGE_TO_MASTER while master", n: 2, want: "CHANGE_TO_MASTER while master", recs: []Record{
			rec(0, "a", initMaster, "b", "a b", 10),
			rec(1, "a", changeToMaster, "", "a", 10),
		}},
		{name: "CHANGE_TO_SLAVE while a slave", n: 2, want: "CHANGE_TO_SLAVE while a slave", recs: []Record{
			rec(0, "c", initSlave, "a", "a b c", 10),
			rec(1, "c", changeToSlave, "b", "b c", 11),
		}},
		{name: "MASTER_CHANGE while master", n: 2, want: "MASTER_CHANGE while master", recs: []Record{
			rec(0, "a", initMaster, "b", "a b", 10),
			rec(1, "a", masterChange, "b", "b a", 11),
		}},
		{name: "MASTER_CHANGE to the same master", n: 2, want: "which already is the master", recs: []Record{
			rec(0, "c", initSlave, "a", "a b c", 10),
			rec(1, "c", masterChange, "a", "a c", 10),
		}},
		{name: "valid SLAVE_DEL in an order older than the last record's", recs: []Record{
			rec(0, "a", initMaster, "b c", "a b c", 10),
			rec(1, "a", slaveDel, "c b", "a", 10),
		}},
		{name: "SLAVE_ADD out of order", n: 2, want: "not in the join order", recs: []Record{
			rec(0, "a", initMaster, "", "a", 10),
			rec(1, "a", slaveAdd, "c b", "a b c", 10),
		}},
		{name: "ts goes back", n: 2, want: "ts goes back", recs: []Record{
			rec(5, "a", initMaster, "", "a", 10),
			rec(4, "a", slaveAdd, "b", "a b", 10),
		}},
		{name: "another self", n: 2, want: `self is "b"`, recs: []Record{
			rec(0, "a", initMaster, "", "a", 10),
			rec(1, "b", slaveAdd, "b", "a b", 10),
		}},
		{name: "master not first", n: 1, want: "is not the first of members", recs: []Record{
			{TS: ms(0), Type: initSlave, Self: "b", Nodes: list("a"), Master: "a", Members: list("b a"), Epoch: 10, State: StateRefresh},
		}},
		{name: "self not a member", n: 1, want: `self "b" is not among members`, recs: []Record{
			rec(0, "b", initSlave, "a", "a", 10),
		}},
		{name: "OFFLINE with a view", n: 2, want: "OFFLINE must have", recs: []Record{
			rec(0, "b", initSlave, "a", "a b", 10),
			{TS: ms(1), Type: offline, Self: "b", Master: "a", Members: list("a b"), Epoch: 10, State: StateOffline},
		}},
		{name: "state OFFLINE while registered", n: 1, want: "state OFFLINE for a INIT_SLAVE", recs: []Record{
			{TS: ms(0), Type: initSlave, Self: "b", Nodes: list("a"), Master: "a", Members: list("a b"), Epoch: 10, State: StateOffline},
		}},
		{name: "INIT_SLAVE with two nodes", n: 1, want: "are not the master [a]", recs: []Record{
			rec(0, "c", initSlave, "a b", "a b c", 10),
		}},
		{name: "INIT_SLAVE of the master", n: 1, want: "INIT_SLAVE, but self is the master", recs: []Record{
			rec(0, "a", initSlave, "a", "a b", 10),
		}},
		{name: "INIT_MASTER of a slave", n: 1, want: `INIT_MASTER, but the master is "a"`, recs: []Record{
			rec(0, "b", initMaster, "", "a b", 10),
		}},
		{name: "CHANGE_TO_MASTER with other nodes than the slaves", n: 2, want: "nodes [] are not the slaves [b]", recs: []Record{
			rec(0, "c", initSlave, "a", "a b c", 10),
			rec(1, "c", changeToMaster, "", "c b", 12),
		}},
		{name: "SLAVE_ADD of nobody", n: 2, want: "SLAVE_ADD of nobody", recs: []Record{
			rec(0, "a", initMaster, "", "a", 10),
			rec(1, "a", slaveAdd, "", "a b", 10),
		}},
		{name: "SLAVE_DEL of a member still there", n: 2, want: `the view [a b] has [b], which the events never added`, recs: []Record{
			rec(0, "a", initMaster, "b c", "a b c", 10),
			rec(1, "a", slaveDel, "b", "a b", 10),
		}},
		{name: "zero epoch", n: 1, want: "epoch 0", recs: []Record{
			rec(0, "a", initMaster, "", "a", 0),
		}},
		{name: "unknown type", n: 1, want: "unknown type", recs: []Record{
			{TS: ms(0), Type: 42, Self: "a"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := build(inc("x#1", c.recs...))
			vs := Check(h, Options{})
			if c.want == "" {
				clean(t, h, vs)
				return
			}
			onlyRule(t, vs, RuleReplay)
			self := c.recs[0].Self
			prefix := "x#1 (" + self + "), record " + strconv.Itoa(c.n) + " "
			wantViolation(t, h, vs, RuleReplay, prefix, c.want)
		})
	}
}

func TestReplayProcessEnd(t *testing.T) {
	h := build(inc("a#1",
		rec(0, "a", initMaster, "", "a", 10),
		rec(200, "a", slaveAdd, "b", "a b", 10),
	))
	h.End("a#1", ms(100))
	wantViolation(t, h, Check(h, Options{}), RuleReplay, "record 2", "after its process ended")
}

// Options.Context bounds the excerpt to the offending record's neighbours.
func TestExcerptContext(t *testing.T) {
	recs := []Record{rec(0, "a", initMaster, "", "a", 10)}
	members := "a"
	for i, id := range []string{"b", "c", "d", "e", "f", "g", "h"} {
		members += " " + id
		recs = append(recs, rec(i+1, "a", slaveAdd, id, members, 10))
	}
	recs = append(recs, rec(100, "a", slaveAdd, "b", members+" b2", 10)) // b again, and b2 never added
	h := build(inc("a#1", recs...))
	for _, c := range []struct {
		context, lines int
	}{{0, 4}, {1, 2}, {-1, 1}, {10, 9}} {
		vs := Check(h, Options{Context: c.context})
		v := wantViolation(t, h, vs, RuleReplay, "record 9")
		if n := strings.Count(v.Excerpt, "\n"); n != c.lines {
			t.Errorf("Context %d: excerpt of %d lines, want %d:\n%s", c.context, n, c.lines, v.Excerpt)
		}
		if !strings.Contains(v.Excerpt, "> 22:00:00.100000000  a#1  a SLAVE_ADD [b]") {
			t.Errorf("Context %d: offending record not marked:\n%s", c.context, v.Excerpt)
		}
	}
}

func TestConvergence(t *testing.T) {
	h := workedFromDiff()
	clean(t, h, CheckConvergence(h, list("b c"), "b"))

	vs := CheckConvergence(h, list("b c d"), "b")
	wantViolation(t, h, vs, RuleConvergence, "b#1 (b): last view has members [b c], etcd [b c d]")
	wantViolation(t, h, vs, RuleConvergence, "c#1 (c): last view has members [b c], etcd [b c d]")
	wantViolation(t, h, vs, RuleConvergence, "etcd holds member d, but no live process of d")
	if len(vs) != 3 {
		t.Errorf("%d violations, want 3:\n%s", len(vs), Format(vs))
	}

	vs = CheckConvergence(h, list("c b"), "c")
	wantViolation(t, h, vs, RuleConvergence, `b#1 (b): last view has master "b", etcd "c"`)

	vs = CheckConvergence(h, list("b c"), "c")
	wantViolation(t, h, vs, RuleConvergence, `etcd names "c" master, but the first of its members [b c] is "b"`)

	// a's ended incarnation does not count; an a that is offline and
	// still running is not converged if etcd holds a.
	vs = CheckConvergence(h, list("b c a"), "b")
	wantViolation(t, h, vs, RuleConvergence, "no live process of a")
	h.Add("a#2", rec(2000, "a", initSlave, "b", "b c a", 11))
	h.Add("a#2", rec(3000, "a", offline, "", "", 0))
	wantViolation(t, h, CheckConvergence(h, list("b c a"), "b"), RuleConvergence, "no live process of a")

	// Two live incarnations of one member.
	h.Add("a#3", rec(4000, "a", initSlave, "b", "b c a", 11))
	h.Add("a#4", rec(4000, "a", initSlave, "b", "b c a", 11))
	vs = CheckConvergence(h, list("b c a"), "b")
	v := wantViolation(t, h, vs, RuleConvergence, "2 live incarnations of member a")
	if !slices.Equal(v.Incarnations, []string{"a#3", "a#4"}) {
		t.Errorf("violation names %v", v.Incarnations)
	}
}

// A member that left and came back unseen moves in the join order without
// an event: the last record's order may be older than etcd's.
func TestConvergenceStaleOrder(t *testing.T) {
	h := build(
		inc("a#1", rec(0, "a", initMaster, "b c", "a b c", 10)),
		inc("b#1", rec(10, "b", initSlave, "a", "a c b", 10)),
		inc("c#1", rec(10, "c", initSlave, "a", "a c b", 10)),
	)
	clean(t, h, CheckConvergence(h, list("a c b"), "a"))
	wantViolation(t, h, CheckConvergence(h, list("a c"), "a"), RuleConvergence, "members [a b c], etcd [a c]")
}

// An empty group: nobody may be registered.
func TestConvergenceEmpty(t *testing.T) {
	h := build(inc("a#1", rec(0, "a", initMaster, "", "a", 10), rec(10, "a", offline, "", "", 0)))
	clean(t, h, CheckConvergence(h, nil, ""))
	h.Add("b#1", rec(20, "b", initMaster, "", "b", 12))
	wantViolation(t, h, CheckConvergence(h, nil, ""), RuleConvergence, "b#1 (b)")
}

// History is safe for concurrent use: a harness adds from one goroutine per
// process.
func TestHistoryConcurrent(t *testing.T) {
	h := &History{}
	done := make(chan bool)
	for _, self := range []string{"a", "b", "c", "d"} {
		go func() {
			defer func() { done <- true }()
			for i := range 100 {
				h.Add(self+"#1", rec(i, self, offline, "", "", 0))
				if i%10 == 0 {
					_ = Check(h, Options{})
					_ = h.String()
				}
			}
			h.End(self+"#1", time.Now())
		}()
	}
	for range 4 {
		<-done
	}
	if n := len(h.Incarnations()); n != 4 {
		t.Errorf("%d incarnations, want 4", n)
	}
}

// Records and Add copy: a caller's slices are its own.
func TestHistoryCopies(t *testing.T) {
	h := &History{}
	r := rec(0, "a", initMaster, "b", "a b", 10)
	h.Add("a#1", r)
	r.Nodes[0], r.Members[1] = "x", "x"
	got := h.Records("a#1")
	got[0].Nodes[0] = "y"
	if g := h.Records("a#1")[0]; g.Nodes[0] != "b" || g.Members[1] != "b" {
		t.Errorf("history shares memory with its callers: %v", g)
	}
	if h.Records("nobody") != nil {
		t.Error("records of an unknown incarnation")
	}
}
