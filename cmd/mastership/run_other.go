//go:build !unix

package main

import (
	"context"
	"fmt"
	"io"
)

// mastership run needs process groups and signals: Unix systems only.

const reaperArg = "internal-reaper"

func reap([]string) int { return 2 }

func runCommand(_ context.Context, _ []string, _ io.Reader, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "mastership run: needs a Unix system (process groups and signals)")
	return 2
}
