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
