package chaos

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/mastershiptest"
)

// TestChurn: a short seeded run of the churn (members joining, leaving,
// crashing, frozen and cut off at random), converged and checked at the
// end.
// MASTERSHIP_SEED replays the random choices; the steps' timing, and so
// the course of the run, may still differ.
func TestChurn(t *testing.T) {
	t.Parallel()
	r := NewRun(t)
	ch := newChurn(t, r, "/chaos/churn")
	ch.run(12*time.Second, 0)
	ch.finish()
}

// TestSoak is the churn for as long as MASTERSHIP_SOAK says, checking the
// history every minute (every quarter of the run, if that is shorter) so
// that a failure is reported early:
//
//	MASTERSHIP_SOAK=10m MASTERSHIP_SEED=1 go test -run TestSoak -timeout 0 -v ./internal/chaos
//
// A failing run prints its seed and the history; MASTERSHIP_SEED replays
// the same random choices.
func TestSoak(t *testing.T) {
	v := os.Getenv("MASTERSHIP_SOAK")
	if v == "" {
		t.Skip("soak test: set MASTERSHIP_SOAK to a duration to run it, for example MASTERSHIP_SOAK=10m MASTERSHIP_SEED=1 go test -run TestSoak -timeout 0 -v ./internal/chaos")
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("MASTERSHIP_SOAK=%q: want a positive Go duration such as 10m", v)
	}
	r := NewRun(t)
	t.Logf("soak for %v with seed %d (MASTERSHIP_SEED=%d replays it)", d, r.Seed, r.Seed)
	ch := newChurn(t, r, "/chaos/soak")
	ch.run(d, min(time.Minute, d/4))
	ch.finish()
	t.Logf("soak done: %s", ch.summary())
}

// Churn limits. Steps: 40% joins, 17% leaves, 13% crashes, 10% freezes of
// node processes, 12% cuts, 8% nothing.
const (
	churnMax      = 20 // members running at once, crashed ones included until closed
	churnMin      = 3  // below this, the next step joins
	churnProxies  = 3  // fault proxies the members may reach etcd through
	churnProcs    = 3  // one member in churnProcs is a node process
	churnReuse    = 3  // one join in churnReuse reuses an id no longer running, if any
	churnStepMin  = 50 * time.Millisecond
	churnStepMax  = 400 * time.Millisecond
	churnCutMax   = 2*ttl + time.Second // longest cut, and longest freeze
	churnSettling = ttl + 10*time.Second
	// churnHoldMin is the shortest hold of a proxy's traffic.
	churnHoldMin = 100 * time.Millisecond
	// churnShortFreeze is the longest short freeze: well under any safe
	// deadline the member can have when it freezes, so that it may carry on
	// as if nothing happened (a garbage collector's pause, say).
	churnShortFreeze = time.Second
	// churnLongFreeze is the shortest long freeze: past the TTL, so that
	// the member is past its safe deadline when it wakes and must say
	// OFFLINE first (checkOptions judges freezes by the TTL).
	churnLongFreeze = ttl + 200*time.Millisecond
)

// churn drives up to churnMax members, in-process and node processes, on
// one etcd, through random joins, graceful leaves, crashes and cuts between
// members and etcd. Every random choice comes from the run's source, so a
// seed replays the same sequence of steps (their timing, and so the
// outcome, may still differ).
type churn struct {
	t       *testing.T
	r       *Run
	c       *mastershiptest.Cluster
	cli     *clientv3.Client
	eps     []string
	prefix  string
	proxies []*churnProxy
	running []*churnMember // joined, not yet closed, killed or crashed
	crashed []*churnMember // in-process members whose client was closed, not yet Closed
	gone    map[string]churnGone
	nextID  int
	counts  map[string]int
	journal []string // what the churn did, printed if the test fails
}

// churnMember is one incarnation of a member.
type churnMember struct {
	id    string
	inc   string
	m     *Member  // in-process, or
	p     *Process // node process
	px    *churnProxy
	since time.Time // when it crashed
	thaw  time.Time // when a frozen process is due to be thawed
}

