package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/examples/internal/proctest"
)

func TestRefusedAtOnce(t *testing.T) {
	for _, role := range []string{"coordinator", "worker"} {
		for _, tc := range proctest.Refusals {
			t.Run(role+" "+strings.Join(tc.Args, " "), func(t *testing.T) {
				// The context ends the run only if the flags are not refused.
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				var out, errb strings.Builder
				start := time.Now()
				code := run(ctx, append([]string{role, "--prefix", "/p", "--id", "a", "--listen", "127.0.0.1:0"}, tc.Args...), &out, &errb)
				proctest.CheckRefused(t, time.Since(start), code, 2, out.String(), errb.String(), append([]string{"catalog-sync " + role + ": "}, tc.Want...))
			})
		}
	}
}

// TestHelp: COMMAND -h, COMMAND --help and help COMMAND print the command's
// usage and every flag with its description on standard output and exit 0,
// without reaching etcd or a coordinator; -h, --help and help alone print
// the program's usage; an unknown flag is refused in one line that names it
// and says where the flags are listed.
func TestHelp(t *testing.T) {
	serve := map[string]string{
		"--id":        "this process's id",
		"--log-level": "(default INFO)",
		"--endpoints": `(default "127.0.0.1:2379")`,
	}
	client := map[string]string{"--coordinator": "base URL of any coordinator"}
	worker := map[string]string{
		"--catalog-dir":          "Trino's DIR/NAME.properties (mode 0600)",
		"--after-change":         "run without a shell after each file written or removed",
		"--after-change-timeout": "(default 30s)",
	}
	for k, v := range serve {
		worker[k] = v
	}
	descs := map[string]map[string]string{
		"coordinator": serve,
		"worker":      worker,
		"put":         {"--connector": "the catalog's connector", "--property-file": "a file of key=value lines"},
		"drop":        client,
		"status":      client,
	}
	for cmd, want := range descs {
		for _, args := range [][]string{{cmd, "-h"}, {cmd, "--help"}, {"help", cmd}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var stdout, stderr strings.Builder
				code := run(context.Background(), args, &stdout, &stderr)
				proctest.CheckHelp(t, code, stdout.String(), stderr.String(), cmdUsage[cmd], want)
			})
		}
		t.Run(cmd+" unknown flag", func(t *testing.T) {
			var stdout, stderr strings.Builder
			start := time.Now()
			code := run(context.Background(), []string{cmd, "--colour", "red"}, &stdout, &stderr)
			proctest.CheckRefused(t, time.Since(start), code, 2, stdout.String(), stderr.String(), []string{"catalog-sync " + cmd + ": ", "-colour", "catalog-sync " + cmd + " -h lists the flags"})
		})
	}
	for _, arg := range []string{"-h", "--help", "help"} {
		t.Run(arg, func(t *testing.T) {
			var stdout, stderr strings.Builder
			if code := run(context.Background(), []string{arg}, &stdout, &stderr); code != 0 || stdout.String() != usage+"\n" || stderr.Len() != 0 {
				t.Errorf("exit code %d, stdout %q, stderr %q; want 0, the usage, nothing", code, stdout.String(), stderr.String())
			}
		})
	}
}

// TestFileFlagsRefused: the worker's file flags that cannot work are
// refused at once, in one line naming the flag.
func TestFileFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--after-change", "true"}, "--after-change needs --catalog-dir"},
		{[]string{"--catalog-dir", t.TempDir(), "--after-change", "  "}, "--after-change: empty command"},
		{[]string{"--catalog-dir", t.TempDir(), "--after-change-timeout", "0s"}, "--after-change-timeout 0s"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out, errb strings.Builder
			start := time.Now()
			code := run(ctx, append([]string{"worker", "--prefix", "/p", "--id", "a"}, tc.args...), &out, &errb)
			proctest.CheckRefused(t, time.Since(start), code, 2, out.String(), errb.String(), []string{"catalog-sync worker: ", tc.want})
		})
	}
}
