package etcdflags

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

// parseEtcdctl parses args with the etcdctl variables of env honoured.
func parseEtcdctl(t *testing.T, env map[string]string, args ...string) *Flags {
	t.Helper()
	f, fs := parseSet(t, env, args...)
	f.UseEtcdctlEnv(fs)
	return f
}

const secret = "s3cr:et-pw"

func TestEtcdctlEnv(t *testing.T) {
	certFile, keyFile := certPair(t)
	pwFile := write(t, "pw", "from-file\n")
	for _, tc := range []struct {
		name       string
		env        map[string]string
		args       []string
		endpoints  []string
		tls        bool
		user, pass string
	}{
		{"no variables", nil, nil, []string{"127.0.0.1:2379"}, false, "", ""},
		{"endpoints from env", map[string]string{"ETCDCTL_ENDPOINTS": "a:1, b:2"}, nil, []string{"a:1", "b:2"}, false, "", ""},
		{"flag over env", map[string]string{"ETCDCTL_ENDPOINTS": "a:1"}, []string{"--endpoints", "c:3"}, []string{"c:3"}, false, "", ""},
		{"flag given as its default still wins", map[string]string{"ETCDCTL_ENDPOINTS": "a:1"}, []string{"--endpoints", "127.0.0.1:2379"}, []string{"127.0.0.1:2379"}, false, "", ""},
		{"empty variable ignored", map[string]string{"ETCDCTL_ENDPOINTS": ""}, nil, []string{"127.0.0.1:2379"}, false, "", ""},
		{"TLS from env", map[string]string{"ETCDCTL_CACERT": certFile, "ETCDCTL_CERT": certFile, "ETCDCTL_KEY": keyFile}, nil, []string{"127.0.0.1:2379"}, true, "", ""},
		{"cacert from env, cert from flags", map[string]string{"ETCDCTL_CACERT": certFile}, []string{"--cert", certFile, "--key", keyFile}, []string{"127.0.0.1:2379"}, true, "", ""},
		{"user with colon", map[string]string{"ETCDCTL_USER": "alice:" + secret}, nil, []string{"127.0.0.1:2379"}, false, "alice", secret},
		{"user and ETCDCTL_PASSWORD", map[string]string{"ETCDCTL_USER": "alice", "ETCDCTL_PASSWORD": secret}, nil, []string{"127.0.0.1:2379"}, false, "alice", secret},
		{"ETCDCTL_PASSWORD over the colon", map[string]string{"ETCDCTL_USER": "alice:other", "ETCDCTL_PASSWORD": secret}, nil, []string{"127.0.0.1:2379"}, false, "alice", secret},
		{"ETCD_PASSWORD over the colon", map[string]string{"ETCDCTL_USER": "alice:other", PasswordEnv: secret}, nil, []string{"127.0.0.1:2379"}, false, "alice", secret},
		{"ETCDCTL_PASSWORD over ETCD_PASSWORD", map[string]string{"ETCDCTL_USER": "alice", "ETCDCTL_PASSWORD": secret, PasswordEnv: "other"}, nil, []string{"127.0.0.1:2379"}, false, "alice", secret},
		{"password file over the colon", map[string]string{"ETCDCTL_USER": "alice:" + secret, "ETCDCTL_PASSWORD": "other"}, []string{"--password-file", pwFile}, []string{"127.0.0.1:2379"}, false, "alice", "from-file"},
		{"user flag over env", map[string]string{"ETCDCTL_USER": "alice:" + secret}, []string{"--user", "bob", "--password-file", pwFile}, []string{"127.0.0.1:2379"}, false, "bob", "from-file"},
		{"user flag with ETCDCTL_PASSWORD", map[string]string{"ETCDCTL_PASSWORD": secret}, []string{"--user", "bob"}, []string{"127.0.0.1:2379"}, false, "bob", secret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := parseEtcdctl(t, tc.env, tc.args...)
			c, err := f.Config()
			if err != nil {
				t.Fatalf("Config: %v", err)
			}
			if !slices.Equal(c.Endpoints, tc.endpoints) {
				t.Errorf("endpoints %q, want %q", c.Endpoints, tc.endpoints)
			}
			if (c.TLS != nil) != tc.tls {
				t.Errorf("TLS %v, want %v", c.TLS != nil, tc.tls)
			}
			if c.Username != tc.user || c.Password != tc.pass {
				t.Errorf("user %q password %q, want %q %q", c.Username, c.Password, tc.user, tc.pass)
			}
			if w := f.Warning(); strings.Contains(w, secret) {
				t.Errorf("warning shows the password: %q", w)
			}
		})
	}
}

