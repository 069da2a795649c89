package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// refusals are flag combinations that every program refuses at once, in
// one line naming the flag (and the endpoint), without showing what follows
// the colon of --user: TLS flags with an http:// endpoint (clientv3 would
// drop TLS and send the password in clear), etcdctl's --user name:password,
// and a TTL over the maximum, or so large that twice it overflows.
var refusals = []struct {
	args []string
	want []string
}{
	{[]string{"--endpoints", "http://127.0.0.1:2379", "--cacert", "ca.pem"}, []string{"--cacert ca.pem", "http://127.0.0.1:2379"}},
	{[]string{"--endpoints", "http://127.0.0.1:2379", "--cert", "c.pem", "--key", "k.pem"}, []string{"--cert c.pem", "http://127.0.0.1:2379"}},
	{[]string{"--endpoints", "127.0.0.1:2379,http://127.0.0.1:2380", "--cacert", "ca.pem"}, []string{"--cacert ca.pem", "http://127.0.0.1:2380"}},
	{[]string{"--user", "svc:" + colonSecret}, []string{"--user"}},
	{[]string{"--ttl", "100000h"}, []string{"--ttl", "1h0m0s"}},
	{[]string{"--ttl", "2562047h"}, []string{"--ttl", "1h0m0s"}},
}

// colonSecret stands for the password a user writes after --user name:.
const colonSecret = "Pw-after-colon-71f3"

// checkRefused checks one refusal: at once, exit code wantCode, one line on
// standard error naming every want, nothing on standard output, and the
// password nowhere.
func checkRefused(t *testing.T, took time.Duration, code, wantCode int, stdout, stderr string, want []string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit code %d, want %d", code, wantCode)
	}
	if took > 5*time.Second {
		t.Errorf("ended after %v, want at once", took)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr = %q, want one line", stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr = %q, want it to name %q", stderr, w)
		}
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if strings.Contains(stderr+stdout, colonSecret) {
		t.Errorf("the output shows the password given after --user's colon: %q", stderr+stdout)
	}
}

func TestRefusedAtOnce(t *testing.T) {
	for _, args := range [][]string{
		{"worker", "--host", "10.0.0.1", "--port", "5432"},
		{"manager", "--id", "m1", "--target", "command", "--command", os.Args[0]},
	} {
		for _, tc := range refusals {
			t.Run(args[0]+" "+strings.Join(tc.args, " "), func(t *testing.T) {
				// The context ends the run only if the flags are not refused.
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				var stderr bytes.Buffer
				start := time.Now()
				all := append(append(append([]string{}, args...), "--prefix", "/mm"), tc.args...)
				code := run(ctx, all, &stderr)
				checkRefused(t, time.Since(start), code, 2, "", stderr.String(), append([]string{"membership-manager " + args[0] + ": "}, tc.want...))
			})
		}
	}
}