// churnGone is how the last incarnation of an id ended.
type churnGone struct {
	crashed bool // without revoking: its key may live on for a TTL
	proxied bool // it reached etcd through a proxy
}

// churnProxy is a fault proxy some members reach etcd through.
type churnProxy struct {
	*mastershiptest.Proxy
	name  string
	fault string    // "", "cut" or "hold"
	from  time.Time // when the fault began
	until time.Time // when the fault heals
}

// churnMinCut is the shortest Cut: longer than the TTL, so that every
// member behind it goes OFFLINE and etcd has expired its lease before the
// heal (see mastershiptest.Proxy). churnMaxHold is the longest hold: shorter
// than any safe deadline can be after the cut begins (the deadline comes at
// least partSafeSpan minus one keep-alive interval after it).
var (
	churnMinCut  = ttl + 500*time.Millisecond
	churnMaxHold = partSafeSpan - partKeepAliveEvery - 100*time.Millisecond
)

func newChurn(t *testing.T, r *Run, prefix string) *churn {
	c := mastershiptest.NewCluster(t)
	ch := &churn{
		t:      t,
		r:      r,
		c:      c,
		cli:    newClient(t, c),
		eps:    c.Endpoints(),
		prefix: prefix,
		gone:   map[string]churnGone{},
		counts: map[string]int{},
	}
	for i := range churnProxies {
		ch.proxies = append(ch.proxies, &churnProxy{Proxy: c.Members[0].Proxy(t), name: fmt.Sprintf("p%d", i)})
	}
	t.Cleanup(func() {
		if t.Failed() {
			j := ch.journal
			if len(j) > 500 {
				j = append([]string{fmt.Sprintf("(the first %d steps left out)", len(j)-500)}, j[len(j)-500:]...)
			}
			t.Logf("seed %d: what the churn did:\n%s", r.Seed, strings.Join(j, "\n"))
		}
	})
	return ch
}

// run churns for d, checking the history every checkEvery (0: never) and
// stopping at the first failure.
func (ch *churn) run(d, checkEvery time.Duration) {
	t, r := ch.t, ch.r
	t.Helper()
	for range churnMin + r.Rand.IntN(churnMin*2) {
		ch.join()
	}
	end := time.Now().Add(d)
	nextCheck := time.Now().Add(checkEvery)
	for time.Now().Before(end) {
		ch.tick()
		ch.step()
		if checkEvery > 0 && time.Now().After(nextCheck) {
			r.Check()
			t.Logf("%v left; %s", time.Until(end).Round(time.Second), ch.summary())
			nextCheck = time.Now().Add(checkEvery)
		}
		if t.Failed() {
			t.FailNow()
		}
		// The pacing of the churn, not a synchronisation.
		time.Sleep(churnStepMin + time.Duration(r.Rand.Int64N(int64(churnStepMax-churnStepMin))))
	}
}

// logf adds a line to the journal.
func (ch *churn) logf(format string, args ...any) {
	ch.journal = append(ch.journal, time.Now().UTC().Format("15:04:05.000000000")+"  "+fmt.Sprintf(format, args...))
}

// step does one random thing.
func (ch *churn) step() {
	r := ch.r
	n := len(ch.running) + len(ch.crashed)
	switch x := r.Rand.IntN(100); {
	case len(ch.running) < churnMin || x < 40:
		if n < churnMax {
			ch.join()
		}
	case x < 57:
		ch.leave()
	case x < 70:
		ch.crash()
	case x < 80:
		ch.freeze()
	case x < 92:
		ch.cut()
	default:
		// A step with nothing new: the members carry on.
	}
}

