package selector

import (
	"strings"
	"testing"
	"unicode/utf8"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/group"
)

func TestNode(t *testing.T) {
	const prefix = "/g/"
	for _, tc := range []struct {
		key  string
		id   string
		isID bool
	}{
		{"/g/a", "a", true},
		{"/g/", "", false},            // the prefix itself: an empty id
		{"/g", "", false},             // shorter than the prefix
		{"/h/a", "", false},           // another prefix
		{"/g2/a", "", false},          // a prefix that only starts the same
		{"/g/x/y", "x/y", true},       // nested: a member, whose id has a "/"
		{"/g/x/a", "x/a", true},       // nested, ending like member a: not a
		{"/g//", "/", true},           // odd, but its own member
		{"/g/\x00\n", "\x00\n", true}, // odd bytes, but valid UTF-8
		{"/g/\xff\x00\n", "", false},  // not valid UTF-8: no member of this package
		{"", "", false},
	} {
		n, ok := group.Member(prefix, group.KVOf(&mvccpb.KeyValue{Key: []byte(tc.key), CreateRevision: 3, Lease: 7}))
		if n.ID != tc.id || ok != tc.isID {
			t.Errorf("node(%q) = %q, %v; want %q, %v", tc.key, n.ID, ok, tc.id, tc.isID)
		}
		// Without a lease, no key is a member: it belongs to no live
		// member and never expires.
		if n, ok := group.Member(prefix, group.KVOf(&mvccpb.KeyValue{Key: []byte(tc.key), CreateRevision: 3})); ok {
			t.Errorf("node(%q) without a lease = %q; want no member", tc.key, n.ID)
		}
	}
}

// FuzzDecodeKeys feeds keys and values as someone else may write them under
// a member's prefix through the decoding of a view. Whatever the bytes, the
// decoding must not panic, must give each key its own id, must never let
// another key (a nested one, say) take the place of the member itself, and events.Diff must
// accept the views.
//
// The input is a list of keys, each a length byte then that many bytes; a
// length byte with its high bit set puts the key under the prefix.
func FuzzDecodeKeys(f *testing.F) {
	f.Add("/g", []byte("\x81a\x80\x83x/y\x83x/a\x04/g/b\x02\xff\x00"))
	f.Add("/g/", []byte("\x81/\x80\x00"))
	f.Add("/", []byte("\x81a\x82a/"))
	f.Add("/svc", []byte("\x8a1234567890"))
	f.Fuzz(func(t *testing.T, prefix string, data []byte) {
		if prefix == "" {
			return // New refuses it
		}
		if !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		const self = "a"
		s := &Selector{prefix: prefix, id: self, key: prefix + self}
		members := map[string]events.Node{}
		keyOf := map[string]string{} // id -> the key it came from
		// The member's own key, the first created.
		own := &mvccpb.KeyValue{Key: []byte(s.key), Value: []byte("v"), CreateRevision: 1, Lease: 1}
		kvs := []*mvccpb.KeyValue{own}
		for rev := int64(2); len(data) > 0; rev++ {
			n := int(data[0] & 0x7f)
			under := data[0]&0x80 != 0
			data = data[1:]
			n = min(n, len(data))
			key := string(data[:n])
			data = data[n:]
			if under {
				key = prefix + key
			}
			if key == s.key {
				// A write to the member's own key is the member's
				// business: its watch ends the registration when the
				// key's CreateRevision changes.
				continue
			}
			kvs = append(kvs, &mvccpb.KeyValue{Key: []byte(key), Value: data, CreateRevision: rev, Lease: rev})
		}
		var prev events.View
		for _, kv := range kvs {
			nd, ok := group.Member(prefix, group.KVOf(kv))
			if !ok {
				if id, under := strings.CutPrefix(string(kv.Key), prefix); under && id != "" && utf8.ValidString(id) {
					t.Fatalf("key %q under %q decoded as no member", kv.Key, prefix)
				}
				continue
			}
			if nd.ID == "" || prefix+nd.ID != string(kv.Key) {
				t.Fatalf("key %q decoded as id %q under %q", kv.Key, nd.ID, prefix)
			}
			if k, dup := keyOf[nd.ID]; dup && k != string(kv.Key) {
				t.Fatalf("keys %q and %q share id %q", k, kv.Key, nd.ID)
			}
			if nd.ID == self && kv != own {
				t.Fatalf("foreign key %q decoded as this member", kv.Key)
			}
			keyOf[nd.ID] = string(kv.Key)
			members[nd.ID] = nd
			next := events.View{Self: self, Revision: kv.CreateRevision}
			for _, n := range members {
				next.Members = append(next.Members, n)
			}
			events.Sort(next.Members)
			if !next.IsMaster() || next.Master().CreateRevision != 1 {
				t.Fatalf("view %v after key %q: the member, first created, is no longer master", next.IDs(), kv.Key)
			}
			events.Diff(prev, next)
			prev = next
		}
	})
}
