package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// report renders the results as Markdown.
func (b *bench) report(args []string) string {
	var w strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&w, format, a...) }
	p("Command: `go run -C bench . %s`  \n", strings.Join(args, " "))
	p("Started %s, took %v.  \n", b.start.UTC().Format("2006-01-02 15:04 MST"), time.Since(b.start).Round(time.Second))
	p("Machine: %s.  \n", machine())
	p("Load average (1, 5, 15 min) at the start: %s; at the end: %s.  \n", b.loadStart, loadavg())
	p("Times in milliseconds. Percentiles by nearest rank: with fewer than 100 trials, p99 is the maximum.\n\n")

	if b.floorPW != nil {
		p("### Graceful handover\n\n")
		p("The leader resigns (mastership: `Close`; concurrency.Election: `Resign` then `Session.Close`; client-go: cancel with `ReleaseOnCancel`); time until the follower leads. Floor: one put seen by a watcher on another client.\n\n")
		p("| | trials | median | p90 | p99 | max | median ÷ mastership | median ÷ floor |\n|---|---|---|---|---|---|---|---|\n")
		ref := b.handover[mastershipC(5*time.Second).name]
		row := func(name string, d *dist) {
			r := "–"
			if ref != nil {
				r = ratio(d.median(), ref.median())
			}
			p("| %s | %d | %s | %s | %s | %s | %s | %s |\n", name, d.n(), ms(d.median()), ms(d.p90()), ms(d.p99()), ms(d.max()), r, ratio(d.median(), b.floorPW.median()))
		}
		row("floor: put → watch", b.floorPW)
		for _, c := range handoverContenders() {
			if d := b.handover[c.name]; d != nil && d.n() > 0 {
				row(c.name, d)
			}
		}
		p("\n")
	}

	if len(b.cuts) > 0 {
		ttls := make([]time.Duration, 0, len(b.expiry))
		for t := range b.expiry {
			ttls = append(ttls, t)
		}
		slices.Sort(ttls)
		if b.cfg.measures["crash"] {
			p("### Crash failover\n\n")
			p("The leader's connection to etcd is blackholed by a fault proxy at a random moment (to etcd a crashed process looks the same); time from the cut until the follower leads. Floor: a lease's key deleted, timed from the send of its last keep-alive (the TTL plus etcd's expiry check).\n\n")
			p("| | trials | median | p90 | p99 | max | median ÷ mastership | median ÷ floor | p99 − TTL |\n|---|---|---|---|---|---|---|---|---|\n")
			for _, ttl := range ttls {
				fl := b.expiry[ttl]
				ref := failovers(b.cuts[mastershipC(ttl).name])
				row := func(name string, d *dist, ttl time.Duration) {
					r := "–"
					if ref.n() > 0 {
						r = ratio(d.median(), ref.median())
					}
					p("| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", name, d.n(), ms(d.median()), ms(d.p90()), ms(d.p99()), ms(d.max()), r, ratio(d.median(), fl.median()), ms(d.p99()-ttl))
				}
				row(fmt.Sprintf("floor: lease expiry, TTL %v", ttl), fl, ttl)
				for _, c := range cutContenders(ttl) {
					if rs, ok := b.cuts[c.name]; ok {
						row(c.name, failovers(rs), ttl)
					}
				}
			}
			if rs, ok := b.cuts[clientGoDefault().name]; ok {
				d := failovers(rs)
				p("| %s | %d | %s | %s | %s | %s | %s | – | %s |\n", clientGoDefault().name, d.n(), ms(d.median()), ms(d.p90()), ms(d.p99()), ms(d.max()), ratio(d.median(), failovers(b.cuts[mastershipC(5*time.Second).name]).median()), ms(d.p99()-15*time.Second))
			}
			p("\n")
		}
		if b.cfg.measures["partition"] {
			p("### Partition overlap\n\n")
			p("The same cut, seen from the old leader, which lives on: overlap = the old leader's end of leadership (mastership: `MasterContext` cancelled; concurrency.Election: `Session.Done`; client-go: the `OnStartedLeading` context cancelled) minus the new leader's start. Negative is safe; positive is two leaders at once.\n\n")
			p("| | trials | old leader noticed | overlap min | median | max | trials with two leaders |\n|---|---|---|---|---|---|---|\n")
			var cs []contender
			for _, ttl := range ttls {
				cs = append(cs, cutContenders(ttl)...)
			}
			cs = append(cs, clientGoDefault())
			for _, c := range cs {
				rs, ok := b.cuts[c.name]
				if !ok {
					continue
				}
				var d dist
				noticed, positive := 0, 0
				for _, r := range rs {
					d.add(r.overlap)
					if r.ended {
						noticed++
					}
					if !r.ended || r.overlap > 0 {
						positive++
					}
				}
				p("| %s | %d | %d | %s | %s | %s | %d |\n", c.name, d.n(), noticed, ms(d.min()), ms(d.median()), ms(d.max()), positive)
			}
			p("\n")
		}
	}

	if len(b.fanouts) > 0 {
		p("### Fan-out\n\n")
		p("A member joins a group of N (`selector.New`); time until every member has emitted its SLAVE_ADD. Floor: N watches on the same clients see one put. concurrency.Election and client-go have no membership to compare.\n\n")
		p("| N | clients | build the group | trials | last member: median | p90 | max | any member: median | floor, last watcher: median | max | last member ÷ floor (medians) |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range b.fanouts {
			p("| %d | %d | %v | %d | %s | %s | %s | %s | %s | %s | %s |\n", r.n, r.clients, r.setup.Round(100*time.Millisecond), r.last.n(), ms(r.last.median()), ms(r.last.p90()), ms(r.last.max()), ms(r.member.median()), ms(r.floorLast.median()), ms(r.floorLast.max()), ratio(r.last.median(), r.floorLast.median()))
		}
		p("\n")
	}

	if len(b.scales) > 0 {
		p("### At rest\n\n")
		p("Members in a child process (so that its memory, goroutines and CPU are theirs alone), on %s, after a %v settle, resting %v. Build: from the first member's start until every member sees its whole group (mastership; the other contenders: until every candidate is in the election). Members / client: members per process divided by the clients it opens. Heap: the child's live heap after a GC, minus that before the members (and before the clients, for the clients' columns; goroutines likewise). Requests: gRPC messages etcd received during the rest, per member per second, by method (a keep-alive is one message on a LeaseKeepAlive stream). CPU: the child's, per member; etcd's: the parent process's, which is etcd's and the idle benchmark's.\n\n", clientsText(b.cfg.scaleClients), b.cfg.settle, b.cfg.rest)
		p("| | groups × members | members / process | members / client | build | goroutines / member | heap KiB / member | clients' heap KiB / member | clients' goroutines / member | goroutines after rest − before | requests / member / s | by method | client CPU µs / member / s | etcd CPU ms / s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range b.scales {
			n := float64(r.members())
			secs := r.rest.Seconds()
			var total float64
			var keys []string
			for k, v := range r.msgs {
				total += v
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var by []string
			for _, k := range keys {
				by = append(by, fmt.Sprintf("%s %.3f", k, r.msgs[k]/n/secs))
			}
			p("| %s | %d × %d | %d | %.0f | %v | %.1f | %.1f | %.1f | %.1f | %+d | %.3f | %s | %.1f | %.1f |\n", r.c.name, r.groups, r.perGroup,
				r.members(), n/float64(r.clients), r.settled.Build.Round(10*time.Millisecond),
				float64(r.settled.Goroutines-r.base.Goroutines)/n,
				float64(int64(r.settled.HeapBytes)-int64(r.base.HeapBytes))/n/1024,
				float64(int64(r.base.HeapBytes)-int64(r.bare.HeapBytes))/n/1024,
				float64(r.base.Goroutines-r.bare.Goroutines)/n,
				r.done.Goroutines-r.settled.Goroutines,
				total/n/secs, strings.Join(by, ", "),
				float64((r.done.CPU-r.settled.CPU).Microseconds())/n/secs,
				float64(r.etcdCPU.Milliseconds())/secs)
		}
		p("\n")

		var joins, recs []*scaleResult
		for _, r := range b.scales {
			if r.joins.n() > 0 {
				joins = append(joins, r)
			}
			if r.recovery != nil {
				recs = append(recs, r)
			}
		}
		if len(joins) > 0 {
			p("### Joins at scale\n\n")
			p("In the same child, after the rest: a member joins group 0 (`selector.New`, on %s); time from the call until the last member of the group has emitted its SLAVE_ADD (stamped with the event's time). The joiner then closes, and every member sees its SLAVE_DEL before the next trial.\n\n", joinerClient(b.cfg.scaleClients))
			p("Where the tail comes from: the first member's time is etcd's, its watch stream's and the client's (the members' follower gets one watch response for all of them); the gap to the last member is the members' own work and the machine's. The child's garbage collections during each trial are counted, and the last member's p99 is given again over the trials without one.\n\n")
			p("| | groups × members | members / client | trials | last member: median | p90 | p99 | max | first member: median | p99 | trials with a GC | last member p99, trials without |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
			for _, r := range joins {
				var quiet dist
				withGC := 0
				for i, v := range r.joins.vals {
					if i < len(r.joinsGC) && r.joinsGC[i] > 0 {
						withGC++
						continue
					}
					quiet.vals = append(quiet.vals, v)
				}
				quietP99 := "–"
				if quiet.n() > 0 {
					quietP99 = ms(quiet.p99())
				}
				p("| %s | %d × %d | %.0f | %d | %s | %s | %s | %s | %s | %s | %d | %s |\n", r.c.name, r.groups, r.perGroup, float64(r.members())/float64(r.clients), r.joins.n(), ms(r.joins.median()), ms(r.joins.p90()), ms(r.joins.p99()), ms(r.joins.max()),
					ms(r.joinsFirst.median()), ms(r.joinsFirst.p99()), withGC, quietP99)
			}
			p("\n")
		}
		if len(recs) > 0 {
			p("### Recovery from an etcd outage\n\n")
			p("Last in the same child: the embedded etcd is killed (as a crash: its server hard-stopped, then closed; its data kept) and kept down for the TTL + 5 s, so that every member's registration ends, then restarted on the same ports and data. Recovery: from the restart until every member is registered (state Refresh) with a view of its whole group (the event that completed the last one). Over the same span, in the parent process, which is etcd and the idle benchmark: CPU; bytes etcd sent and received (`etcd_network_client_grpc_sent_bytes_total` and `_received_bytes_total`: marshalled gRPC messages, without HTTP/2 framing); gRPC messages received; heap (`HeapAlloc`): after a GC before the stop, the peak sampled every 100 ms during the recovery, and after a GC once recovered.\n\n")
			p("| | groups × members | members / client | down | etcd ready | recovery | etcd CPU s | sent MiB | received MiB | messages received | heap MiB before | peak | after |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
			for _, r := range recs {
				rc := r.recovery
				p("| %s | %d × %d | %.0f | %v | %v | %v | %.2f | %.3f | %.3f | %.0f | %.1f | %.1f | %.1f |\n", r.c.name, r.groups, r.perGroup, float64(r.members())/float64(r.clients),
					rc.down.Round(100*time.Millisecond), rc.ready.Round(time.Millisecond), rc.recovery.Round(10*time.Millisecond), rc.etcdCPU.Seconds(),
					rc.sentBytes/(1<<20), rc.recvBytes/(1<<20), rc.msgs, mib(rc.heapBefore), mib(rc.heapPeak), mib(rc.heapAfter))
				if rc.notOffline > 0 {
					p("\n%s %d × %d: %d members emitted no Offline while etcd was down.\n", r.c.name, r.groups, r.perGroup, rc.notOffline)
				}
			}
			p("\n")
		}
	}
	return w.String()
}

func failovers(rs []cutResult) *dist {
	var d dist
	for _, r := range rs {
		d.add(r.failover)
	}
	return &d
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// clientsText says what clients the members of a scale child use.
func clientsText(clients int) string {
	switch {
	case clients == 0:
		return "one client per member"
	case clients < 0:
		return "one client per 100 members (at least 1, at most 10)"
	default:
		return fmt.Sprintf("%d clients shared by the members", clients)
	}
}

func joinerClient(clients int) string {
	if clients == 0 {
		return "a client of its own, made before the call"
	}
	return "the members' first client"
}