// tick heals the cuts and thaws the frozen processes that are due, closes
// crashed in-process members that have had a TTL to go OFFLINE, and fails
// the test for any process that exited on its own.
func (ch *churn) tick() {
	now := time.Now()
	for _, px := range ch.proxies {
		if px.fault != "" && now.After(px.until) {
			ch.heal(px)
		}
	}
	for _, cm := range ch.running {
		if cm.p != nil && cm.p.Frozen() && now.After(cm.thaw) {
			ch.thaw(cm)
		}
	}
	ch.crashed = slices.DeleteFunc(ch.crashed, func(cm *churnMember) bool {
		if now.Sub(cm.since) < ttl+time.Second {
			return false
		}
		// Its keep-alives stopped with its client: its safe deadline has
		// passed, and it must have said so.
		if last, ok := ch.r.Last(cm.inc); ok && last.Type != events.Offline {
			ch.t.Errorf("seed %d: %s still registered %v after its client was closed: its last event is %v at %s",
				ch.r.Seed, cm.inc, now.Sub(cm.since), last.Type, partStamp(last.TS))
		}
		cm.m.Close()
		ch.logf("closed crashed %s", cm.inc)
		return true
	})
	ch.running = slices.DeleteFunc(ch.running, func(cm *churnMember) bool {
		if cm.p == nil {
			return false
		}
		select {
		case <-cm.p.done:
			ch.t.Errorf("seed %d: %s exited on its own: %v", ch.r.Seed, cm.inc, cm.p.err)
			ch.gone[cm.id] = churnGone{crashed: true, proxied: cm.px != nil}
			return true
		default:
			return false
		}
	})
}

// join starts a member: a new id, or one whose last incarnation is gone;
// in-process or a node process; directly or through a proxy that is not cut.
func (ch *churn) join() {
	r := ch.r
	id := ""
	if r.Rand.IntN(churnReuse) == 0 {
		id = ch.reusable()
	}
	if id == "" {
		id = fmt.Sprintf("m%02d", ch.nextID)
		ch.nextID++
	} else {
		ch.counts["rejoin"]++
	}
	delete(ch.gone, id)
	cm := &churnMember{id: id}
	eps := ch.eps
	if i := r.Rand.IntN(len(ch.proxies) + 1); i < len(ch.proxies) && ch.proxies[i].fault == "" {
		cm.px = ch.proxies[i]
		eps = []string{cm.px.URL}
	}
	if r.Rand.IntN(churnProcs) == 0 {
		cm.p = r.Start(ch.prefix, id, eps)
		cm.inc = cm.p.Inc
		ch.counts["start"]++
	} else {
		cm.m = r.Join(ch.c, ch.prefix, id, eps)
		cm.inc = cm.m.Inc
		ch.counts["join"]++
	}
	ch.running = append(ch.running, cm)
	ch.logf("join %s (%s) via %s", cm.inc, churnKind(cm), churnVia(cm))
}

func churnKind(cm *churnMember) string {
	if cm.p != nil {
		return "process"
	}
	return "in-process"
}

func churnVia(cm *churnMember) string {
	if cm.px == nil {
		return "direct"
	}
	return cm.px.name
}

