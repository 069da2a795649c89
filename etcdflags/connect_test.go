package etcdflags

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/internal/refusal/tlstest"
)

// With a user, clientv3.New authenticates at once: a failed TLS handshake
// must come back as soon as it fails, with its reason, not as the end of
// the dial timeout.
func TestConnectNamesTLSFailure(t *testing.T) {
	sec := etcdtest.StartSecure(t)
	plain := etcdtest.Start(t)
	for _, tc := range tlstest.Cases(t, sec, plain) {
		t.Run(tc.Name, func(t *testing.T) {
			cfg := tc.Config
			cfg.Username, cfg.Password = "root", "secret-pw"
			cfg.DialTimeout = 20 * time.Second
			start := time.Now()
			cli, err := connect(cfg)
			took := time.Since(start)
			if err == nil {
				cli.Close()
				t.Fatal("connected despite a failing TLS handshake")
			}
			t.Logf("%v after %v", err, took)
			if !errors.Is(err, ErrTLSHandshake) || !strings.Contains(err.Error(), tc.Reason) {
				t.Errorf("error %q: want ErrTLSHandshake naming %q", err, tc.Reason)
			}
			if took > 5*time.Second {
				t.Errorf("failed after %v, want at once (the dial timeout is %v)", took, cfg.DialTimeout)
			}
			if strings.Contains(err.Error(), "secret-pw") {
				t.Errorf("the password is in the error: %q", err)
			}
		})
	}
}
