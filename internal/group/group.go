package group

import (
	"strings"
	"unicode/utf8"

	"github.com/seed764c596d/mastership/events"
)

// KV is one live key under a followed prefix.
type KV struct {
	Key            string
	Value          string
	CreateRevision int64
	// Lease is the id of the lease the key is attached to; 0 for none.
	Lease int64
}

// Key returns the key prefix of the members of the group at prefix: prefix
// with a "/" appended, unless it ends in one already.
func Key(prefix string) string {
	if strings.HasSuffix(prefix, "/") {
		return prefix
	}
	return prefix + "/"
}

// ID decodes key as the id of a member of the group whose members' keys
// start with prefix (see Key): the rest of the key. It reports false for a
// key outside the group, for prefix itself, which names no member, and for
// an id that is not valid UTF-8, which no member of this module can have.
func ID(prefix, key string) (string, bool) {
	id, ok := strings.CutPrefix(key, prefix)
	if !ok || id == "" || !utf8.ValidString(id) {
		return "", false
	}
	return id, true
}

// Member decodes kv as a member of the group whose members' keys start with
// prefix (see Key). It reports false for a key that ID refuses, and for a
// key attached to no lease: such a key (an operator's plain put, or a
// member's key that another writer's plain put detached from its lease)
// belongs to no live member, never expires, and so can never be a member,
// let alone master.
func Member(prefix string, kv KV) (events.Node, bool) {
	id, ok := ID(prefix, kv.Key)
	if !ok || kv.Lease == 0 {
		return events.Node{}, false
	}
	return events.Node{ID: id, Value: kv.Value, CreateRevision: kv.CreateRevision}, true
}

// Stray reports whether kv, a key under prefix, is one that Member refuses
// although it is no key of another group: a key without a lease, or with an
// id that is not valid UTF-8. Members log such keys, once.
func Stray(prefix string, kv KV) bool {
	id, ok := strings.CutPrefix(kv.Key, prefix)
	if !ok || id == "" {
		return false
	}
	_, member := Member(prefix, kv)
	return !member
}

// Members returns the members of the group at key among kvs, in join order:
// the master first.
func Members(key string, kvs map[string]KV) []events.Node {
	var nodes []events.Node
	for _, kv := range kvs {
		if n, ok := Member(key, kv); ok {
			nodes = append(nodes, n)
		}
	}
	events.Sort(nodes)
	return nodes
}

// Split decodes a key under parent (a key prefix ending in "/", see Key)
// into the name of its group and its member id: the group is the first
// segment after parent, the id is the rest, which may itself contain "/".
// So the members it finds for group g are exactly those the selector finds
// at prefix parent + g. It reports false for a key that is not a member of
// any group: outside parent, parent itself, a key "<parent><g>" or
// "<parent><g>/" with no id, or an empty group name ("<parent>/x").
func Split(parent, key string) (name, id string, ok bool) {
	rest, ok := strings.CutPrefix(key, parent)
	if !ok {
		return "", "", false
	}
	name, id, ok = strings.Cut(rest, "/")
	if !ok || name == "" || id == "" || !utf8.ValidString(id) {
		return "", "", false
	}
	return name, id, true
}
