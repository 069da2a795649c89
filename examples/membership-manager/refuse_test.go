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
				var stderr bytes.Buffer
				start := time.Now()
				all := append(append(append([]string{}, args...), "--prefix", "/mm"), tc.Args...)
				code := run(ctx, all, &stderr)
				proctest.CheckRefused(t, time.Since(start), code, 2, "", stderr.String(), append([]string{"membership-manager " + args[0] + ": "}, tc.Want...))
			})
		}
	}
}
