// Command mastership runs a program on exactly one machine of a group: the
// master of a mastership group in etcd.
//
//	mastership run --prefix /jobs/report --id host-1 [--ttl 5s] [--grace 1s] [--on-exit restart|yield|exit] -- ./report.sh args...
//
// Three more commands look at a group without joining it, for operators and
// scripts:
//
//	mastership members --prefix /jobs/report [--json]
//	mastership leader --prefix /jobs/report [--watch]
//	mastership watch --prefix /jobs/report
//
// members prints the group in join order (a table, or one JSON document);
// leader prints its master ("master=ID epoch=E value=V", or "no master"),
// and with --watch a line per change of master; watch prints one JSON line
// per change of the members: {"ts":...,"master":...,"members":[...],"epoch":...},
// whose contract is in docs/programs.md beside the node program's. They
// read the group through selector.Members and selector.Observe, so that
// they count as members exactly the keys the members count (a key without
// a lease, or whose id is not valid UTF-8, is none) and name the master
// that mastership run obeys. They take the same etcd flags and variables
// as run (below) and --dial-timeout: an etcd that does not answer within
// it is one line on standard error and exit 1, a bad flag one line and
// exit 2, SIGINT or SIGTERM exit 0. Ids and values that hold characters
// that do not print are escaped, never written raw, since anyone who may
// write under the prefix chooses them.
//
// # mastership run
//
// Each machine runs the same command with its own --id. The supervisor joins
// the group as a member (package selector); while it is master it runs the
// program, and it stops the program before any other member can become
// master and start its own copy.
//
// # The program
//
// The program runs with the supervisor's standard input, output and error
// and its environment, plus MASTERSHIP_PREFIX, MASTERSHIP_ID,
// MASTERSHIP_EPOCH (the epoch of this mastership: a fencing token that only
// grows, for the program to hand to the stores it writes) and
// MASTERSHIP_VALUE (--value). ETCD_PASSWORD, ETCDCTL_PASSWORD and
// ETCDCTL_USER (which may hold a password) are removed from it. The program
// runs in a process group of its own, led by a small reaper process (this
// binary again, in a hidden mode), so that the supervisor can signal
// everything the program started, and so that all of it dies with the
// supervisor (see "If the supervisor dies" below).
//
// # Reaching etcd
//
// The etcd flags are those of the example programs (package etcdflags:
// --endpoints, --cacert, --cert, --key, --user, --password-file; the
// password from --password-file or $ETCD_PASSWORD, never from the command
// line). etcdctl's variables, which operators have set already, stand for
// the flags not given (etcdflags.Flags.UseEtcdctlEnv): $ETCDCTL_ENDPOINTS,
// $ETCDCTL_CACERT, $ETCDCTL_CERT, $ETCDCTL_KEY and $ETCDCTL_USER. A flag
// given on the command line wins over its variable, and a variable over the
// flag's default. $ETCDCTL_USER may be name:password, as etcdctl allows;
// the password comes from the first of --password-file,
// $ETCDCTL_PASSWORD, $ETCD_PASSWORD and the part of $ETCDCTL_USER after
// its first ":" (an explicit password wins, as etcdctl's --password does).
// No error or log line shows it; an error about a value taken from a
// variable names the variable. --user name:password stays refused, since
// the process list shows flags.
//
// # The stop rule
//
// The selector knows its safe deadline: the instant before which etcd
// cannot have expired its lease, whatever happens to the network (the send
// time of its last acknowledged keep-alive, plus the TTL, minus a safety
// margin of a tenth of the TTL, at least 250ms). No other member can
// become master before it. So the supervisor sends SIGTERM to the
// program's whole process group
//
//   - as soon as the mastership ends (the selector's MasterContext is done),
//   - and already when the safe deadline is less than --grace away with no
//     keep-alive acknowledged since it was set,
//
// and SIGKILL to the group when the safe deadline arrives, or --grace after
// the SIGTERM if that comes first. A program stopped because its deadline
// came near is started again, under the same epoch, if a keep-alive is
// acknowledged before the deadline (the connection was only slow), as soon
// as it is.
//
// --grace must be less than the safe window (the TTL minus the safety
// margin). The keep-alives come every quarter of the safe window, so with
// a grace over half the window one late keep-alive stops the program:
// the supervisor warns of it.
//
// The limit: the rule is carried out by the supervisor's timers. A
// supervisor that cannot run (frozen by SIGSTOP, a suspended VM, a machine
// stalled for longer than the safety margin) sends no signal, and the
// program, which keeps running, may still be running when another member's
// starts. A mastership taken away early (someone deletes the master's key
// or revokes its lease by hand; etcd expires the lease before the safe
// deadline because its clock runs faster than the margin allows) lets the
// next master start at once,
// while this program gets its SIGTERM as soon as the supervisor hears of it
// and its SIGKILL after --grace. For those cases, only the epoch, checked
// by the stores the program writes, keeps the two apart.
//
// # If the supervisor dies
//
// The reaper leads the program's process group and holds the read end of a
// pipe whose only write end the supervisor holds. When the supervisor dies,
// whatever kills it (SIGKILL, the OOM killer, a crash), the kernel closes
// its end; the reaper reads end-of-file and sends SIGKILL to its whole
// group, itself included, within a millisecond or so. This works on every
// Unix system (Linux, macOS, the BSDs) and does not depend on Linux's
// parent-death signal, which Go ties to the thread that started the child
// (Go issue 27505) and which reaches only the direct child. A program that
// leaves its process group (a daemon that calls setsid) escapes it: run
// programs in the foreground. The reaper ignores SIGTERM and SIGINT, which
// reach the program; if the reaper itself is killed, the supervisor kills
// the group it leaves. When the program exits by itself, whatever it left
// behind in its group is killed too.
//
// # When the program exits by itself
//
// --on-exit says what the supervisor does when the program exits while the
// member is master: restart (the default) starts it again after a delay
// that doubles from 250ms up to 30s, and falls back to 250ms once the
// program has run for 30s; yield hands the mastership to the next member
// (and restarts the program as for restart if there is none), then waits to
// become master again; exit closes the member, so that the next member
// takes over at once, and exits with the program's status.
//
// # Signals and exit codes
//
// SIGTERM or SIGINT to the supervisor sends SIGTERM to the program's group,
// waits up to --grace (not past the safe deadline) for it to end, sends
// SIGKILL, then closes the member, revoking its lease so that a standby
// takes over at once. The exit codes:
//
//	0    stopped by SIGTERM or SIGINT (whatever the program's status: it was asked to stop)
//	1    etcd unreachable at start-up (within --dial-timeout plus twice the TTL),
//	     a duplicate id, etcd refusing the user at start-up or later
//	2    a bad flag or argument, no program, a program not found
//	N    with --on-exit exit, the program's status: its exit code, 128+n
//	     if a signal n ended it, 127 if it could not be started
//
// Every error is one line on standard error. The supervisor's own logs go to
// standard error too, through log/slog, as text or JSON (--log-format), from
// --log-level (INFO by default: the start and stop of the program, with its
// epoch). The program's output is its own.
//
// -h or --help (or mastership help COMMAND) prints the usage and every flag
// on standard output and exits 0. mastership run needs a Unix system; the
// other commands run anywhere.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == reaperArg {
		os.Exit(reap(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: mastership COMMAND [flags]

commands:
  run      run a program only while this member is master of its group
  members  print the members of a group, in join order
  leader   print the master of a group (--watch: each change of master)
  watch    print one JSON line per change of a group's members

mastership COMMAND -h (or mastership help COMMAND) describes a command and its flags.`

// run is the program, with its signals as ctx; it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "mastership: no command (mastership -h lists them)")
		return 2
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		if args[0] == "help" && len(args) > 1 {
			// help CMD: CMD -h, for a known command.
			switch args[1] {
			case "run", "members", "leader", "watch":
				return run(ctx, []string{args[1], "-h"}, stdin, stdout, stderr)
			}
			fmt.Fprintf(stderr, "mastership: unknown command %q (mastership -h lists them)\n", args[1])
			return 2
		}
		fmt.Fprintln(stdout, usage)
		return 0
	case "run":
		return runCommand(ctx, args[1:], stdin, stdout, stderr)
	case "members":
		return membersCommand(ctx, args[1:], stdout, stderr)
	case "leader":
		return leaderCommand(ctx, args[1:], stdout, stderr)
	case "watch":
		return watchCommand(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "mastership: unknown command %q (mastership -h lists them)\n", args[0])
	return 2
}
