package election

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/seed764c596d/mastership/internal/group"
)

// decodePrefix is the election prefix of the decoding tests.
const decodePrefix = "/e/"

// FuzzDecodeLeader feeds keys as someone else may write them under an
// election's prefix through the decoding of the leader. Whatever the bytes,
// it must not panic, the leader must be the earliest-created candidate (ties
// to the smaller key), and its ID must be the last segment of its key. A
// candidate is a key attached to a lease whose rest after the prefix is
// valid UTF-8 (the prefix itself counts): a key without a lease never
// expires, and would lead for ever.
//
// The input is a list of keys, each a flag byte (odd: attached to a lease),
// a length byte, then that many bytes, all after the prefix, created in that
// order; a repeated key keeps its first CreateRevision.
func FuzzDecodeLeader(f *testing.F) {
	// A lease-less key first, then candidates, one of them with an id that
	// is not UTF-8, and the prefix itself.
	f.Add([]byte("\x00\x01a\x00\x03x/y\x01\x01\xff\x01\x00\x01\x01b"))
	f.Add([]byte("\x01\x00\x00\x01/\x01\x02//"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys := map[string]group.KV{}
		var first *group.KV
		for rev := int64(1); len(data) >= 2; rev++ {
			leased := data[0]&1 == 1
			n := min(int(data[1]), len(data)-2)
			id := string(data[2 : 2+n])
			data = data[2+n:]
			key := decodePrefix + id
			if _, ok := keys[key]; ok {
				continue
			}
			kv := group.KV{Key: key, Value: "v", CreateRevision: rev}
			if leased {
				kv.Lease = rev
			}
			keys[key] = kv
			if first == nil && leased && utf8.ValidString(id) {
				first = &kv
			}
		}
		l := leaderAmong(decodePrefix, keys)
		if first == nil {
			if !l.IsZero() {
				t.Fatalf("leader %+v among no candidates (%v)", l, keys)
			}
			return
		}
		if l.Key != first.Key || l.Epoch != first.CreateRevision {
			t.Fatalf("leader %q (epoch %d), want the first candidate created, %q", l.Key, l.Epoch, first.Key)
		}
		if strings.Contains(l.ID, "/") || !strings.HasSuffix(l.Key, l.ID) {
			t.Fatalf("leader %q has ID %q, want its last segment", l.Key, l.ID)
		}
	})
}

// Keys without a lease, and keys whose id is not valid UTF-8, are no
// candidates, however early they were created; the prefix itself, with a
// lease, is one, as in concurrency.Election.
func TestLeaderAmongStrayKeys(t *testing.T) {
	kv := func(id string, rev, lease int64) group.KV {
		return group.KV{Key: decodePrefix + id, Value: id, CreateRevision: rev, Lease: lease}
	}
	for _, tc := range []struct {
		name string
		kvs  []group.KV
		want string // the leader's key, "" for none
	}{
		{"plain put first", []group.KV{kv("config", 1, 0), kv("a", 2, 7)}, decodePrefix + "a"},
		{"only plain puts", []group.KV{kv("config", 1, 0), kv("b", 2, 0)}, ""},
		{"id not UTF-8", []group.KV{kv("\xff", 1, 7), kv("a", 2, 8)}, decodePrefix + "a"},
		{"nested, not UTF-8", []group.KV{kv("x/\xfe", 1, 7), kv("a", 2, 8)}, decodePrefix + "a"},
		{"prefix with a lease", []group.KV{kv("", 1, 7), kv("a", 2, 8)}, decodePrefix},
		{"prefix without a lease", []group.KV{kv("", 1, 0), kv("a", 2, 8)}, decodePrefix + "a"},
		{"detached leader", []group.KV{kv("a", 1, 0), kv("b", 2, 8)}, decodePrefix + "b"},
	} {
		keys := map[string]group.KV{}
		for _, k := range tc.kvs {
			keys[k.Key] = k
		}
		if l := leaderAmong(decodePrefix, keys); l.Key != tc.want {
			t.Errorf("%s: leader %q, want %q", tc.name, l.Key, tc.want)
		}
	}
}
