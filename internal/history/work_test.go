package history

import (
	"strings"
	"testing"
)

// handedOver returns the history of a handover that the library did right:
// a master (epoch 10) until its OFFLINE at 1s, b master (epoch 11) from
// 1.5s. Their spans of master work are added by each test.
func handedOver() *History {
	return build(
		inc("a#1", rec(0, "a", initMaster, "", "a", 10), rec(1000, "a", offline, "", "", 0)),
		inc("b#1", rec(1500, "b", initMaster, "", "b", 11)),
	)
}

func TestWorkApart(t *testing.T) {
	h := handedOver()
	n := h.BeginWork("a#1", "a", 10, ms(10))
	h.EndWork("a#1", n, ms(990))
	h.BeginWork("b#1", "b", 11, ms(1510)) // still working when checked
	clean(t, h, Check(h, Options{}))
}

func TestWorkTouching(t *testing.T) {
	h := handedOver()
	n := h.BeginWork("a#1", "a", 10, ms(10))
	h.EndWork("a#1", n, ms(1510))
	h.BeginWork("b#1", "b", 11, ms(1510))
	clean(t, h, Check(h, Options{}))
}

// TestWorkOverlap: the events kept apart, the work did not: a's work went on
// past its OFFLINE, into b's.
func TestWorkOverlap(t *testing.T) {
	h := handedOver()
	n := h.BeginWork("a#1", "a", 10, ms(10))
	h.EndWork("a#1", n, ms(1700))
	h.BeginWork("b#1", "b", 11, ms(1510))
	vs := Check(h, Options{})
	onlyRule(t, vs, RuleWork)
	v := wantViolation(t, h, vs, RuleWork, "master work of two members at once", "for 190ms", "a#1 (a)", "b#1 (b)")
	if len(vs) != 1 || len(v.Times) != 2 || !v.Times[0].Equal(ms(1510)) || !v.Times[1].Equal(ms(1700)) {
		t.Errorf("violations %v, want one from 1.51s to 1.7s:\n%s", vs, Format(vs))
	}
	for _, want := range []string{
		"> 22:00:00.010000000  a#1  a began master work, epoch 10",
		"  22:00:01.000000000  a#1  a OFFLINE",
		"> 22:00:01.510000000  b#1  b began master work, epoch 11",
		"> 22:00:01.700000000  a#1  a ended master work, epoch 10",
	} {
		if !strings.Contains(v.Excerpt, want) {
			t.Errorf("excerpt lacks %q:\n%s", want, v.Excerpt)
		}
	}
}

// TestWorkOpenEndedByProcess: a span never ended lasts until its process's
// end, and no longer.
func TestWorkOpenEndedByProcess(t *testing.T) {
	h := handedOver()
	h.BeginWork("a#1", "a", 10, ms(10))
	h.End("a#1", ms(1200))
	h.BeginWork("b#1", "b", 11, ms(1510))
	clean(t, h, Check(h, Options{}))

	h = handedOver()
	h.BeginWork("a#1", "a", 10, ms(10)) // a still running: it works on
	h.BeginWork("b#1", "b", 11, ms(1510))
	wantViolation(t, h, Check(h, Options{}), RuleWork, "to the end of the history")
}

// TestWorkElectionOnly: candidates that report no events, only the spans
// of their leadership, are judged as well, and named by their member.
func TestWorkElectionOnly(t *testing.T) {
	h := &History{}
	a := h.BeginWork("a", "host-a", 7, ms(0))
	b := h.BeginWork("b", "host-b", 9, ms(400))
	h.EndWork("a", a, ms(500))
	h.EndWork("b", b, ms(900))
	h.EndWork("b", b, ms(2000)) // a second end changes nothing
	v := wantViolation(t, h, Check(h, Options{}), RuleWork, "for 100ms", "a (host-a)", "b (host-b)")
	if !strings.Contains(v.Excerpt, "> 22:00:00.400000000  b  host-b began master work, epoch 9") {
		t.Errorf("excerpt:\n%s", v.Excerpt)
	}
	if s := h.String(); !strings.Contains(s, "host-a began master work") || !strings.Contains(s, "host-b ended master work") {
		t.Errorf("String() leaves the spans out:\n%s", s)
	}
}

