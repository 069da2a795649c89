package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/mastershiptest"
)

// TestTribesRecord: a member's record carries what a Tribes member carries
// (host, ports, domain, unique id, alive time, payload), and every peer's
// table holds it as etcd does; an update (SetValue in place) reaches every
// peer, the member itself included; a graceful leave reaches every other
// peer as a leave with the reason the member gave, and a member cut off for
// longer than its TTL as an expiry.
func TestTribesRecord(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	cli := etcd.Client(t).Client
	info := Info{Host: "10.1.2.3", Port: 4000, SecurePort: 4443, UDPPort: 4001, Domain: "d1",
		Payload: []byte{0, 1, 0xfe, 'x'}, Meta: map[string]string{"zone": "eu"}}
	before := time.Now()
	a := startInfo(t, cli, "a", info)
	b := start(t, etcd.Client(t).Client, "b", nil)
	px := etcd.Members[0].Client(t) // d's, behind a fault proxy of its own
	d := start(t, px.Client, "d", nil)
	t.Cleanup(px.Heal) // before d leaves
	peers := []*Peer{a, b, d}
	chs := make([]<-chan Change, len(peers))
	for i, p := range peers {
		chs[i] = listen(t, p)
		converge(t, p, chs[i], cli)
	}

	// The record in etcd, as another program would read it.
	resp, err := cli.Get(context.Background(), "/peers/a")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get /peers/a: %v, %d keys", err, len(resp.Kvs))
	}
	var raw map[string]any
	if err := json.Unmarshal(resp.Kvs[0].Value, &raw); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"host": "10.1.2.3", "port": 4000.0, "securePort": 4443.0, "udpPort": 4001.0,
		"domain": "d1", "uniqueId": a.UniqueID(), "payload": "AAH+eA=="} {
		if raw[k] != want {
			t.Errorf("record's %q = %v, want %v (record %s)", k, raw[k], want, resp.Kvs[0].Value)
		}
	}
	if len(a.UniqueID()) != 36 || a.UniqueID() == b.UniqueID() {
		t.Errorf("unique ids %q and %q: want two different UUIDs", a.UniqueID(), b.UniqueID())
	}

	// Every peer's table holds a's record.
	for _, p := range peers {
		var got Member
		for _, m := range p.Table().Members() {
			if m.ID == "a" {
				got = m
			}
		}
		if got.Host != info.Host || got.Port != info.Port || got.SecurePort != info.SecurePort || got.UDPPort != info.UDPPort ||
			got.Domain != info.Domain || !bytes.Equal(got.Payload, info.Payload) || !maps.Equal(got.Meta, info.Meta) ||
			got.UniqueID != a.UniqueID() || got.Address() != "10.1.2.3:4000" {
			t.Errorf("%s's table holds a as %+v, want %+v with unique id %s", p.ID(), got, info, a.UniqueID())
		}
		now := time.Now()
		if alive := got.AliveTime(now); alive < 0 || alive > now.Sub(before)+time.Second {
			t.Errorf("%s: a's alive time %v, want between 0 and %v", p.ID(), alive, now.Sub(before))
		}
	}

	// An update in place reaches every peer, a included.
	rev := a.Table().Members()[0].CreateRevision
	if err := a.SetPayload(context.Background(), []byte("v2")); err != nil {
		t.Fatal(err)
	}
	for i, p := range peers {
		u := waitFor(t, chs[i], 5*time.Second, "UPDATE a on "+p.ID(), is(Update, "a"))
		if string(u.Member.Payload) != "v2" || u.Member.CreateRevision != rev || u.Member.Port != info.Port {
			t.Errorf("%s: UPDATE a = %+v, want payload v2, revision %d, port %d", p.ID(), u.Member, rev, info.Port)
		}
	}

	// A graceful leave, with its reason, is a leave for every other peer.
	if err := a.LeaveBecause(context.Background(), "rolling upgrade"); err != nil {
		t.Fatal(err)
	}
	for i, p := range peers[1:] {
		ch := chs[i+1]
		if c := waitFor(t, ch, 5*time.Second, "LEAVING a on "+p.ID(), is(Leaving, "a")); c.String() != "LEAVING a (rolling upgrade)" {
			t.Errorf("%s: %v, want LEAVING a (rolling upgrade)", p.ID(), c)
		}
		l := waitFor(t, ch, 5*time.Second, "LEAVE a on "+p.ID(), is(Leave, "a"))
		if l.Reason != Graceful || l.Why() != "left (rolling upgrade)" {
			t.Errorf("%s: %v, want LEAVE a left (rolling upgrade)", p.ID(), l)
		}
	}

	// d is cut off for longer than its TTL: b sees it expire.
	cutAt := time.Now()
	px.Cut()
	l := waitFor(t, chs[1], ttl+5*time.Second, "LEAVE d on b", is(Leave, "d"))
	if l.Reason != Expired || l.String() != "LEAVE d expired (crash or cut off)" {
		t.Errorf("b: %v, want LEAVE d expired (crash or cut off)", l)
	}
	if since := time.Since(cutAt); since < ttl-time.Second {
		t.Errorf("d expired %v after the cut, before its TTL %v", since, ttl)
	}
	if got := converge(t, b, chs[1], cli); ids(got) != "b" {
		t.Errorf("b's table %s, want b alone", ids(got))
	}
}
