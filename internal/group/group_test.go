package group

import (
	"strings"
	"testing"

	"github.com/seed764c596d/mastership/events"
)

func TestKey(t *testing.T) {
	for in, want := range map[string]string{"/a": "/a/", "/a/": "/a/", "a": "a/", "/": "/"} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMember(t *testing.T) {
	for _, tc := range []struct {
		key  string
		id   string
		isOK bool
	}{
		{"/g/a", "a", true},
		{"/g/a/b", "a/b", true}, // nested: counted, as the selector does
		{"/g/", "", false},      // the prefix itself
		{"/g", "", false},
		{"/g2/a", "", false}, // another group
		{"/h/a", "", false},
		{"/g/\xff", "", false}, // not valid UTF-8: no member of this module
	} {
		n, ok := Member("/g/", KV{Key: tc.key, Value: "v", CreateRevision: 7, Lease: 9})
		if ok != tc.isOK || n.ID != tc.id || (ok && (n.Value != "v" || n.CreateRevision != 7)) {
			t.Errorf("Member(%q) = %+v, %v; want id %q, %v", tc.key, n, ok, tc.id, tc.isOK)
		}
		if n, ok := Member("/g/", KV{Key: tc.key, Value: "v", CreateRevision: 7}); ok {
			t.Errorf("Member(%q) without a lease = %+v; want no member", tc.key, n)
		}
		// Every key under the group's prefix but the prefix itself is
		// stray without a lease, whatever its id.
		stray := strings.HasPrefix(tc.key, "/g/") && tc.key != "/g/"
		if got := Stray("/g/", KV{Key: tc.key, CreateRevision: 7}); got != stray {
			t.Errorf("Stray(%q) without a lease = %v, want %v", tc.key, got, stray)
		}
	}
}

func TestMembers(t *testing.T) {
	kvs := map[string]KV{
		"/g/c":      {Key: "/g/c", CreateRevision: 5, Lease: 1},
		"/g/b":      {Key: "/g/b", CreateRevision: 3, Lease: 1},
		"/g/a":      {Key: "/g/a", CreateRevision: 3, Lease: 2}, // same transaction as b: the smaller id first
		"/g/":       {Key: "/g/", CreateRevision: 1, Lease: 1},
		"/g2/x":     {Key: "/g2/x", CreateRevision: 1, Lease: 1},
		"/g/d/e":    {Key: "/g/d/e", CreateRevision: 2, Lease: 1},
		"/gother":   {Key: "/gother", CreateRevision: 1, Lease: 1},
		"/g/config": {Key: "/g/config", CreateRevision: 1}, // no lease: never a member, let alone master
	}
	got := events.IDs(Members("/g/", kvs))
	want := []string{"d/e", "a", "b", "c"}
	if len(got) != len(want) {
		t.Fatalf("Members = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Members = %v, want %v", got, want)
		}
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		key      string
		name, id string
		isOK     bool
	}{
		{"/p/db/a", "db", "a", true},
		{"/p/db/a/b", "db", "a/b", true},
		{"/p/db/", "", "", false},
		{"/p/db", "", "", false},
		{"/p/", "", "", false},
		{"/p//a", "", "", false},
		{"/q/db/a", "", "", false},
	} {
		name, id, ok := Split("/p/", tc.key)
		if name != tc.name || id != tc.id || ok != tc.isOK {
			t.Errorf("Split(%q) = %q, %q, %v; want %q, %q, %v", tc.key, name, id, ok, tc.name, tc.id, tc.isOK)
		}
	}
}

// Split and Member agree: the members Split finds for group g of parent
// are those Member finds for the group at parent + g.
func FuzzSplit(f *testing.F) {
	f.Add("/p/", "/p/db/a/b")
	f.Add("/p/", "/p//x")
	f.Add("/", "//")
	f.Fuzz(func(t *testing.T, parent, key string) {
		parent = Key(parent)
		name, id, ok := Split(parent, key)
		if !ok {
			return
		}
		n, mok := Member(Key(parent+name), KV{Key: key, Lease: 1})
		if !mok || n.ID != id {
			t.Fatalf("Split(%q, %q) = %q, %q; Member of %q gives %q, %v", parent, key, name, id, parent+name, n.ID, mok)
		}
	})
}
