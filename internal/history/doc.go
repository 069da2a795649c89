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
// nothing more and its mastership ends with it.
//
// Check applies the rules that hold for any history:
//
//   - one-master: no two incarnations are master at the same instant;
//   - epoch: masterships follow each other with growing epochs, and no
//     member sees the epoch go down while it stays registered;
//   - replay: each incarnation's records, replayed in order, rebuild exactly
//     the views they carry, in the order and with the nodes the contract
//     fixes.
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
