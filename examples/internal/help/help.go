// Package help gives every example program one way to answer -h and --help
// and to refuse a bad flag.
//
// Each program parses with a flag.FlagSet made with flag.ContinueOnError,
// whose output is io.Discard and whose name is the command as typed ("node",
// "replicated-kv put"), through Parse. Parse returns flag.ErrHelp for -h or
// --help: the program then writes its usage with Print on standard output
// and exits 0. Any other error of the flag package (an unknown flag, a
// missing or malformed value) comes back naming the flag, as the flag
// package says it, with a hint naming -h: the program prints it as one line
// on standard error and exits as for any bad flag.
package help

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Parse parses args with fs. It returns nil, flag.ErrHelp itself for -h or
// --help, or the flag package's error followed by "(NAME -h lists the
// flags)", NAME being fs's name.
func Parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w (%s -h lists the flags)", err, fs.Name())
}

// Print writes usage (one line or more, without a final newline), then
// every flag of fs, its type, description and default, as
// flag.FlagSet.PrintDefaults does but with the two dashes that the programs'
// documentation uses, to w. fs's output is left as it was.
func Print(w io.Writer, fs *flag.FlagSet, usage string) {
	var b bytes.Buffer
	prev := fs.Output()
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(prev)
	// PrintDefaults starts each flag's line with "  -" and each line of a
	// description with a tab, so only a flag's line can start so.
	lines := strings.SplitAfter(b.String(), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "  -") {
			lines[i] = "  --" + l[len("  -"):]
		}
	}
	fmt.Fprintf(w, "%s\n\nflags:\n%s", usage, strings.Join(lines, ""))
}

// Handle parses args with fs as Parse does; for -h or --help it prints
// usage and every flag on out, as Print does, and reports asked, for a
// program whose run returns an error to return nil (exit 0) at once.
func Handle(fs *flag.FlagSet, args []string, out io.Writer, usage string) (asked bool, err error) {
	err = Parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		Print(out, fs, usage)
		return true, nil
	}
	return false, err
}
