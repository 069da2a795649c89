package selector

import (
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/seed764c596d/mastership/events"
)

// Members and concurrency.Election candidates on the same prefix follow one
// rule: the key with the smallest CreateRevision leads.
func TestElectionInterop(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	ctx := ctxFor(t, 60*time.Second)

	a := join(t, cli, prefix, "a")
	expect(t, a, events.InitMaster)

	session, err := concurrency.NewSession(cli, concurrency.WithTTL(int(testTTL.Seconds())))
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	candidate := fmt.Sprintf("%x", int64(session.Lease()))
	election := concurrency.NewElection(session, prefix)
	campaign := make(chan error, 1)
	go func() { campaign <- election.Campaign(ctx, "v-candidate") }()

	// The candidate is a member whose id is the last segment of its key.
	ev := expect(t, a, events.SlaveAdd, candidate)
	checkView(t, ev, "a", candidate)
	if ev.Nodes[0].Value != "v-candidate" {
		t.Errorf("candidate's node: %+v, want value v-candidate", ev.Nodes[0])
	}
	b := join(t, cli, prefix, "b")
	checkView(t, expect(t, b, events.InitSlave, "a"), "a", candidate, "b")
	expect(t, a, events.SlaveAdd, "b")

	// The Election sees the selector's master as its leader.
	leader, err := concurrency.NewElection(session, prefix).Leader(ctx)
	if err != nil {
		t.Fatalf("Leader: %v", err)
	}
	if k, v := string(leader.Kvs[0].Key), string(leader.Kvs[0].Value); k != a.Key() || v != "v-a" {
		t.Errorf("Election leader %s=%s, want %s=v-a", k, v, a.Key())
	}
	select {
	case err := <-campaign:
		t.Fatalf("Campaign returned %v while selector member a leads", err)
	default:
	}

	// a leaves: the candidate wins its campaign, and b follows it.
	shutdown(t, a)
	select {
	case err := <-campaign:
		if err != nil {
			t.Fatalf("Campaign: %v", err)
		}
	case <-time.After(waitTime):
		t.Fatalf("Campaign still waiting %v after a closed", waitTime)
	}
	checkView(t, expect(t, b, events.MasterChange, candidate), candidate, "b")
	expect(t, b, events.SlaveDel, candidate)

	// The candidate resigns: b is master.
	if err := election.Resign(ctx); err != nil {
		t.Fatalf("Resign: %v", err)
	}
	checkView(t, expect(t, b, events.ChangeToMaster), "b")
	leader, err = concurrency.NewElection(session, prefix).Leader(ctx)
	if err != nil || string(leader.Kvs[0].Key) != b.Key() {
		t.Errorf("Election leader after Resign: %v, %v; want %s", leader, err, b.Key())
	}
}

// A rolling upgrade mixes members that count keys without a lease (as
// concurrency.Election, and this package before it refused them, count
// every key) with members that do not. The two rules name the same master
// as long as no key without a lease is older than every member's key: a
// plain put made after the members joined changes neither rule's master.
func TestMixedRulesAgree(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	ctx := ctxFor(t, waitTime)
	a := join(t, cli, prefix, "a")
	expect(t, a, events.InitMaster)
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	if _, err := cli.Put(ctx, prefix+"/config", "plain"); err != nil {
		t.Fatal(err)
	}
	session, err := concurrency.NewSession(cli, concurrency.WithTTL(int(testTTL.Seconds())))
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	// The rule that counts every key, as an old member applies it.
	leader, err := concurrency.NewElection(session, prefix).Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(leader.Kvs[0].Key); got != a.Key() || b.View().Master().ID != "a" {
		t.Errorf("every key counted: leader %s; leased keys only: %s; want both %s", got, b.View().Master().ID, a.Key())
	}
	// Not so for a key without a lease older than the members': the old
	// rule would make it master. That is why an upgrade starts with none
	// (see the package documentation).
	if _, err := cli.Delete(ctx, prefix+"/config"); err != nil {
		t.Fatal(err)
	}
}
