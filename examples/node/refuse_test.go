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
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := run(ctx, append([]string{"--prefix", "/p", "--id", "a"}, tc.Args...), &stdout, &stderr)
			proctest.CheckRefused(t, time.Since(start), code, 2, stdout.String(), stderr.String(), append([]string{"node: "}, tc.Want...))
		})
	}
}

// TestWarningWithoutTLS: a user and password over a connection without TLS
// are allowed, with a one-line warning on standard error that names the
// endpoint and never the password.
func TestWarningWithoutTLS(t *testing.T) {
	const password = "pw-Plain-9d2a"
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // nothing listens at the endpoint: the run only has to start
	var stdout, stderr bytes.Buffer
	run(ctx, []string{"--prefix", "/p", "--id", "a", "--endpoints", "127.0.0.1:1", "--user", "svc", "--password-file", writeFile(t, password+"\n")}, &stdout, &stderr)
	first, _, _ := strings.Cut(stderr.String(), "\n")
	const want = "node: warning: --user: the password goes to etcd at 127.0.0.1:1 without TLS"
	if !strings.HasPrefix(first, want) {
		t.Errorf("first line of stderr = %q, want it to start %q", first, want)
	}
	if strings.Contains(stderr.String()+stdout.String(), password) {
		t.Errorf("the output shows the password: %q", stderr.String())
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
			code := run(context.Background(), []string{arg}, &stdout, &stderr)
			proctest.CheckHelp(t, code, stdout.String(), stderr.String(), usage, map[string]string{
				"--value-file": "file holding this member's value",
				"--ttl":        "lease TTL",
				"--endpoints":  `(default "127.0.0.1:2379")`,
			})
		})
	}
	t.Run("unknown flag", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		start := time.Now()
		code := run(context.Background(), []string{"--colour", "red"}, &stdout, &stderr)
		proctest.CheckRefused(t, time.Since(start), code, 2, stdout.String(), stderr.String(), []string{"node: ", "-colour", "node -h lists the flags"})
	})
}
