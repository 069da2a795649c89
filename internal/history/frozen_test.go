package history

import (
	"strings"
	"testing"
	"time"
)

// The rules about frozen processes, take-backs and deletions by hand: each
// with a history that breaks the rule and one that keeps it.

// ttl2s judges freezes as the chaos suite does, with a TTL of 2s.
var ttl2s = Options{TTL: 2 * time.Second}

// frozenMaster returns a history where a, master with epoch 10, is frozen
// from 1s to 4s; b becomes master at 3s (epoch 12), after a's lease ran
// out; a's first records after the thaw are after.
func frozenMaster(after ...Record) *History {
	h := build(
		inc("a#1", append([]Record{rec(0, "a", initMaster, "b", "a b", 10)}, after...)...),
		inc("b#1",
			rec(100, "b", initSlave, "a", "a b", 10),
			rec(3000, "b", changeToMaster, "", "b", 12),
		),
	)
	h.Freeze("a#1", ms(1000))
	h.Thaw("a#1", ms(4000))
	return h
}

// A frozen master that says OFFLINE first after the thaw was master only
// until it froze.
func TestFrozenMasterOfflineFirst(t *testing.T) {
	h := frozenMaster(
		rec(4010, "a", offline, "", "", 0),
		rec(4500, "a", initSlave, "b", "b a", 12),
	)
	clean(t, h, Check(h, ttl2s))

	// Without the freeze on record, its mastership lasts to its OFFLINE
	// and overlaps b's: the freeze is what ends it.
	h = build(
		inc("a#1", h.Records("a#1")...),
		inc("b#1", h.Records("b#1")...),
	)
	wantViolation(t, h, Check(h, ttl2s), RuleOneMaster, "a#1 (a)", "b#1 (b)", "for 1.01s")
}

// A frozen master whose first event after a thaw past its deadline is
// anything but OFFLINE went on as master: frozen, and two masters.
func TestFrozenMasterOtherFirst(t *testing.T) {
	h := frozenMaster(
		rec(4010, "a", slaveDel, "b", "a", 10),
		rec(4100, "a", offline, "", "", 0),
	)
	vs := Check(h, ttl2s)
	v := wantViolation(t, h, vs, RuleFrozen, "a#1 (a), record 2", "while master (epoch 10)", "thawed 3s later",
		"its first event after the thaw is SLAVE_DEL, not OFFLINE")
	for _, want := range []string{
		"22:00:01.000000000  a#1  a (process frozen: SIGSTOP)",
		"22:00:04.000000000  a#1  a (process thawed: SIGCONT, after 3s)",
		"> 22:00:04.010000000  a#1  a SLAVE_DEL [b]",
	} {
		if !strings.Contains(v.Excerpt, want) {
			t.Errorf("excerpt lacks %q:\n%s", want, v.Excerpt)
		}
	}
	wantViolation(t, h, vs, RuleOneMaster, "a#1 (a)", "b#1 (b)", "for 1.1s")
}

// The two masters of issue 12: the slave next in line, frozen, is thawed
// after its lease ran out and the third member took over, and says
// CHANGE_TO_MASTER with its own expired key's epoch.
func TestFrozenSlaveNextInLine(t *testing.T) {
	slave := func(after ...Record) *History {
		h := build(
			inc("a#1", rec(0, "a", initMaster, "b c", "a b c", 10), rec(1500, "a", offline, "", "", 0)),
			inc("b#1", append([]Record{rec(100, "b", initSlave, "a", "a b c", 10)}, after...)...),
			inc("c#1",
				rec(200, "c", initSlave, "a", "a b c", 10),
				rec(1500, "c", masterChange, "b", "b c", 11),
				rec(1500, "c", slaveDel, "b", "b c", 11),
				rec(3500, "c", changeToMaster, "", "c", 12),
			),
		)
		h.End("a#1", ms(1600))
		h.Freeze("b#1", ms(1000))
		h.Thaw("b#1", ms(4000))
		return h
	}
	h := slave(
		rec(4010, "b", changeToMaster, "c", "b c", 11),
		rec(4050, "b", offline, "", "", 0),
	)
	vs := Check(h, ttl2s)
	wantViolation(t, h, vs, RuleFrozen, "b#1 (b), record 2", "while a slave of a", "CHANGE_TO_MASTER, not OFFLINE")
	wantViolation(t, h, vs, RuleOneMaster, "b#1 (b)", "c#1 (c)", "for 40ms")
	wantViolation(t, h, vs, RuleEpoch, "epoch 11", "epoch 12")

	h = slave(
		rec(4010, "b", offline, "", "", 0),
		rec(4400, "b", initSlave, "c", "c b", 12),
	)
	clean(t, h, Check(h, ttl2s))
}