// reusable returns a random id whose last incarnation is gone and that a
// new member can take without a wait that could end in ErrDuplicateID, or
// "". The key of a member that crashed may live on until its lease
// expires, and a new member waits for that; but one that reached etcd
// through a proxy may have keep-alives still held in a proxy (Hold), which
// would renew its lease after that wait, so its id is reused only once etcd
// has dropped the key.
func (ch *churn) reusable() string {
	var ids []string
	for id, g := range ch.gone {
		if !g.crashed || !g.proxied || !ch.held(id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return ""
	}
	slices.Sort(ids) // map order is random; the seed's choices must not be
	return ids[ch.r.Rand.IntN(len(ids))]
}

// master returns the running member whose key etcd names master, or nil.
func (ch *churn) master() *churnMember {
	ids, err := membersIn(ch.cli, ch.prefix)
	if err != nil || len(ids) == 0 {
		return nil
	}
	for _, cm := range ch.running {
		if cm.id == ids[0] {
			return cm
		}
	}
	return nil
}

// held reports whether etcd holds member id's key (or cannot say).
func (ch *churn) held(id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := ch.cli.Get(ctx, ch.prefix+"/"+id, clientv3.WithCountOnly())
	return err != nil || resp.Count > 0
}

// pick removes and returns a random running member for which ok holds, or
// nil. One time in three it picks the master, if it can, so that
// failovers are frequent.
func (ch *churn) pick(ok func(*churnMember) bool) *churnMember {
	var idx []int
	for i, cm := range ch.running {
		if ok(cm) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	i := idx[ch.r.Rand.IntN(len(idx))]
	if ch.r.Rand.IntN(3) == 0 {
		if m := ch.master(); m != nil && ok(m) {
			i = slices.Index(ch.running, m)
		}
	}
	cm := ch.running[i]
	ch.running = slices.Delete(ch.running, i, i+1)
	return cm
}

// leave closes a member gracefully: Close, or SIGTERM for a process, which
// must exit 0. It spares members behind a cut, whose revoke would wait,
// processes not yet registered, which exit 1 on SIGTERM before registering,
// and frozen processes, which are thawed when due.
func (ch *churn) leave() {
	cm := ch.pick(func(cm *churnMember) bool {
		return (cm.px == nil || cm.px.fault == "") && (cm.m != nil || len(ch.r.H.Records(cm.inc)) > 0) &&
			(cm.p == nil || !cm.p.Frozen())
	})
	if cm == nil {
		return
	}
	if cm.m != nil {
		cm.m.Close()
	} else {
		cm.p.Term()
	}
	ch.gone[cm.id] = churnGone{proxied: cm.px != nil}
	ch.counts["leave"]++
	ch.logf("left: %s (%s) via %s", cm.inc, churnKind(cm), churnVia(cm))
}

// crash ends a member without revoking its lease: SIGKILL for a process,
// frozen or not;
// for an in-process member its client is closed, so that its lease expires
// in etcd while the member runs on to its safe deadline and OFFLINE, and it
// is closed a TTL later.
func (ch *churn) crash() {
	cm := ch.pick(func(*churnMember) bool { return true })
	if cm == nil {
		return
	}
	if cm.p != nil {
		cm.p.Kill()
	} else {
		cm.m.Cli.Close()
		cm.since = time.Now()
		ch.crashed = append(ch.crashed, cm)
	}
	ch.gone[cm.id] = churnGone{crashed: true, proxied: cm.px != nil}
	ch.counts["crash"]++
	ch.logf("crashed: %s (%s) via %s", cm.inc, churnKind(cm), churnVia(cm))
}

// cut cuts the members behind one proxy off from etcd for a random time:
// either a hold, which holds their traffic and delivers it all at the
// heal, as TCP would after a real partition, or a Cut, which drops it.
//
// A hold is shorter than the safe deadline: the cut the members are meant
// to survive. A Cut lasts longer than the TTL, so that every member
// behind it goes OFFLINE, its lease expires, and it reads the group afresh
// when it registers again: bytes the proxy drops from a connection that
// stays open are lost for good, and a member that stayed registered across
// a short Cut would never learn what changed meanwhile (no real network
// loses bytes from a TCP connection that way). See mastershiptest.Proxy.
func (ch *churn) cut() {
	r := ch.r
	var free []*churnProxy
	for _, px := range ch.proxies {
		if px.fault == "" && slices.ContainsFunc(ch.running, func(cm *churnMember) bool { return cm.px == px }) {
			free = append(free, px)
		}
	}
	if len(free) == 0 {
		return
	}
	px := free[r.Rand.IntN(len(free))]
	if m := ch.master(); m != nil && m.px != nil && m.px.fault == "" && r.Rand.IntN(2) == 0 {
		px = m.px // cut the master off
	}
	px.from = time.Now()
	if r.Rand.IntN(2) == 0 {
		px.fault, px.until = "cut", px.from.Add(churnMinCut+time.Duration(r.Rand.Int64N(int64(churnCutMax-churnMinCut))))
		px.Cut()
	} else {
		px.fault, px.until = "hold", px.from.Add(churnHoldMin+time.Duration(r.Rand.Int64N(int64(churnMaxHold-churnHoldMin))))
		px.Hold()
	}
	ch.counts[px.fault]++
	ch.logf("%s %s for %v", px.fault, px.name, time.Until(px.until).Round(time.Millisecond))
}

// freeze stops a running node process with SIGSTOP for a random time
// (thawed by tick): one time in three a short freeze, which it may sleep
// through, otherwise a freeze past its TTL, after which it must say
// OFFLINE first. One time in three it freezes the master, if that is a
// process, so that frozen masters are frequent.
func (ch *churn) freeze() {
	r := ch.r
	var idx []int
	for i, cm := range ch.running {
		if cm.p != nil && !cm.p.Frozen() {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return
	}
	cm := ch.running[idx[r.Rand.IntN(len(idx))]]
	if r.Rand.IntN(3) == 0 {
		if m := ch.master(); m != nil && m.p != nil && !m.p.Frozen() {
			cm = m
		}
	}
	d := churnLongFreeze + time.Duration(r.Rand.Int64N(int64(churnCutMax-churnLongFreeze)))
	kind := "long"
	if r.Rand.IntN(3) == 0 {
		d, kind = 50*time.Millisecond+time.Duration(r.Rand.Int64N(int64(churnShortFreeze))), "short"
	}
	at := cm.p.Freeze()
	cm.thaw = at.Add(d)
	ch.counts["freeze"]++
	ch.logf("froze %s (%s) for %v (%s)", cm.inc, churnVia(cm), d.Round(time.Millisecond), kind)
}

// thaw resumes a frozen process.
func (ch *churn) thaw(cm *churnMember) {
	cm.p.Thaw()
	ch.logf("thawed %s", cm.inc)
}

func (ch *churn) heal(px *churnProxy) {
	switch px.fault {
	case "cut":
		px.Heal()
	case "hold":
		px.Release()
	}
	if px.fault != "" {
		ch.logf("healed %s (%s)", px.name, px.fault)
	}
	px.fault = ""
}

// finish stops the faults, closes the crashed members, waits for the
// members to agree with etcd within a TTL and a few seconds, and checks
// the whole history. A Cut lasts its minimum all the same: healed early, it
// could leave a member registered that missed changes for good.
func (ch *churn) finish() {
	ch.t.Helper()
	for _, px := range ch.proxies {
		if px.fault == "cut" {
			time.Sleep(time.Until(px.from.Add(churnMinCut))) // the fault's duration
		}
		ch.heal(px)
	}
	for _, cm := range ch.running {
		if cm.p != nil && cm.p.Frozen() {
			time.Sleep(time.Until(cm.thaw)) // the fault's duration
			ch.thaw(cm)
		}
	}
	for _, cm := range ch.crashed {
		cm.m.Close()
	}
	ch.crashed = nil
	ch.tick()
	ch.r.Converge(ch.cli, ch.prefix, churnSettling)
	live := 0
	for _, cm := range ch.running {
		if ch.r.Registered(cm.inc) {
			live++
		}
	}
	ch.t.Logf("churn: %s; %d members live at the end", ch.summary(), live)
}

// summary counts what the churn did and what the members saw.
func (ch *churn) summary() string {
	var b strings.Builder
	for _, k := range []string{"join", "start", "rejoin", "leave", "crash", "freeze", "cut", "hold"} {
		fmt.Fprintf(&b, "%s %d, ", k, ch.counts[k])
	}
	masters, offline := 0, 0
	for _, inc := range ch.r.H.Incarnations() {
		for _, rec := range ch.r.H.Records(inc) {
			switch {
			case rec.Type.MakesMaster():
				masters++
			case rec.Type == events.Offline:
				offline++
			}
		}
	}
	fmt.Fprintf(&b, "%d incarnations, %d masterships, %d OFFLINE", len(ch.r.H.Incarnations()), masters, offline)
	return b.String()
}
