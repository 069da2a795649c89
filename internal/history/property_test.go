package history

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/events"
)

// sim runs a group of members on one timeline and records what each
// incarnation would print, with events.Diff turning the views each one sees
// into its events. It keeps the contract by construction:
//
//   - etcd's state is the list of live keys in join order; each key gets
//     the next revision;
//   - a member sees the current state whenever it looks, but may skip some
//     states (it looks at random), as a watch that coalesces;
//   - a mastership ends before anyone else can see the next master: a
//     member that loses its registration prints OFFLINE before its key may
//     go, a killed process ends before its key expires, a master that
//     yields sees its re-created key before the others look.
type sim struct {
	rng   *rand.Rand
	now   time.Time
	rev   int64
	keys  []events.Node // live keys, in join order
	procs []*proc
	runs  map[string]int // incarnations started per member id
}

// proc is one incarnation.
type proc struct {
	name  string
	id    string
	alive bool
	key   int64     // CreateRevision of its registration's key; 0 when not registered
	w     *watcher  // what it has seen
	recs  []Record  // what it printed
	end   time.Time // when its process ended, if !alive
	// yields are when it called Yield without looking at once: its
	// mastership ended then, and its CHANGE_TO_SLAVE comes when it looks.
	yields []time.Time
}

var simIDs = []string{"a", "b", "c", "d", "e"}

func newSim(seed uint64) *sim {
	return &sim{
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now:  t0,
		runs: map[string]int{},
	}
}

// tick advances the clock, always, so that two changes of one member never
// share an instant.
func (s *sim) tick() time.Time {
	s.now = s.now.Add(time.Duration(1+s.rng.IntN(1000)) * time.Microsecond)
	return s.now
}

func (s *sim) newKey(id string) int64 {
	s.rev++
	s.keys = append(s.keys, nd(id, s.rev))
	return s.rev
}

func (s *sim) deleteKey(rev int64) {
	s.rev++
	s.keys = slices.DeleteFunc(s.keys, func(n events.Node) bool { return n.CreateRevision == rev })
}

// owned reports whether the key of rev belongs to a registered incarnation;
// other keys are orphans, left by a killed or offline process, that expire.
func (s *sim) owned(rev int64) bool {
	return slices.ContainsFunc(s.procs, func(p *proc) bool { return p.alive && p.key == rev })
}

// look makes p see the current state.
func (s *sim) look(p *proc) {
	p.recs = append(p.recs, p.w.see(s.tick(), s.keys...)...)
}

// step applies one random operation, then lets each registered member look
// or not.
func (s *sim) step() {
	switch op := s.rng.IntN(10); {
	case op < 3:
		s.start()
	case op < 5:
		s.lose()
	case op < 6:
		s.reregister()
	case op < 7:
		s.kill()
	case op < 8:
		s.expire()
	default:
		s.yield()
	}
	for _, p := range s.procs {
		if p.alive && p.key != 0 && s.rng.IntN(2) == 0 {
			s.look(p)
		}
	}
}

