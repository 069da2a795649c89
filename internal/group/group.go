package group

import (
	"strings"

	"github.com/seed764c596d/mastership/events"
)

// KV is one live key under a followed prefix.
type KV struct {
	Key            string
	Value          string
	CreateRevision int64
}

// Key returns the key prefix of the members of the group at prefix: prefix
// with a "/" appended, unless it ends in one already.
func Key(prefix string) string {
	if strings.HasSuffix(prefix, "/") {
		return prefix
	}
	return prefix + "/"
}

// Member decodes kv as a member of the group whose members' keys start with
// key (see Key). It reports false for a key outside the group, and for key
// itself, which names no member.
func Member(key string, kv KV) (events.Node, bool) {
	id, ok := strings.CutPrefix(kv.Key, key)
	if !ok || id == "" {
		return events.Node{}, false
	}
	return events.Node{ID: id, Value: kv.Value, CreateRevision: kv.CreateRevision}, true
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
	if !ok || name == "" || id == "" {
		return "", "", false
	}
	return name, id, true
}
