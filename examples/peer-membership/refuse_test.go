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
	for _, tc := range proctest.Refusals {
		t.Run(strings.Join(tc.Args, " "), func(t *testing.T) {
			// The context ends the run only if the flags are not refused.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out, errb strings.Builder
			start := time.Now()
			code := run(ctx, append([]string{"--prefix", "/p", "--id", "a"}, tc.Args...), strings.NewReader(""), &out, &errb)
			proctest.CheckRefused(t, time.Since(start), code, 2, out.String(), errb.String(), append([]string{"peer-membership: "}, tc.Want...))
		})
	}
}

// TestHelp: -h and --help print the usage and every flag with its
// description on standard output and exit 0, without reaching etcd; an
// unknown flag is refused in one line that names it and says where the
// flags are listed.
func TestHelp(t *testing.T) {
	for _, arg := range proctest.HelpArgs {
		t.Run(arg, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{arg}, strings.NewReader(""), &stdout, &stderr)
			proctest.CheckHelp(t, code, stdout.String(), stderr.String(), usage, map[string]string{
				"--meta":        "metadata key=value",
				"--id":          "this node's id",
				"--endpoints":   `(default "127.0.0.1:2379")`,
				"--host":        "where it receives data",
				"--port":        "the TCP port this node publishes",
				"--secure-port": "the TLS port",
				"--udp-port":    "the UDP port",
				"--domain":      "a label grouping members",
				"--payload":     "member payload",
			})
		})
	}
	t.Run("unknown flag", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		start := time.Now()
		code := run(context.Background(), []string{"--colour", "red"}, strings.NewReader(""), &stdout, &stderr)
		proctest.CheckRefused(t, time.Since(start), code, 2, stdout.String(), stderr.String(), []string{"peer-membership: ", "-colour", "peer-membership -h lists the flags"})
	})
}