// pick returns a random incarnation for which ok holds, or nil.
func (s *sim) pick(ok func(*proc) bool) *proc {
	var ps []*proc
	for _, p := range s.procs {
		if ok(p) {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return ps[s.rng.IntN(len(ps))]
}

// start runs a new incarnation of a member that has no process and no key.
func (s *sim) start() {
	id := simIDs[s.rng.IntN(len(simIDs))]
	if slices.ContainsFunc(s.procs, func(p *proc) bool { return p.alive && p.id == id }) ||
		slices.ContainsFunc(s.keys, func(n events.Node) bool { return n.ID == id }) {
		return
	}
	s.runs[id]++
	p := &proc{name: fmt.Sprintf("%s#%d", id, s.runs[id]), id: id, alive: true, w: newWatcher(id)}
	p.key = s.newKey(id)
	s.procs = append(s.procs, p)
}

// lose makes a registered member lose its registration, as at its safe
// deadline: it prints OFFLINE first; its key is revoked at once or left to
// expire.
func (s *sim) lose() {
	if p := s.pick(func(p *proc) bool { return p.alive && p.key != 0 }); p != nil {
		s.offline(p, s.rng.IntN(2) == 0)
	}
}

func (s *sim) offline(p *proc, revoke bool) {
	p.recs = append(p.recs, p.w.see(s.tick())...)
	if revoke {
		s.deleteKey(p.key)
	}
	p.key = 0
}

// reregister makes an offline member register again, revoking its old key
// if it is still there.
func (s *sim) reregister() {
	if p := s.pick(func(p *proc) bool { return p.alive && p.key == 0 }); p != nil {
		s.register(p)
	}
}

func (s *sim) register(p *proc) {
	if i := slices.IndexFunc(s.keys, func(n events.Node) bool { return n.ID == p.id }); i >= 0 {
		s.deleteKey(s.keys[i].CreateRevision)
	}
	p.key = s.newKey(p.id)
}

// kill ends a process without a word; its key, if any, stays until it
// expires.
func (s *sim) kill() {
	if p := s.pick(func(p *proc) bool { return p.alive }); p != nil {
		p.alive, p.key, p.end = false, 0, s.tick()
	}
}

// terminate ends a process as SIGTERM does: OFFLINE, key revoked, exit.
func (s *sim) terminate(p *proc) {
	if p.key != 0 {
		s.offline(p, true)
	}
	p.alive, p.end = false, s.tick()
}

// expire deletes a key nobody keeps alive.
func (s *sim) expire() {
	var orphans []int64
	for _, n := range s.keys {
		if !s.owned(n.CreateRevision) {
			orphans = append(orphans, n.CreateRevision)
		}
	}
	if len(orphans) > 0 {
		s.deleteKey(orphans[s.rng.IntN(len(orphans))])
	}
}

// yield makes the master, if it knows it is master, re-create its key
// behind the others. It sees the outcome before anyone else looks, or, as
// the selector may, later: then its mastership's end is reported apart
// (History.EndMastership), as a harness does from the master context.
func (s *sim) yield() {
	if len(s.keys) < 2 {
		return
	}
	p := s.pick(func(p *proc) bool {
		return p.alive && p.key == s.keys[0].CreateRevision && p.w.view.IsMaster()
	})
	if p == nil {
		return
	}
	late := s.rng.IntN(2) == 0
	if late {
		p.yields = append(p.yields, s.tick())
	}
	s.deleteKey(p.key)
	p.key = s.newKey(p.id)
	if !late {
		s.look(p)
	}
}

// quiesce ends the faults: offline members register again or exit, orphan
// keys expire, and everybody looks at the final state.
func (s *sim) quiesce() {
	for _, p := range s.procs {
		if p.alive && p.key == 0 {
			if s.rng.IntN(2) == 0 {
				s.register(p)
			} else {
				s.terminate(p)
			}
		}
	}
	for slices.ContainsFunc(s.keys, func(n events.Node) bool { return !s.owned(n.CreateRevision) }) {
		s.expire()
	}
	for _, p := range s.procs {
		if p.alive && p.key != 0 {
			s.look(p)
		}
	}
}

// run generates a history of steps operations.
func (s *sim) run(steps int) {
	for range steps {
		s.step()
	}
	s.quiesce()
}

// history returns a History of the incarnations' records, as changed by
// edit (nil: as printed).
func (s *sim) history(edit func(name string, recs []Record) []Record) *History {
	h := &History{}
	for _, p := range s.procs {
		recs := slices.Clone(p.recs)
		if edit != nil {
			recs = edit(p.name, recs)
		}
		for _, r := range recs {
			h.Add(p.name, r)
		}
		for _, t := range p.yields {
			h.EndMastership(p.name, t)
		}
		if !p.alive {
			h.End(p.name, p.end)
		}
	}
	return h
}

// withoutYields reports f of the history without its EndMastership calls.
func withoutYields(s *sim, f func(*History) bool) bool {
	saved := make([][]time.Time, len(s.procs))
	for i, p := range s.procs {
		saved[i], p.yields = p.yields, nil
	}
	defer func() {
		for i, p := range s.procs {
			p.yields = saved[i]
		}
	}()
	return f(s.history(nil))
}

// want returns etcd's members and master.
func (s *sim) want() ([]string, string) {
	ids := make([]string, len(s.keys))
	for i, n := range s.keys {
		ids[i] = n.ID
	}
	return ids, firstOf(ids)
}

const propertyRuns = 400

// Histories generated by the contract pass every check.
func TestPropertyValidHistories(t *testing.T) {
	counts := map[events.Type]int{}
	lateYields, remasters := 0, 0 // histories that need EndMastership; masters again under a new epoch
	for seed := range uint64(propertyRuns) {
		s := newSim(seed)
		s.run(10 + int(seed%60))
		h := s.history(nil)
		if vs := Check(h, Options{}); len(vs) > 0 {
			t.Fatalf("seed %d: valid history fails:\n%s\nhistory:\n%s", seed, Format(vs), h)
		}
		want, master := s.want()
		if vs := CheckConvergence(h, want, master); len(vs) > 0 {
			t.Fatalf("seed %d: converged history fails (etcd %v):\n%s\nhistory:\n%s", seed, want, Format(vs), h)
		}
		for _, p := range s.procs {
			for i, r := range p.recs {
				counts[r.Type]++
				if i > 0 && r.Type == events.InitMaster && p.recs[i-1].Type == events.Offline && r.TS.Equal(p.recs[i-1].TS) {
					remasters++
				}
			}
		}
		if withoutYields(s, func(h *History) bool { return len(Check(h, Options{})) > 0 }) {
			lateYields++
		}
	}
	t.Logf("histories where a late CHANGE_TO_SLAVE needs EndMastership: %d; masters again under a new epoch: %d", lateYields, remasters)
	if lateYields == 0 || remasters == 0 {
		t.Error("the generator never reached a late CHANGE_TO_SLAVE after Yield, or a master again under a new epoch")
	}
	// The generator must reach every event, or the property says little.
	// (Except VALUE_CHANGE: the generator changes no values; events' and
	// selector's tests cover it.)
	for _, ty := range events.Types() {
		if ty != events.ValueChange && counts[ty] == 0 {
			t.Errorf("no %s generated", ty)
		}
	}
	t.Logf("events generated: %v", counts)
}

// mutation breaks one record of a valid history. It returns the edit, or
// nil if the history offers nothing to break, and whether the contract
// says every such edit must be caught.
type mutation struct {
	name string
	make func(s *sim, rng *rand.Rand) (edit func(string, []Record) []Record, must bool)
}

// target picks a random record of a random incarnation for which ok holds.
func target(s *sim, rng *rand.Rand, ok func(recs []Record, i int) bool) (string, int) {
	type at struct {
		name string
		i    int
	}
	var all []at
	for _, p := range s.procs {
		for i := range p.recs {
			if ok(p.recs, i) {
				all = append(all, at{p.name, i})
			}
		}
	}
	if len(all) == 0 {
		return "", -1
	}
	a := all[rng.IntN(len(all))]
	return a.name, a.i
}

// editOnly edits the records of one incarnation.
func editOnly(name string, f func([]Record) []Record) func(string, []Record) []Record {
	return func(n string, recs []Record) []Record {
		if n != name {
			return recs
		}
		return f(recs)
	}
}

func isSlaveEvent(t events.Type) bool { return t == events.SlaveAdd || t == events.SlaveDel }

// laterInRegistration reports whether a record that is not OFFLINE follows
// recs[i] before the registration ends.
func laterInRegistration(recs []Record, i int) bool {
	return i+1 < len(recs) && recs[i+1].Type != events.Offline
}

var mutations = []mutation{
	{"drop a SLAVE_ADD or SLAVE_DEL before more of its registration", func(s *sim, rng *rand.Rand) (func(string, []Record) []Record, bool) {
		name, i := target(s, rng, func(recs []Record, i int) bool {
			return isSlaveEvent(recs[i].Type) && laterInRegistration(recs, i)
		})
		if i < 0 {
			return nil, false
		}
		return editOnly(name, func(recs []Record) []Record { return slices.Delete(recs, i, i+1) }), true
	}},
	{"rename a node of a SLAVE_ADD or SLAVE_DEL to a stranger", func(s *sim, rng *rand.Rand) (func(string, []Record) []Record, bool) {
		name, i := target(s, rng, func(recs []Record, i int) bool { return isSlaveEvent(recs[i].Type) })
		if i < 0 {
			return nil, false
		}
		return editOnly(name, func(recs []Record) []Record {
			r := recs[i].Clone()
			r.Nodes[rng.IntN(len(r.Nodes))] = "stranger"
			recs[i] = r
			return recs
		}), true
	}},
	{"swap two records of different instants", func(s *sim, rng *rand.Rand) (func(string, []Record) []Record, bool) {
		name, i := target(s, rng, func(recs []Record, i int) bool { return i > 0 && recs[i].TS.After(recs[0].TS) })
		if i < 0 {
			return nil, false
		}
		return editOnly(name, func(recs []Record) []Record {
			j := rng.IntN(i)
			for !recs[j].TS.Before(recs[i].TS) {
				j = rng.IntN(i)
			}
			recs[i], recs[j] = recs[j], recs[i]
			return recs
		}), true
	}},
	{"drop any record", func(s *sim, rng *rand.Rand) (func(string, []Record) []Record, bool) {
		name, i := target(s, rng, func([]Record, int) bool { return true })
		if i < 0 {
			return nil, false
		}
		return editOnly(name, func(recs []Record) []Record { return slices.Delete(recs, i, i+1) }), false
	}},
	{"swap two events, each keeping its instant", func(s *sim, rng *rand.Rand) (func(string, []Record) []Record, bool) {
		name, i := target(s, rng, func(recs []Record, i int) bool { return i > 0 })
		if i < 0 {
			return nil, false
		}
		return editOnly(name, func(recs []Record) []Record {
			j := rng.IntN(i)
			recs[i], recs[j] = recs[j], recs[i]
			recs[i].TS, recs[j].TS = recs[j].TS, recs[i].TS
			return recs
		}), false
	}},
	{"change a node to another member", func(s *sim, rng *rand.Rand) (func(string, []Record) []Record, bool) {
		name, i := target(s, rng, func(recs []Record, i int) bool { return len(recs[i].Nodes) > 0 })
		if i < 0 {
			return nil, false
		}
		// Every node list is fixed by the record's view and the events
		// before it, so another node is always caught.
		return editOnly(name, func(recs []Record) []Record {
			r := recs[i].Clone()
			k := rng.IntN(len(r.Nodes))
			for old := r.Nodes[k]; r.Nodes[k] == old; {
				r.Nodes[k] = simIDs[rng.IntN(len(simIDs))]
			}
			recs[i] = r
			return recs
		}), true
	}},
}

// Breaking one record of a valid history is caught: always where the
// contract leaves no way out, most of the time otherwise (dropping the last
// record of a run, say, leaves a valid history).
func TestPropertyMutationsCaught(t *testing.T) {
	type tally struct{ tried, caught int }
	tallies := make([]tally, len(mutations))
	for seed := range uint64(propertyRuns) {
		s := newSim(seed)
		s.run(10 + int(seed%60))
		rng := rand.New(rand.NewPCG(seed, 1))
		for k, m := range mutations {
			edit, must := m.make(s, rng)
			if edit == nil {
				continue
			}
			h := s.history(edit)
			vs := Check(h, Options{})
			tallies[k].tried++
			if len(vs) > 0 {
				tallies[k].caught++
			} else if must {
				t.Fatalf("seed %d: %s not caught:\n%s", seed, m.name, h)
			}
		}
	}
	var tried, caught int
	for k, m := range mutations {
		t.Logf("%-65s caught %d of %d", m.name, tallies[k].caught, tallies[k].tried)
		if tallies[k].tried < propertyRuns/2 {
			t.Errorf("%s: tried only %d times", m.name, tallies[k].tried)
		}
		tried += tallies[k].tried
		caught += tallies[k].caught
	}
	if caught*10 < tried*8 {
		t.Errorf("caught %d of %d mutations, want at least 80%%", caught, tried)
	}
}