// A freeze shorter than the TTL may end before the safe deadline: the
// member may carry on. With no TTL given, every freeze counts.
func TestFrozenShort(t *testing.T) {
	h := build(inc("a#1",
		rec(0, "a", initMaster, "", "a", 10),
		rec(1600, "a", slaveAdd, "b", "a b", 10),
	))
	h.Freeze("a#1", ms(1000))
	h.Thaw("a#1", ms(1500))
	clean(t, h, Check(h, ttl2s))
	wantViolation(t, h, Check(h, Options{}), RuleFrozen, "thawed 500ms later", "SLAVE_ADD, not OFFLINE")
}

// A master killed while frozen did nothing as master after it froze.
func TestFrozenThenKilled(t *testing.T) {
	h := frozenMaster()
	h = build(inc("a#1", h.Records("a#1")...), inc("b#1", h.Records("b#1")...))
	h.Freeze("a#1", ms(1000))
	h.End("a#1", ms(5000))
	clean(t, h, Check(h, ttl2s))

	// The same kill without the freeze on record: a was master to 5s.
	h = build(inc("a#1", h.Records("a#1")...), inc("b#1", h.Records("b#1")...))
	h.End("a#1", ms(5000))
	wantViolation(t, h, Check(h, ttl2s), RuleOneMaster, "for 2s")
}

// A member frozen while not registered owes no OFFLINE: it has none to say.
func TestFrozenUnregistered(t *testing.T) {
	h := build(inc("a#1",
		rec(0, "a", initSlave, "b", "b a", 10),
		rec(500, "a", offline, "", "", 0),
		rec(4100, "a", initSlave, "b", "b a", 10),
	))
	h.Freeze("a#1", ms(1000))
	h.Thaw("a#1", ms(4000))
	clean(t, h, Check(h, ttl2s))
}

// A take-back: a member whose key and lease outlived its OFFLINE is master
// again under the same epoch, if nobody else was master in between.
func TestEpochTakeBack(t *testing.T) {
	h := build(inc("a#1",
		rec(0, "a", initMaster, "", "a", 10),
		rec(1000, "a", offline, "", "", 0),
		rec(1500, "a", initMaster, "", "a", 10),
	))
	clean(t, h, Check(h, Options{}))

	// b was master in between: a's epoch 10 cannot come back after b's 12.
	h = build(
		inc("a#1",
			rec(0, "a", initMaster, "", "a", 10),
			rec(1000, "a", offline, "", "", 0),
			rec(1500, "a", initMaster, "", "a", 10),
		),
		inc("b#1",
			rec(1100, "b", initMaster, "", "b", 12),
			rec(1200, "b", offline, "", "", 0),
		),
	)
	vs := Check(h, Options{})
	onlyRule(t, vs, RuleEpoch)
	wantViolation(t, h, vs, RuleEpoch, "epoch 10 of a mastership is not above the epoch 12", "b#1 (b)", "a#1 (a)")

	// Another process of the same member cannot take the lease back: only
	// the process that granted it can.
	h = build(
		inc("a#1", rec(0, "a", initMaster, "", "a", 10)),
		inc("a#2", rec(3000, "a", initMaster, "", "a", 10)),
	)
	h.End("a#1", ms(1000))
	wantViolation(t, h, Check(h, Options{}), RuleEpoch, "not above", "same incarnation")

	// Nor can the same epoch follow a Yield: CHANGE_TO_SLAVE is no OFFLINE.
	h = build(inc("a#1",
		rec(0, "a", initMaster, "b", "a b", 10),
		rec(1000, "a", changeToSlave, "b", "b a", 11),
		rec(1000, "a", slaveDel, "b", "b a", 11),
		rec(1500, "a", offline, "", "", 0),
		rec(2000, "a", initMaster, "", "a", 10),
	))
	wantViolation(t, h, Check(h, Options{}), RuleEpoch, "epoch 10 of a mastership is not above the epoch 10")
}

