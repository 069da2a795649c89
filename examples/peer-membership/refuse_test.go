package main

import (
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
