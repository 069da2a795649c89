package selector

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/group"
)

// TestApplyChanges checks the members a watch response gives, updated from
// the previous members, against the group rebuilt and sorted from all its
// keys, as after a fresh read: over random responses that put, re-create
// and delete members (one at a time, as a join fans out, and in batches, as
// a watch catching up delivers them), touch a key more than once, and touch
// the prefix itself, which is no member. It also checks that the previous
// members, which published views share, are never modified.
func TestApplyChanges(t *testing.T) {
	const prefix = "/g/"
	r := rand.New(rand.NewPCG(764, 1))
	for seq := range 300 {
		st := group.State{KVs: map[string]group.KV{}}
		var members []events.Node
		rev := int64(1)
		for step := range 30 {
			st.Changed = st.Changed[:0]
			n := 1 + r.IntN(3)
			if r.IntN(5) == 0 {
				n = 10 + r.IntN(20) // a batch
			}
			for range n {
				rev++
				key := prefix + fmt.Sprintf("m%02d", r.IntN(40))
				switch r.IntN(10) {
				case 0:
					key = prefix // no member
				case 1, 2, 3:
					delete(st.KVs, key)
					st.Changed = append(st.Changed, key)
					continue
				}
				// A put: a new key, or a new value of a key that lives,
				// which keeps its CreateRevision. A tie now and then: keys
				// put in one transaction share their CreateRevision.
				kv, ok := st.KVs[key]
				if !ok {
					kv = group.KV{Key: key, CreateRevision: rev - int64(r.IntN(2)), Lease: 1}
				}
				if r.IntN(10) == 0 {
					// Another writer's plain put detaches the key from
					// its lease: no member any more.
					kv.Lease = 0
				} else if kv.Lease == 0 {
					kv.Lease = 1
				}
				kv.Value = fmt.Sprint(rev)
				st.KVs[key] = kv
				st.Changed = append(st.Changed, key)
			}
			before := slices.Clone(members)
			got := applyChanges(prefix, members, st)
			if !slices.Equal(members, before) {
				t.Fatalf("sequence %d, step %d: applyChanges modified the previous members", seq, step)
			}
			want := group.Members(prefix, st.KVs)
			if !slices.Equal(got, want) {
				t.Fatalf("sequence %d, step %d: changes %q\n got %v\nwant %v", seq, step, st.Changed, got, want)
			}
			members = got
		}
	}
}
