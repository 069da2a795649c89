package etcdflags

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, env map[string]string, args ...string) *Flags {
	t.Helper()
	f, _ := parseSet(t, env, args...)
	return f
}

// parseSet registers the flags on a new FlagSet, with env as the
// environment, and parses args.
func parseSet(t *testing.T, env map[string]string, args ...string) (*Flags, *flag.FlagSet) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := Register(fs, "127.0.0.1:2379")
	f.getenv = func(k string) string { return env[k] }
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return f, fs
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// certPair writes a self-signed certificate and its key as PEM files.
func certPair(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = write(t, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = write(t, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})))
	return certFile, keyFile
}

func TestConfigErrorsNameTheFlag(t *testing.T) {
	cert, key := certPair(t)
	notPEM := write(t, "ca.pem", "not a certificate")
	const secret = "s3cret-password"
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no endpoint", nil, []string{"--endpoints", " , "}, "--endpoints"},
		{"an empty endpoint", nil, []string{"--endpoints", "a:1, ,b:2"}, "--endpoints: element 2 of 3 is empty"},
		{"no port", nil, []string{"--endpoints", "a:1,127.0.0.1"}, `--endpoints: "127.0.0.1" has no port`},
		{"cert without key", nil, []string{"--cert", cert}, "--cert and --key"},
		{"key without cert", nil, []string{"--key", key}, "--cert and --key"},
		{"missing CA file", nil, []string{"--cacert", "/nonexistent/ca.pem"}, "--cacert"},
		{"CA file without PEM", nil, []string{"--cacert", notPEM}, "--cacert " + notPEM},
		{"key that is not a key", nil, []string{"--cert", cert, "--key", notPEM}, "--key " + notPEM},
		{"user without password", nil, []string{"--user", "alice"}, "$" + PasswordEnv},
		{"password file without user", nil, []string{"--password-file", write(t, "pw", secret)}, "--password-file: given without --user"},
		{"missing password file", nil, []string{"--user", "alice", "--password-file", "/nonexistent/pw"}, "--password-file"},
		{"empty password file", nil, []string{"--user", "alice", "--password-file", write(t, "empty", "\n")}, "no password"},
		{"user:password", nil, []string{"--user", "alice:" + secret, "--password-file", write(t, "pw2", "x")}, "--user: has a \":\""},
		{"user:password, password from the environment", map[string]string{PasswordEnv: "x"}, []string{"--user", "alice:" + secret}, "--user: has a \":\""},
		{"user: alone", nil, []string{"--user", "alice:"}, "--user: has a \":\""},
		// The etcd client dials an http:// endpoint without TLS whatever
		// the flags say, and would send the password in clear.
		{"cacert with http://", nil, []string{"--endpoints", "http://127.0.0.1:2379", "--cacert", cert}, "--cacert " + cert + " with --endpoints http://127.0.0.1:2379"},
		{"cert and key with http://", nil, []string{"--endpoints", "http://127.0.0.1:2379", "--cert", cert, "--key", key}, "--cert " + cert + " with --endpoints http://127.0.0.1:2379"},
		{"key alone with http://", nil, []string{"--endpoints", "http://127.0.0.1:2379", "--key", key}, "--key " + key + " with --endpoints http://127.0.0.1:2379"},
		{"cacert with a second endpoint http://", nil, []string{"--endpoints", "https://a:1,HTTP://b:2", "--cacert", cert, "--user", "alice", "--password-file", write(t, "pw3", secret)}, "--cacert " + cert + " with --endpoints HTTP://b:2"},
		{"cacert with a missing file and http://", nil, []string{"--endpoints", "http://a:1", "--cacert", "/nonexistent/ca.pem"}, "--cacert /nonexistent/ca.pem with --endpoints http://a:1"},
		// clientv3 dials every endpoint as it dials the first.
		{"https:// after a plain endpoint", nil, []string{"--endpoints", "a:1,https://b:2"}, "--endpoints: a:1 and https://b:2"},
		{"https:// after http://", nil, []string{"--endpoints", "http://a:1,https://b:2"}, "--endpoints: http://a:1 and https://b:2"},
		{"http:// after https://", nil, []string{"--endpoints", "https://a:1,http://b:2"}, "--endpoints: https://a:1 and http://b:2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.env, tc.args...).Config()
			if err == nil {
				t.Fatalf("Config(%v) = nil error, want one naming %q", tc.args, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Config(%v) = %q, want it to name %q", tc.args, err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	cert, key := certPair(t)
	t.Run("plain", func(t *testing.T) {
		c, err := parse(t, nil, "--endpoints", " a:1, b:2 ").Config()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(c.Endpoints, ",") != "a:1,b:2" || c.TLS != nil || c.Username != "" {
			t.Errorf("Config = endpoints %v, TLS %v, user %q; want a:1,b:2 without TLS or user", c.Endpoints, c.TLS, c.Username)
		}
	})
	t.Run("TLS", func(t *testing.T) {
		c, err := parse(t, nil, "--cacert", cert, "--cert", cert, "--key", key).Config()
		if err != nil {
			t.Fatal(err)
		}
		if c.TLS == nil || c.TLS.RootCAs == nil || len(c.TLS.Certificates) != 1 {
			t.Fatalf("TLS = %+v, want a CA pool and one client certificate", c.TLS)
		}
	})
	t.Run("password from file", func(t *testing.T) {
		c, err := parse(t, nil, "--user", "alice", "--password-file", write(t, "pw", "pw1\n")).Config()
		if err != nil {
			t.Fatal(err)
		}
		if c.Username != "alice" || c.Password != "pw1" {
			t.Errorf("credentials = %q/%q, want alice/pw1", c.Username, c.Password)
		}
	})
	t.Run("password from the environment", func(t *testing.T) {
		c, err := parse(t, map[string]string{PasswordEnv: "pw2"}, "--user", "bob").Config()
		if err != nil {
			t.Fatal(err)
		}
		if c.Username != "bob" || c.Password != "pw2" {
			t.Errorf("credentials = %q/%q, want bob/pw2", c.Username, c.Password)
		}
	})
}

func TestTLSWithPlainEndpoints(t *testing.T) {
	cert, key := certPair(t)
	for _, args := range [][]string{
		// host:port and unix:// take TLS from the flags.
		{"--endpoints", "a:1,b:2", "--cacert", cert},
		{"--endpoints", "a:1,https://b:2", "--cacert", cert},
		{"--endpoints", "unix:///run/etcd.sock", "--cert", cert, "--key", key},
		// https:// and unixs:// take TLS with the system's CAs.
		{"--endpoints", "https://a:1,b:2"},
		{"--endpoints", "https://a:1,https://b:2", "--cacert", cert},
		{"--endpoints", "unixs:///run/etcd.sock"},
	} {
		c, err := parse(t, nil, args...).Config()
		if err != nil {
			t.Errorf("Config(%v) = %v, want no error", args, err)
		}
		if eps := strings.Join(c.Endpoints, ","); eps != args[1] {
			t.Errorf("Config(%v): endpoints %s, want %s", args, eps, args[1])
		}
	}
}

func TestWarningWithoutTLS(t *testing.T) {
	cert, _ := certPair(t)
	const secret = "s3cret-password"
	pw := write(t, "pw", secret)
	for _, tc := range []struct {
		args []string
		want string // "" for no warning
	}{
		{[]string{"--user", "alice", "--password-file", pw}, "--user: the password goes to etcd at 127.0.0.1:2379 without TLS"},
		{[]string{"--endpoints", "http://e:1", "--user", "alice", "--password-file", pw}, "--user: the password goes to etcd at http://e:1 without TLS"},
		{[]string{"--endpoints", "unix:///run/e.sock", "--user", "alice", "--password-file", pw}, "without TLS"},
		{[]string{"--endpoints", "e:1", "--cacert", cert, "--user", "alice", "--password-file", pw}, ""},
		{[]string{"--endpoints", "https://e:1", "--user", "alice", "--password-file", pw}, ""},
		{[]string{"--endpoints", "e:1"}, ""},
		{[]string{"--endpoints", "http://e:1"}, ""},
	} {
		f := parse(t, nil, tc.args...)
		if _, err := f.Config(); err != nil {
			t.Fatalf("Config(%v) = %v", tc.args, err)
		}
		w := f.Warning()
		switch {
		case tc.want == "" && w != "":
			t.Errorf("Warning(%v) = %q, want none", tc.args, w)
		case tc.want != "" && !strings.Contains(w, tc.want):
			t.Errorf("Warning(%v) = %q, want it to say %q", tc.args, w, tc.want)
		case strings.Contains(w, secret) || strings.Contains(w, "\n"):
			t.Errorf("Warning(%v) = %q, want one line without the password", tc.args, w)
		}
	}
}
