package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seed764c596d/mastership/etcdflags"
)

// commandTarget drives anything through one command, run directly, never
// through a shell, so that a host name is never read as shell syntax:
//
//	COMMAND list               prints one "HOST PORT" line per registered node
//	COMMAND add HOST PORT      registers a node
//	COMMAND remove HOST PORT   unregisters a node
//
// Exit status 0 is success; exitHoldsData from remove means the node still
// holds data and cannot be removed yet (errHoldsData: kept, tried again each
// interval); anything else is an error, reported with the first line of its
// standard error and retried.
type commandTarget struct {
	path string
}

func (t *commandTarget) List(ctx context.Context) ([]Node, error) {
	out, err := t.run(ctx, "list")
	if err != nil {
		return nil, err
	}
	var nodes []Node
	sc := bufio.NewScanner(bytes.NewReader(out))
	for i := 1; sc.Scan(); i++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("%s list: line %d: want \"HOST PORT\", got %q", t.path, i, sc.Text())
		}
		n, err := newNode(f[0], f[1])
		if err != nil {
			return nil, fmt.Errorf("%s list: line %d: %w", t.path, i, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, sc.Err()
}

func (t *commandTarget) Add(ctx context.Context, n Node) error {
	_, err := t.run(ctx, "add", n.Host, strconv.Itoa(n.Port))
	return err
}

// exitHoldsData is the exit status with which a command's remove says that
// the node still holds data: 75, EX_TEMPFAIL of sysexits.h, "try again
// later".
const exitHoldsData = 75

func (t *commandTarget) Remove(ctx context.Context, n Node) error {
	_, err := t.run(ctx, "remove", n.Host, strconv.Itoa(n.Port))
	if ee, ok := errors.AsType[*exec.ExitError](err); ok && ee.ExitCode() == exitHoldsData {
		return fmt.Errorf("%w: %w", errHoldsData, err)
	}
	return err
}

func (t *commandTarget) Close() error { return nil }

// run runs the command with args and returns its standard output.
func (t *commandTarget) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, t.path, args...)
	cmd.Env = environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A command killed at the end of its context may leave children holding
	// its pipes: stop waiting for them soon after.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		msg, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		if msg != "" {
			return nil, fmt.Errorf("%s %s: %w: %s", t.path, strings.Join(args, " "), err, msg)
		}
		return nil, fmt.Errorf("%s %s: %w", t.path, strings.Join(args, " "), err)
	}
	return stdout.Bytes(), nil
}

// environ is the manager's environment without its secrets, which the
// command has no need of: the target's DSN, etcd's password, and the
// worker's DSN, which a shell that starts both roles (as the README's does)
// holds too.
func environ() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == dsnEnv || k == checkDSNEnv || k == etcdflags.PasswordEnv
	})
}
