// Package help holds Handle, the parse-or-print of the example programs
// whose run returns an error (demo, election): the idiom itself, Parse and
// PrintUsage, is etcdflags', shared with the other programs and the
// mastership command.
package help

import (
	"errors"
	"flag"
	"io"

	"github.com/seed764c596d/mastership/etcdflags"
)

// Handle parses args with fs as etcdflags.Parse does; for -h or --help it
// prints usage and every flag on out, as etcdflags.PrintUsage does, and reports asked, for a
// program whose run returns an error to return nil (exit 0) at once.
func Handle(fs *flag.FlagSet, args []string, out io.Writer, usage string) (asked bool, err error) {
	err = etcdflags.Parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		etcdflags.PrintUsage(out, fs, usage)
		return true, nil
	}
	return false, err
}
