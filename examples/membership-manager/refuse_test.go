package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/examples/internal/proctest"
)

func TestRefusedAtOnce(t *testing.T) {
	for _, args := range [][]string{
		{"worker", "--host", "10.0.0.1", "--port", "5432"},
		{"manager", "--id", "m1", "--target", "command", "--command", os.Args[0]},
	} {
		for _, tc := range proctest.Refusals {
			t.Run(args[0]+" "+strings.Join(tc.Args, " "), func(t *testing.T) {
				// The context ends the run only if the flags are not refused.
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				var stdout, stderr bytes.Buffer
				start := time.Now()
				all := append(append(append([]string{}, args...), "--prefix", "/mm"), tc.Args...)
				code := run(ctx, all, &stdout, &stderr)
				proctest.CheckRefused(t, time.Since(start), code, 2, stdout.String(), stderr.String(), append([]string{"membership-manager " + args[0] + ": "}, tc.Want...))
			})
		}
	}
}

// TestHelp: ROLE -h, ROLE --help and help ROLE print the role's usage and
// every flag with its description on standard output and exit 0, without
// reaching etcd; -h, --help and help alone print the program's usage; an
// unknown flag is refused in one line that names it and says where the
// flags are listed.
func TestHelp(t *testing.T) {
	descs := map[string]map[string]string{
		"worker": {
			"--host":           "the host the target reaches this worker at",
			"--prefix":         `(default "/membership-manager")`,
			"--endpoints":      "etcd endpoints",
			"--check-dsn-file": "the worker is in the group only while it answers",
		},
		"manager": {
			"--target":        "what to keep: sql",
			"--grace-left":    "how long a node whose worker left",
			"--password-file": "the etcd user's password",
			"--listen":        "/healthz, /manager-ready and /metrics",
		},
	}
	for role, want := range descs {
		for _, args := range [][]string{{role, "-h"}, {role, "--help"}, {"help", role}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code := run(context.Background(), args, &stdout, &stderr)
				proctest.CheckHelp(t, code, stdout.String(), stderr.String(), roleUsage[role], want)
			})
		}
		t.Run(role+" unknown flag", func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := run(context.Background(), []string{role, "--colour", "red"}, &stdout, &stderr)
			proctest.CheckRefused(t, time.Since(start), code, 2, stdout.String(), stderr.String(), []string{"membership-manager " + role + ": ", "-colour", "membership-manager " + role + " -h lists the flags"})
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
