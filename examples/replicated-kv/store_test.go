package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/seed764c596d/mastership/examples/replicated-kv/kvpb"
)

func containsWord(s, w string) bool { return strings.Contains(s, w) }

func put(k, v string) *kvpb.Op { return &kvpb.Op{Kind: kvpb.Op_PUT, Key: k, Value: []byte(v)} }

func TestStoreFencing(t *testing.T) {
	st := newStore()
	if err := st.restore(10, 0, 3, []*kvpb.Entry{{Key: "a", Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		do    func() error
		want  error
		index int64
	}{
		{"next write", func() error { return st.apply(10, 0, 4, put("b", "2")) }, nil, 4},
		{"gap", func() error { return st.apply(10, 0, 6, put("c", "3")) }, errOutOfOrder, 4},
		{"repeat", func() error { return st.apply(10, 0, 4, put("c", "3")) }, errOutOfOrder, 4},
		{"stale epoch", func() error { return st.apply(9, 0, 5, put("c", "3")) }, errStaleEpoch, 4},
		{"below the view's epoch", func() error { return st.apply(10, 11, 5, put("c", "3")) }, errStaleEpoch, 4},
		{"newer epoch without a snapshot", func() error { return st.apply(12, 0, 5, put("c", "3")) }, errOutOfOrder, 4},
		{"which does not fence", func() error { return st.apply(10, 0, 5, put("c", "3")) }, nil, 5},
		// A snapshot of this epoch that arrives after a newer one (or after
		// writes past it) would take back acknowledged writes.
		{"late snapshot of the same epoch", func() error { return st.restore(10, 0, 4, nil) }, errOutOfOrder, 5},
		{"stale snapshot", func() error { return st.restore(9, 0, 9, nil) }, errStaleEpoch, 5},
		{"newer snapshot", func() error { return st.restore(12, 0, 1, []*kvpb.Entry{{Key: "z", Value: []byte("9")}}) }, nil, 1},
		{"old epoch after it", func() error { return st.apply(10, 0, 6, put("c", "3")) }, errStaleEpoch, 1},
		{"stale master's own write", func() error { _, err := st.applyNext(10, put("c", "3")); return err }, errStaleEpoch, 1},
		{"stale master begins", func() error { return st.begin(11) }, errStaleEpoch, 1},
		{"write after it", func() error { return st.apply(12, 0, 2, put("y", "8")) }, nil, 2},
	} {
		err := tc.do()
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if _, _, idx := st.state(); idx != tc.index {
			t.Fatalf("%s: index %d, want %d", tc.name, idx, tc.index)
		}
	}
	if _, ok, _ := st.get("a"); ok {
		t.Error("a survived the newer snapshot")
	}
	if v, ok, _ := st.get("y"); !ok || string(v) != "8" {
		t.Error("y missing")
	}
	if idx, entries := st.snapshot(); idx != 2 || len(entries) != 2 || entries[0].GetKey() != "y" {
		t.Errorf("snapshot = %d %v, want 2 [y z]", idx, entries)
	}
}
