package etcdflags

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("prog sub", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("prefix", "", "the group's prefix (required)")
	fs.Duration("ttl", 5*time.Second, "lease TTL\nwhole seconds")
	fs.Bool("v", false, "verbose")
	return fs
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" for no error
	}{
		{[]string{"--prefix", "/p"}, ""},
		{[]string{"-h"}, "help"},
		{[]string{"--help"}, "help"},
		{[]string{"--prefix", "/p", "-help"}, "help"},
		{[]string{"--colour", "red"}, "flag provided but not defined: -colour (prog sub -h lists the flags)"},
		{[]string{"--ttl"}, "flag needs an argument: -ttl (prog sub -h lists the flags)"},
		{[]string{"--ttl", "soon"}, `invalid value "soon" for flag -ttl: parse error (prog sub -h lists the flags)`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := Parse(newFlagSet(), tc.args)
			switch {
			case tc.want == "":
				if err != nil {
					t.Errorf("error %v, want none", err)
				}
			case tc.want == "help":
				if err != flag.ErrHelp {
					t.Errorf("error %v, want flag.ErrHelp itself", err)
				}
			case err == nil || err.Error() != tc.want || errors.Is(err, flag.ErrHelp):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPrintUsage(t *testing.T) {
	fs := newFlagSet()
	var b strings.Builder
	PrintUsage(&b, fs, "usage: prog sub --prefix PREFIX [flags]")
	const want = "usage: prog sub --prefix PREFIX [flags]\n" +
		"\n" +
		"flags:\n" +
		"  --prefix string\n" +
		"    \tthe group's prefix (required)\n" +
		"  --ttl duration\n" +
		"    \tlease TTL\n" +
		"    \twhole seconds (default 5s)\n" +
		"  --v\tverbose\n"
	if b.String() != want {
		t.Errorf("Print wrote\n%s\nwant\n%s", b.String(), want)
	}
	if fs.Output() != io.Discard {
		t.Errorf("Print left the flag set's output changed")
	}
}