// deleted returns a history where a, master with epoch 10, has its key
// deleted by hand at 1s; b becomes master at 1.005s; a goes OFFLINE at
// aOff (none if negative).
func deleted(aOff int) *History {
	a := inc("a#1", rec(0, "a", initMaster, "b", "a b", 10))
	if aOff >= 0 {
		a = append(a, rec(aOff, "a", offline, "", "", 0))
	}
	return build(a, inc("b#1",
		rec(100, "b", initSlave, "a", "a b", 10),
		rec(1005, "b", changeToMaster, "", "b", 11),
	))
}

// A deletion by hand is the one case the deadline does not cover: the
// overlap it causes is measured, not reported.
func TestExternalDelete(t *testing.T) {
	h := deleted(1012)
	wantViolation(t, h, Check(h, Options{}), RuleOneMaster, "for 7ms")
	if got := ExternalOverlaps(h, Options{}); len(got) != 0 {
		t.Errorf("overlaps without a deletion on record: %v", got)
	}

	h.DeletedKey("a#1", ms(1000))
	clean(t, h, Check(h, Options{}))
	got := ExternalOverlaps(h, Options{})
	if len(got) != 1 {
		t.Fatalf("%d external overlaps, want 1: %v", len(got), got)
	}
	o := got[0]
	if o.Old != "a#1" || o.New != "b#1" || o.OldEpoch != 10 || o.NewEpoch != 11 || o.Duration() != 7*time.Millisecond || !o.From.Equal(ms(1005)) {
		t.Errorf("overlap %+v", o)
	}
	if s := o.String(); !strings.Contains(s, "were both master for 7ms") || !strings.Contains(s, "5ms after the deletion") {
		t.Errorf("String() = %q", s)
	}

	// A master that never learns its key is gone is a violation all the
	// same.
	h = deleted(-1)
	h.DeletedKey("a#1", ms(1000))
	wantViolation(t, h, Check(h, Options{}), RuleOneMaster, "to the end of the history")

	// A deletion after the successor started explains nothing.
	h = deleted(1012)
	h.DeletedKey("a#1", ms(1008))
	wantViolation(t, h, Check(h, Options{}), RuleOneMaster, "for 7ms")
}

// A master thawed with nothing printed since: after a freeze past its
// deadline it has not acted as master yet (its OFFLINE may still come);
// after a short one it may simply carry on as master, and overlaps count.
func TestFrozenNothingSinceThaw(t *testing.T) {
	h := frozenMaster() // frozen 1s to 4s, b master from 3s
	clean(t, h, Check(h, ttl2s))

	h = build(
		inc("a#1", rec(0, "a", initMaster, "b", "a b", 10)),
		inc("b#1",
			rec(100, "b", initSlave, "a", "a b", 10),
			rec(3000, "b", changeToMaster, "", "b", 12),
		),
	)
	h.Freeze("a#1", ms(1000))
	h.Thaw("a#1", ms(1500)) // short: a may still be master
	wantViolation(t, h, Check(h, ttl2s), RuleOneMaster, "a#1 (a)", "b#1 (b)", "to the end of the history")
}
