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
