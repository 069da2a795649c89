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
