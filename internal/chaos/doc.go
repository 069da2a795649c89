// Package chaos holds the test suite that drives mastership through bad
// days (crashed, stopped and frozen processes, partitions, etcd restarts
// and outages, an etcd leader killed, an etcd member isolated, compaction,
// churn) and checks every member's history with internal/history: at most
// one master at any instant, epochs that only grow, events that replay to
// their views, OFFLINE first after a freeze past the deadline, and
// convergence once the faults stop.
//
// Frozen processes: the harness stops a node program with SIGSTOP
// (Process.Freeze), as a stop-the-world pause or a suspended VM would,
// and resumes it with SIGCONT (Process.Thaw). It records both in the
// history, the freeze once the kernel shows the process stopped, so the
// checker knows when a frozen master stopped acting: its mastership ends
// at the freeze only if its first event after the thaw is OFFLINE, and a
// member thawed past its deadline (a freeze of at least the TTL) whose
// first event is anything else breaks the frozen rule.
//
// The suite runs on package mastershiptest, as a user's tests of their own
// service would: each scenario starts its etcd with NewCluster (three
// members WithMembers(3) where etcd's own faults need them), and injects
// its faults with the kit's methods: a member's fault proxy (Member.Proxy)
// to cut members off from etcd, Member.Kill and Restart for a crashed etcd
// member, Member.Isolate and Rejoin for one partitioned from its peers,
// Cluster.Compact. The members' clients use the kit's client configuration
// (Cluster.Config). What stays the suite's own is its harness (node
// processes, frozen with SIGSTOP, and the run's seeded choices) and the
// checker it calls directly, internal/history, which the kit's Recorder
// is built on.
//
// Cuts between members and etcd go through mastershiptest.Proxy. A cut
// shorter than the safe deadline holds the traffic (Hold, Release) and
// loses no byte, as a real partition does to a live TCP connection; a Cut,
// which drops bytes from connections that stay open, is only for cuts
// longer than the TTL, which no member survives registered. A crash of
// etcd breaks its clients' connections at once (Break, until Heal) before
// it kills the member, as a crashed process's connections end.
//
// The one case no deadline covers: someone deletes the master's key or
// revokes its lease by hand. The old master and its successor learn of it
// from watch events at about the same moment, so their masterships may
// overlap, and only Guard or the epoch keeps their writes apart. The suite
// does this on purpose in TestDeleteMasterKey: it records the deletion in
// the history (History.DeletedKey), the checker measures the overlap
// (history.ExternalOverlaps) instead of reporting it as two masters, and
// the test logs its length. An old master that never says OFFLINE is
// still a violation.
//
// The node program has no way to be told to Yield, so the suite does not
// freeze a member during a Yield.
//
// A short, seeded run of every scenario is part of `go test ./...`. The
// randomised churn, with its kills, stops, freezes and cuts, also runs as
// a soak test:
//
//	MASTERSHIP_SOAK=10m MASTERSHIP_SEED=42 go test -run TestSoak -timeout 0 -v ./internal/chaos
//
// A failing run prints its seed and the offending part of the history;
// MASTERSHIP_SEED replays the same random choices.
package chaos
