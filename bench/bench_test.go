package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// The scale measure runs its members in a child: this test binary.
	if js := os.Getenv(childEnv); js != "" {
		quiet()
		runChild(js)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestQuick runs every measure with one or two trials, so that the program
// cannot rot. It asserts that each measure produced its trials and its
// report, not how fast anything was: targets live in BENCHMARKS.md.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and runs every measure (about 30s)")
	}
	quiet()
	cfg, _, err := parseFlags([]string{"-trials", "2", "-slow-trials", "0", "-parallel", "2", "-fanout", "10", "-scale", "1x3", "-rest", "2s", "-scale-joins", "2"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.ttls = cfg.ttls[:1] // 2s only: the 5s trials would double the time
	cfg.settle = time.Second
	b, err := newBench(cfg, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	if err := b.runAll(); err != nil {
		t.Fatal(err)
	}

	if b.floorPW.n() != 2 {
		t.Errorf("put → watch floor: %d trials, want 2", b.floorPW.n())
	}
	for _, c := range handoverContenders() {
		want := b.trialsOf(c)
		if d := b.handover[c.name]; d == nil || d.n() != want {
			t.Errorf("handover, %s: %v trials, want %d", c.name, d, want)
		} else if want > 0 && d.min() <= 0 {
			t.Errorf("handover, %s: a trial took %v", c.name, d.min())
		}
	}
	if d := b.expiry[2*time.Second]; d == nil || d.n() != 2 || d.min() < 2*time.Second {
		t.Errorf("lease expiry floor at TTL 2s: %v; want 2 trials, none under the TTL", d)
	}
	for _, c := range cutContenders(2 * time.Second) {
		rs := b.cuts[c.name]
		if len(rs) != 2 {
			t.Errorf("cut off, %s: %d trials, want 2", c.name, len(rs))
		}
		for i, r := range rs {
			if r.failover <= 0 {
				t.Errorf("cut off, %s, trial %d: failover %v", c.name, i, r.failover)
			}
		}
	}
	if _, ok := b.cuts[clientGoDefault().name]; ok {
		t.Errorf("client-go with its defaults ran, with -slow-trials 0")
	}
	if len(b.fanouts) != 1 {
		t.Fatalf("fan-out: %d group sizes measured, want 1", len(b.fanouts))
	}
	if f := b.fanouts[0]; f.last.n() != 2 || f.member.n() != 2*10 || f.floorLast.n() != 2 || f.last.min() <= 0 {
		t.Errorf("fan-out to 10: %d trials, %d member times, %d floor trials, fastest %v; want 2, 20, 2, positive",
			f.last.n(), f.member.n(), f.floorLast.n(), f.last.min())
	}
	if len(b.scales) != len(scaleContenders(0)) {
		t.Fatalf("scale: %d runs, want one per contender", len(b.scales))
	}
	for _, r := range b.scales {
		if r.settled.Goroutines <= r.base.Goroutines {
			t.Errorf("scale, %s: %d goroutines with 3 members, %d without", r.c.name, r.settled.Goroutines, r.base.Goroutines)
		}
		if (r.c.kind == "mastership" || r.c.kind == "election") && r.msgs["LeaseKeepAlive"] < 3 {
			// Each member or candidate sends a keep-alive every (5s - 0.5s)/4: at least
			// one each in 2s.
			t.Errorf("scale, %s: %v keep-alives in 2s from 3 members, want at least 3 (%v)", r.c.name, r.msgs["LeaseKeepAlive"], r.msgs)
		}
	}

	for _, r := range b.scales {
		if want := map[bool]int{true: 2}[r.c.kind == "mastership"]; r.joins.n() != want {
			t.Errorf("scale, %s: %d join trials, want %d", r.c.name, r.joins.n(), want)
		}
	}

	rep := b.report([]string{"-quick"})
	for _, want := range []string{"### Graceful handover", "### Crash failover", "### Partition overlap", "### Fan-out", "### At rest", "concurrency.Election TTL 2s", "mastership/election TTL 5s", "client-go 2s/1.333s/267ms"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	t.Log("\n" + rep)
}

func TestFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // in the error; "" for none
	}{
		{nil, ""},
		{[]string{"-measures", "handover,fanout", "-trials", "3", "-scale", "2x5"}, ""},
		{[]string{"-measures", "speed"}, "-measures"},
		{[]string{"-trials", "0"}, "-trials"},
		{[]string{"-parallel", "0"}, "-parallel"},
		{[]string{"-fanout", "10,x"}, "-fanout"},
		{[]string{"-fanout", "0"}, "-fanout"},
		{[]string{"-scale", "10"}, "-scale"},
		{[]string{"-scale", "0x10"}, "-scale"},
		{[]string{"-rest", "10ms"}, "-rest"},
		{[]string{"-settle", "-1s"}, "-settle"},
		{[]string{"-scale-contenders", "election,concurrency"}, ""},
		{[]string{"-scale-contenders", "etcd"}, "-scale-contenders"},
		{[]string{"-scale-clients", "0", "-scale-ttl", "30s", "-scale-joins", "0", "-scale-recovery"}, ""},
		{[]string{"-scale-clients", "-2"}, "-scale-clients"},
		{[]string{"-scale-ttl", "1s"}, "-scale-ttl"},
		{[]string{"-scale-ttl", "2500ms"}, "-scale-ttl"},
		{[]string{"-scale-joins", "-1"}, "-scale-joins"},
		{[]string{"extra"}, "extra"},
	} {
		_, _, err := parseFlags(c.args)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.args, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: error %v, want one naming %s", c.args, err, c.want)
		}
	}
}

// TestScaleJoinsRecovery runs the scale measure's paths for large runs at
// tiny sizes: one client per member, joins in group 0, and a recovery
// from an etcd outage longer than a 2s TTL (about 25s).
func TestScaleJoinsRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and stops it twice for 7s")
	}
	quiet()
	cfg, _, err := parseFlags([]string{"-measures", "scale", "-scale-contenders", "mastership", "-scale", "1x20,2x5",
		"-scale-clients", "0", "-scale-ttl", "2s", "-scale-joins", "5", "-scale-recovery", "-rest", "1s", "-settle", "0s"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := newBench(cfg, t.Output())
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	if err := b.runAll(); err != nil {
		t.Fatal(err)
	}
	if len(b.scales) != 2 {
		t.Fatalf("%d scale runs, want 2", len(b.scales))
	}
	for _, r := range b.scales {
		if r.clients != r.members() {
			t.Errorf("%v: %d clients, want one per member", r, r.clients)
		}
		if r.settled.Build <= 0 {
			t.Errorf("%v: built in %v", r, r.settled.Build)
		}
		if r.joins.n() != 5 || r.joins.min() <= 0 {
			t.Errorf("%v: %d join trials, fastest %v; want 5, positive", r, r.joins.n(), r.joins.min())
		}
		rc := r.recovery
		if rc == nil {
			t.Errorf("%v: no recovery", r)
			continue
		}
		if rc.down < 7*time.Second || rc.recovery <= 0 || rc.notOffline != 0 || rc.sentBytes <= 0 || rc.heapPeak == 0 {
			t.Errorf("%v: recovery %+v; want down 7s, a positive recovery, every member offline, bytes sent, a heap", r, *rc)
		}
	}
	rep := b.report([]string{"-scale-recovery"})
	for _, want := range []string{"### At rest", "### Joins at scale", "### Recovery from an etcd outage", "mastership TTL 2s", "one client per member"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	t.Log("\n" + rep)
}
