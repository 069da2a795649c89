// Package history checks the event histories of a chaos test: what every
// member of a mastership group reported, one record per event, against the
// contract of the design note (design/events.md).
//
// A History holds the records of every incarnation, that is every run of a
// member's process: a member that is killed and restarted under the same id
// is two incarnations, because each run starts afresh with INIT_*. Records
// come from the node program's JSON lines (ParseLine, History.AddLine) or,
// for members run in-process, from their events (FromEvent). The harness also
// says when a process ended (History.End), since a killed process prints
// nothing more and its mastership ends with it; when it froze a process
// (SIGSTOP, History.Freeze) and thawed it (SIGCONT, History.Thaw); and when
// it deleted a master's key by hand (History.DeletedKey). The code under
// test adds the spans of its own master work (History.BeginWork, EndWork),
// with the epoch each ran under: what a service did as master, which is
// what must not overlap, whatever the library's events said.
//
// Check applies the rules that hold for any history:
//
//   - one-master: no two incarnations are master at the same instant. A
//     frozen master's mastership ends when it froze only if its first
//     event after the thaw is OFFLINE (or it printed nothing more: killed
//     or still frozen); otherwise it went on as master;
//   - epoch: masterships follow each other with growing epochs, and no
//     member sees the epoch go down while it stays registered. A member may
//     get the same epoch back after OFFLINE, by taking back a registration
//     that survived, only within one incarnation and only if no other
//     member was master in between; across members, epochs only grow;
//   - replay: each incarnation's records, replayed in order, rebuild exactly
//     the views they carry, in the order and with the nodes the contract
//     fixes;
//   - frozen: a member frozen while registered and thawed past its safe
//     deadline (a freeze of at least Options.TTL) emits OFFLINE before
//     anything else: "past the deadline, OFFLINE comes first";
//   - work: no two incarnations' spans of master work share an instant, and
//     a span never runs under an epoch below that of a span begun before
//     it, nor under the same epoch for another member. A span that a
//     deletion of its member's key by hand cut short is no violation.
//
// A deletion of the master's key (or a revoke of its lease) by hand is the
// one case the safe deadline does not cover: the old master and its
// successor learn of it at about the same moment. An overlap that such a
// deletion explains is no violation; ExternalOverlaps measures it, for the
// test to log. An old master that never ends is reported all the same.
//
// CheckConvergence adds the rule for the quiet end of a run, once faults have
// stopped: every live member agrees with etcd.
//
// A Violation names its rule, incarnations and times, and carries an excerpt
// of the history around it, so that a failing run can print it next to its
// seed and be understood without the full log.
//
// The package imports nothing of etcd: it reads records, and events.Diff is
// the only code of the library it trusts, in its tests.
package history
