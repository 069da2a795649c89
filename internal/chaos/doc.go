// Package chaos holds the test suite that drives mastership through bad
// days (crashed and stopped processes, partitions, etcd restarts and
// outages, an etcd leader killed, an etcd member isolated, compaction,
// churn) and checks every member's history with internal/history: at most
// one master at any instant, epochs that only grow, events that replay to
// their views, and convergence once the faults stop.
//
// A short, seeded run of every scenario is part of `go test ./...`. The
// randomised churn also runs as a soak test:
//
//	MASTERSHIP_SOAK=10m MASTERSHIP_SEED=42 go test -run TestSoak -timeout 0 -v ./internal/chaos
//
// A failing run prints its seed and the offending part of the history;
// MASTERSHIP_SEED replays the same random choices.
package chaos
