package main

import (
	"errors"
	"flag"
	"io"

	"github.com/seed764c596d/mastership/examples/internal/help"
)

// usage is what -h prints above the flags.
const usage = `usage: demo [--endpoints HOST:PORT,...] [--prefix PREFIX] [--ttl 2s] [--cacert FILE] [--cert FILE --key FILE] [--user NAME [--password-file FILE]]

With no --endpoints, demo starts an embedded etcd of its own.`

// parseFlags parses args with fs as every example does (see
// examples/internal/help). For -h or --help it prints the usage and every
// flag on out and returns asked true, for run to return nil: exit code 0.
func parseFlags(fs *flag.FlagSet, args []string, out io.Writer) (asked bool, err error) {
	err = help.Parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		help.Print(out, fs, usage)
		return true, nil
	}
	return false, err
}
