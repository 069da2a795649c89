package etcdflags

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// A program built on this module answers -h and --help, and refuses a bad
// flag, as the example programs and the mastership command do: it parses
// with a flag.FlagSet made with flag.ContinueOnError, whose output is
// io.Discard and whose name is the command as typed ("node", "mastership
// run"), through Parse. For flag.ErrHelp it writes its usage with
// PrintUsage on standard output and exits 0; any other error names the flag
// with a hint naming -h, for one line on standard error.

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

// PrintUsage writes usage (one line or more, without a final newline), then
// every flag of fs, its type, description and default, as
// flag.FlagSet.PrintDefaults does but with the two dashes that the programs'
// documentation uses, to w. fs's output is left as it was.
func PrintUsage(w io.Writer, fs *flag.FlagSet, usage string) {
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
