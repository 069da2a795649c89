package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Member is one live member of the group as every node's table holds it,
// decoded from its selector node: id, value and CreateRevision.
type Member struct {
	// ID is the member's id: its key with the group prefix removed.
	ID string
	// Incarnation is a random id the member's process drew when it started:
	// a member that restarts under the same id comes back with another one,
	// while a member that only lost and regained its registration keeps it.
	Incarnation string
	// Since is when the member's process started (Tribes' alive time).
	Since time.Time
	// Meta is the member's metadata, which it may change while it lives.
	Meta map[string]string
	// Leaving is set when the member has announced a graceful leave: its
	// key is about to go.
	Leaving bool
	// CreateRevision is the revision that created the member's key: it
	// orders the members, and changes with every registration.
	CreateRevision int64
}

// record is the value of a member's key in etcd.
type record struct {
	Incarnation string            `json:"incarnation"`
	Since       time.Time         `json:"since"`
	Meta        map[string]string `json:"meta,omitempty"`
	Leaving     bool              `json:"leaving,omitempty"`
}

func (r record) encode() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // a struct of strings, a time and a bool always marshals
	}
	return string(b)
}

// decodeMember builds a Member from a key's value. A value that is not a
// record (a member written by another program) gives a Member with only
// its id and CreateRevision, and the error.
func decodeMember(id string, value []byte, createRev int64) (Member, error) {
	m := Member{ID: id, CreateRevision: createRev}
	var r record
	if err := json.Unmarshal(value, &r); err != nil {
		return m, fmt.Errorf("member %q: value is not a peer record: %w", id, err)
	}
	m.Incarnation, m.Since, m.Meta, m.Leaving = r.Incarnation, r.Since, r.Meta, r.Leaving
	return m, nil
}

// sameContent reports whether a and b hold the same metadata and marker;
// revisions are not compared.
func sameContent(a, b Member) bool {
	return a.Incarnation == b.Incarnation && a.Since.Equal(b.Since) &&
		a.Leaving == b.Leaving && maps.Equal(a.Meta, b.Meta)
}

// metaString prints metadata as k=v pairs in key order.
func metaString(meta map[string]string) string {
	keys := slices.Sorted(maps.Keys(meta))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + meta[k]
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// parseMeta parses "k=v" metadata; an empty value deletes the key on update.
func parseMeta(s string) (key, value string, err error) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return "", "", fmt.Errorf("metadata %q: want key=value", s)
	}
	return k, v, nil
}