// TestEtcdctlEnvWithoutOptIn: Register alone ignores the variables.
func TestEtcdctlEnvWithoutOptIn(t *testing.T) {
	f := parse(t, map[string]string{"ETCDCTL_ENDPOINTS": "a:1", "ETCDCTL_USER": "alice:" + secret})
	c, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Endpoints, []string{"127.0.0.1:2379"}) || c.Username != "" {
		t.Errorf("endpoints %q user %q: the variables were read", c.Endpoints, c.Username)
	}
}

// TestEtcdctlEnvErrors: an error about a value from a variable names the
// variable, and no error shows the password.
func TestEtcdctlEnvErrors(t *testing.T) {
	certFile, _ := certPair(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"malformed endpoints", map[string]string{"ETCDCTL_ENDPOINTS": "127.0.0.1"}, nil, "$ETCDCTL_ENDPOINTS: "},
		{"empty element", map[string]string{"ETCDCTL_ENDPOINTS": "a:1,,b:2"}, nil, "$ETCDCTL_ENDPOINTS: "},
		{"malformed endpoint flag", map[string]string{"ETCDCTL_ENDPOINTS": "a:1"}, []string{"--endpoints", "127.0.0.1"}, "--endpoints: "},
		{"missing CA", map[string]string{"ETCDCTL_CACERT": "/nonexistent/ca.pem"}, nil, "$ETCDCTL_CACERT: "},
		{"cert without key", map[string]string{"ETCDCTL_CERT": certFile}, nil, "$ETCDCTL_CERT and --key"},
		{"CA with http://", map[string]string{"ETCDCTL_CACERT": certFile, "ETCDCTL_ENDPOINTS": "http://a:1"}, nil, "$ETCDCTL_CACERT " + certFile + " with $ETCDCTL_ENDPOINTS http://a:1"},
		{"no password", map[string]string{"ETCDCTL_USER": "alice"}, nil, "$ETCDCTL_USER alice: no password"},
		{"no name", map[string]string{"ETCDCTL_USER": ":" + secret}, nil, "$ETCDCTL_USER: no user name"},
		{"password file without user", map[string]string{"ETCDCTL_PASSWORD": secret}, []string{"--password-file", "/nonexistent/pw"}, "--password-file"},
		{"user flag with colon", map[string]string{"ETCDCTL_PASSWORD": secret}, []string{"--user", "bob:" + secret}, "--user: has a \":\""},
		{"missing password file", map[string]string{"ETCDCTL_USER": "alice:" + secret}, []string{"--password-file", "/nonexistent/pw"}, "--password-file: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := parseEtcdctl(t, tc.env, tc.args...)
			_, err := f.Config()
			if err == nil {
				t.Fatalf("Config: no error, want one naming %s", tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want it to contain %q", msg, tc.want)
			}
			if strings.Contains(msg, secret) || strings.Contains(msg, "et-pw") {
				t.Errorf("error %q shows the password", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q is not one line", msg)
			}
		})
	}
}

// TestEtcdctlEnvWarning: a password from the variables without TLS is
// warned of, naming the variable, never showing the password.
func TestEtcdctlEnvWarning(t *testing.T) {
	f := parseEtcdctl(t, map[string]string{"ETCDCTL_USER": "alice:" + secret, "ETCDCTL_ENDPOINTS": "a:1"})
	if _, err := f.Config(); err != nil {
		t.Fatal(err)
	}
	w := f.Warning()
	if !strings.HasPrefix(w, "$ETCDCTL_USER: ") || !strings.Contains(w, "a:1") {
		t.Errorf("warning %q, want one naming $ETCDCTL_USER and a:1", w)
	}
	if strings.Contains(w, secret) {
		t.Errorf("warning %q shows the password", w)
	}
}

// TestEtcdctlEnvEmbedded: with --endpoints "" given, a TLS variable is an
// error naming the variable.
func TestEtcdctlEnvEmbedded(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := Register(fs, "")
	f.getenv = func(k string) string { return map[string]string{"ETCDCTL_CACERT": "/ca.pem"}[k] }
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	f.UseEtcdctlEnv(fs)
	if emb, err := f.Embedded(); !emb || err == nil || !strings.HasPrefix(err.Error(), "$ETCDCTL_CACERT: ") {
		t.Errorf("Embedded() = %v, %v; want true and an error naming $ETCDCTL_CACERT", emb, err)
	}
}
