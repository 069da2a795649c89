package proctest

import (
	"strings"
	"testing"
)

// HelpArgs are the ways to ask a program, or one of its commands, for its
// usage and flags.
var HelpArgs = []string{"-h", "--help"}

// CheckHelp checks the answer to -h or --help: exit code 0, nothing on
// standard error, and on standard output the usage, then "flags:" and every
// flag with its description, as examples/internal/help prints them. descs
// maps flags ("--ttl") to a part of their description that the entry of
// each must hold.
func CheckHelp(t *testing.T, code int, stdout, stderr, usage string, descs map[string]string) {
	t.Helper()
	if code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
	if !strings.HasPrefix(stdout, usage+"\n") {
		t.Errorf("stdout does not start with the usage %q:\n%s", usage, stdout)
	}
	_, list, ok := strings.Cut(stdout, "\nflags:\n")
	if !ok {
		t.Fatalf("stdout has no list of flags:\n%s", stdout)
	}
	// An entry is "  --name type" and the description's lines, each
	// starting with a tab, or "  --name\tdescription" for a boolean.
	entries := map[string]string{}
	var name string
	for _, l := range strings.SplitAfter(list, "\n") {
		if rest, ok := strings.CutPrefix(l, "  --"); ok {
			end := strings.IndexAny(rest, " \t\n")
			if end < 0 {
				end = len(rest)
			}
			name = "--" + rest[:end]
			l = rest[end:]
		}
		entries[name] += l
	}
	for flag, desc := range descs {
		entry, ok := entries[flag]
		if !ok {
			t.Errorf("stdout does not list %s:\n%s", flag, stdout)
		} else if !strings.Contains(entry, desc) {
			t.Errorf("%s is described as %q, want it to hold %q", flag, entry, desc)
		}
	}
}
