package election

import (
	"strings"
	"testing"

	"github.com/seed764c596d/mastership/internal/group"
)

// FuzzDecodeLeader feeds keys as someone else may write them under an
// election's prefix through the decoding of the leader. Whatever the bytes,
// it must not panic, the leader must be the earliest-created key (ties to
// the smaller key), and its ID must be the last segment of its key.
//
// The input is a list of keys, each a length byte then that many bytes,
// created in that order; a repeated key keeps its first CreateRevision.
func FuzzDecodeLeader(f *testing.F) {
	f.Add([]byte("\x04/e/a\x06/e/x/y\x04/e/\xff\x03/e/"))
	f.Add([]byte("\x00\x01/\x02//"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys := map[string]group.KV{}
		var first *group.KV
		for rev := int64(1); len(data) > 0; rev++ {
			n := min(int(data[0]), len(data)-1)
			key := string(data[1 : 1+n])
			data = data[1+n:]
			if _, ok := keys[key]; ok {
				continue
			}
			kv := group.KV{Key: key, Value: "v", CreateRevision: rev}
			keys[key] = kv
			if first == nil {
				first = &kv
			}
		}
		l := leaderAmong(keys)
		if first == nil {
			if !l.IsZero() {
				t.Fatalf("leader %+v among no keys", l)
			}
			return
		}
		if l.Key != first.Key || l.Epoch != first.CreateRevision {
			t.Fatalf("leader %q (epoch %d), want the first created, %q", l.Key, l.Epoch, first.Key)
		}
		if strings.Contains(l.ID, "/") || !strings.HasSuffix(l.Key, l.ID) {
			t.Fatalf("leader %q has ID %q, want its last segment", l.Key, l.ID)
		}
	})
}
