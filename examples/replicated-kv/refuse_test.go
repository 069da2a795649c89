package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/examples/internal/proctest"
)

func TestRefusedAtOnce(t *testing.T) {
	for _, args := range [][]string{
		{"server", "--name", "a"},
		{"put", "k", "v"},
		{"get", "k"},
		{"delete", "k"},
		{"client", "--count", "1"},
	} {
		for _, tc := range proctest.Refusals {
			if args[0] != "server" && tc.Args[0] == "--ttl" {
				continue // only the server has a TTL
			}
			t.Run(args[0]+" "+strings.Join(tc.Args, " "), func(t *testing.T) {
				// The context ends the run only if the flags are not refused.
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				var stdout, stderr bytes.Buffer
				start := time.Now()
				// The flags before the arguments, which end them.
				all := append(append([]string{args[0], "--prefix", "/kv"}, tc.Args...), args[1:]...)
				code := run(ctx, all, &stdout, &stderr)
				proctest.CheckRefused(t, time.Since(start), code, 2, stdout.String(), stderr.String(), append([]string{"replicated-kv " + args[0] + ": "}, tc.Want...))
			})
		}
	}
}

// TestHelp: COMMAND -h, COMMAND --help and help COMMAND print the command's
// usage and every flag with its description on standard output and exit 0,
// without reaching etcd; -h, --help and help alone print the program's
// usage; an unknown flag is refused in one line that names it and says
// where the flags are listed.
func TestHelp(t *testing.T) {
	client := map[string]string{
		"--prefix":    "the group's prefix in etcd",
		"--retry-for": "how long to retry an operation",
		"--endpoints": `(default "127.0.0.1:2379")`,
	}
	descs := map[string]map[string]string{
		"server": {
			"--name":                "this server's name",
			"--replication-timeout": "bound of each call to a slave",
			"--endpoints":           `(default "127.0.0.1:2379")`,
		},
		"put":    client,
		"get":    client,
		"delete": client,
		"client": {"--count": "how many writes", "--interval": "pause between writes"},
	}
	for cmd, want := range descs {
		for _, args := range [][]string{{cmd, "-h"}, {cmd, "--help"}, {"help", cmd}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code := run(context.Background(), args, &stdout, &stderr)
				proctest.CheckHelp(t, code, stdout.String(), stderr.String(), cmdUsage[cmd], want)
			})
		}
		t.Run(cmd+" unknown flag", func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := run(context.Background(), []string{cmd, "--colour", "red"}, &stdout, &stderr)
			proctest.CheckRefused(t, time.Since(start), code, 2, stdout.String(), stderr.String(), []string{"replicated-kv " + cmd + ": ", "-colour", "replicated-kv " + cmd + " -h lists the flags"})
		})
	}
	for _, arg := range []string{"-h", "--help", "help"} {
		t.Run(arg, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), []string{arg}, &stdout, &stderr); code != 0 || stdout.String() != usage+"\n" || stderr.Len() != 0 {
				t.Errorf("exit code %d, stdout %q, stderr %q; want 0, the usage, nothing", code, stdout.String(), stderr.String())
			}
		})
	}
}