func TestWorkEpochs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		second string // member of the later span
		epoch  int64  // its epoch; the first span, of a, has 10
		bad    bool
	}{
		{"higher", "b", 11, false},
		{"same member again", "a", 10, false},
		{"lower", "b", 9, true},
		{"same member lower", "a", 9, true},
		{"same epoch, other member", "b", 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &History{}
			n := h.BeginWork("a#1", "a", 10, ms(0))
			h.EndWork("a#1", n, ms(100))
			inc := "a#1"
			if tc.second != "a" {
				inc = tc.second + "#1"
			}
			h.BeginWork(inc, tc.second, tc.epoch, ms(200))
			vs := Check(h, Options{})
			if !tc.bad {
				clean(t, h, vs)
				return
			}
			wantViolation(t, h, vs, RuleWork, "began after work under epoch 10")
		})
	}
}

// TestWorkAfterDeletion: a deletion of a's key by hand explains b's work
// beginning before a's ended, as it explains the masterships' overlap.
func TestWorkAfterDeletion(t *testing.T) {
	h := build(
		inc("a#1", rec(0, "a", initMaster, "", "a", 10), rec(1005, "a", offline, "", "", 0)),
		inc("b#1", rec(1003, "b", initMaster, "", "b", 11)),
	)
	h.DeletedKey("a#1", ms(1000))
	n := h.BeginWork("a#1", "a", 10, ms(10))
	h.EndWork("a#1", n, ms(1006))
	h.BeginWork("b#1", "b", 11, ms(1004))
	clean(t, h, Check(h, Options{}))
}

// TestWorkOnAfterDeletion: a deletion by hand explains the overlap of a's
// work with b's only once a's work has ended; a master that never stops,
// still working when the history is read, overlaps its successor to the
// end, as its mastership would (the one-master rule forgives only a
// mastership that ended).
func TestWorkOnAfterDeletion(t *testing.T) {
	h := build(
		inc("a#1", rec(0, "a", initMaster, "", "a", 10), rec(1005, "a", offline, "", "", 0)),
		inc("b#1", rec(1003, "b", initMaster, "", "b", 11)),
	)
	h.DeletedKey("a#1", ms(1000))
	h.BeginWork("a#1", "a", 10, ms(10)) // never ended: a works on
	h.BeginWork("b#1", "b", 11, ms(1004))
	vs := Check(h, Options{})
	onlyRule(t, vs, RuleWork)
	wantViolation(t, h, vs, RuleWork, "master work of two members at once", "to the end of the history", "a#1 (a)", "b#1 (b)")
}

// TestWorkBegunAfterEnd: a span reported after its incarnation ended (a
// Recorder's run ends when its Follow channel closes, while the service's
// goroutines may still start work) is not cut to that earlier end, which
// would make it end before it began and hide every overlap with a later
// span.
func TestWorkBegunAfterEnd(t *testing.T) {
	h := handedOver()
	h.End("a#1", ms(1200))
	h.BeginWork("a#1", "a", 10, ms(1300)) // after a#1's end, never ended
	h.BeginWork("b#1", "b", 11, ms(1510))
	vs := Check(h, Options{})
	wantViolation(t, h, vs, RuleWork, "master work of two members at once", "to the end of the history", "a#1 (a)", "b#1 (b)")

	h = handedOver()
	h.End("a#1", ms(1200))
	n := h.BeginWork("a#1", "a", 10, ms(1300))
	h.EndWork("a#1", n, ms(1600))
	h.BeginWork("b#1", "b", 11, ms(1510))
	wantViolation(t, h, Check(h, Options{}), RuleWork, "for 90ms")
}

// TestWorkEndedAfterProcess: an end that EndWork reported counts as
// reported, even after its incarnation's end: the code said when its work
// stopped (a Recorder's run ends when Follow's channel closes, while the
// service's goroutines may work on).
func TestWorkEndedAfterProcess(t *testing.T) {
	h := handedOver()
	n := h.BeginWork("a#1", "a", 10, ms(10))
	h.End("a#1", ms(1200))
	h.EndWork("a#1", n, ms(1700))
	h.BeginWork("b#1", "b", 11, ms(1510))
	wantViolation(t, h, Check(h, Options{}), RuleWork, "master work of two members at once", "for 190ms")
}

// TestWorkEmptySpan: a span that ends as it begins, [t, t), inside another
// member's span shares no instant with it: spans are half-open.
func TestWorkEmptySpan(t *testing.T) {
	h := &History{}
	a := h.BeginWork("a#1", "a", 10, ms(0))
	h.EndWork("a#1", a, ms(1000))
	b := h.BeginWork("b#1", "b", 11, ms(500))
	h.EndWork("b#1", b, ms(500))
	clean(t, h, Check(h, Options{}))
}
