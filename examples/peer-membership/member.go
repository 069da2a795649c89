package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Info is what a member says about itself: what a Tomcat Tribes member
// carries (org.apache.catalina.tribes.Member: getHost, getPort,
// getSecurePort, getUdpPort, getDomain, getPayload), plus metadata as
// key=value pairs. None of it is checked or used here: it is published for
// the other members, as Tribes publishes the address of its receiver.
type Info struct {
	// Host is where the member listens for data (Tribes' getHost: the
	// listen host of its ChannelReceiver).
	Host string
	// Port is its TCP listen port (getPort), 0 for none.
	Port int
	// SecurePort is its TCP/TLS listen port (getSecurePort), 0 for none.
	SecurePort int
	// UDPPort is its UDP listen port (getUdpPort), 0 for none.
	UDPPort int
	// Domain groups members logically (getDomain). The group is the
	// prefix: members of every domain under it are listed.
	Domain string
	// Payload is opaque application data (getPayload).
	Payload []byte
	// Meta is metadata, key=value pairs.
	Meta map[string]string
}

// Member is one live member of the group as every node's table holds it,
// decoded from its selector node: id, value and CreateRevision.
type Member struct {
	// ID is the member's id: its key with the group prefix removed.
	ID string
	// UniqueID is a random UUID the member's process drew when it started
	// (Tribes' getUniqueId): a member that restarts under the same id
	// comes back with another one, while a member that only lost and
	// regained its registration keeps it.
	UniqueID string
	Info
	// Since is when the member's process started, by its own clock; see
	// AliveTime.
	Since time.Time
	// Leaving is the reason the member gave when it announced a graceful
	// leave ("shutdown" by default): its key is about to go. Empty while
	// it is not leaving.
	Leaving string
	// CreateRevision is the revision that created the member's key: it
	// orders the members, and changes with every registration.
	CreateRevision int64
}

// AliveTime is how long the member has been alive at now (Tribes'
// getMemberAliveTime): now less Since. Since is the member's own clock, so
// the result is off by the skew between its clock and now's.
func (m Member) AliveTime(now time.Time) time.Duration {
	if m.Since.IsZero() {
		return 0
	}
	return now.Sub(m.Since)
}

// Address returns host:port, or "" when the member published no port.
func (m Member) Address() string {
	if m.Port == 0 {
		return ""
	}
	return net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
}

// record is the value of a member's key in etcd, as JSON. The payload
// travels as base64 (encoding/json's form of []byte).
type record struct {
	UniqueID   string            `json:"uniqueId"`
	Host       string            `json:"host,omitempty"`
	Port       int               `json:"port,omitempty"`
	SecurePort int               `json:"securePort,omitempty"`
	UDPPort    int               `json:"udpPort,omitempty"`
	Domain     string            `json:"domain,omitempty"`
	Since      time.Time         `json:"since"`
	Payload    []byte            `json:"payload,omitempty"`
	Meta       map[string]string `json:"meta,omitempty"`
	Leaving    string            `json:"leaving,omitempty"`
}

func (r record) encode() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // strings, ints, bytes, a time and a map of strings always marshal
	}
	return string(b)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails, per crypto/rand's documentation
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
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
	m.UniqueID, m.Since, m.Leaving = r.UniqueID, r.Since, r.Leaving
	m.Info = Info{Host: r.Host, Port: r.Port, SecurePort: r.SecurePort, UDPPort: r.UDPPort,
		Domain: r.Domain, Payload: r.Payload, Meta: r.Meta}
	return m, nil
}

// sameContent reports whether a and b hold the same record; revisions are
// not compared.
func sameContent(a, b Member) bool {
	return a.UniqueID == b.UniqueID && a.Since.Equal(b.Since) && a.Leaving == b.Leaving &&
		a.Host == b.Host && a.Port == b.Port && a.SecurePort == b.SecurePort && a.UDPPort == b.UDPPort &&
		a.Domain == b.Domain && bytes.Equal(a.Payload, b.Payload) && maps.Equal(a.Meta, b.Meta)
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
