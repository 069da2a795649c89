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
			var out bytes.Buffer
			start := time.Now()
			err := run(ctx, append([]string{"--endpoints", "127.0.0.1:2379", "--name", "n1"}, tc.Args...), &out)
			took := time.Since(start)
			if err == nil {
				t.Fatalf("run: no error after %v, want one naming %q", took, tc.Want)
			}
			// main prints the error as one line and exits 1.
			proctest.CheckRefused(t, took, 1, 1, out.String(), message(err)+"\n", append([]string{"election: "}, tc.Want...))
		})
	}
}

// TestHelp: -h and --help print the usage and every flag with its
// description on standard output, and the program exits 0 (run returns nil)
// without starting anything.
func TestHelp(t *testing.T) {
	for _, arg := range proctest.HelpArgs {
		t.Run(arg, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), []string{arg}, &out); err != nil {
				t.Fatalf("run: %v, want nil (exit 0)", err)
			}
			proctest.CheckHelp(t, 0, out.String(), "", usage, map[string]string{
				"--name":      "this candidate's name",
				"--ttl":       "session TTL",
				"--endpoints": "etcd endpoints",
			})
		})
	}
}

// TestUnknownFlag: an unknown flag is refused in one line that names it and
// says where the flags are listed.
func TestUnknownFlag(t *testing.T) {
	var out bytes.Buffer
	start := time.Now()
	err := run(context.Background(), []string{"--colour", "red"}, &out)
	if err == nil {
		t.Fatal("run: no error, want one naming -colour")
	}
	proctest.CheckRefused(t, time.Since(start), 1, 1, out.String(), message(err)+"\n", []string{"election: ", "-colour", "election -h lists the flags"})
}
