package etcdtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/localetcdhook"
	"github.com/seed764c596d/mastership/localetcd"
)

// RootUser is the etcd user with every permission in a cluster made by
// StartSecure.
const RootUser = "root"

// Secure is an etcd cluster that serves clients over TLS only,
// asks them for a certificate signed by its CA, and has authentication
// enabled, as a production etcd would.
type Secure struct {
	*Cluster
	// CAFile is the PEM file of the CA that signed the server's and the
	// client's certificates: a client's --cacert.
	CAFile string
	// CertFile and KeyFile are a client certificate and its key, signed by
	// the CA: a client's --cert and --key. Its common name is no etcd user,
	// so it grants no permission by itself.
	CertFile, KeyFile string
	// RootPassword is the password of RootUser.
	RootPassword string
}

// StartSecure starts a secure one-member cluster for t and stops it when t
// ends. The CA and the certificates are made for this cluster alone, valid
// for 127.0.0.1, ::1 and localhost, and written to t's temporary directory.
// Only RootUser exists; add others with AddPrefixUser and AddUser.
func StartSecure(t testing.TB) *Secure {
	t.Helper()
	return StartSecureCluster(t, 1)
}

// StartSecureCluster is StartSecure for a cluster of n members. opts, at
// most one, tune localetcd as the hook allows.
func StartSecureCluster(t testing.TB, n int, opts ...localetcdhook.Options) *Secure {
	t.Helper()
	dir := t.TempDir()
	s := &Secure{RootPassword: "root-" + rand.Text()}
	certs, err := WriteCerts(filepath.Join(dir, "certs"))
	if err != nil {
		t.Fatalf("etcdtest: certificates: %v", err)
	}
	s.CAFile, s.CertFile, s.KeyFile = certs.CAFile, certs.ClientCert, certs.ClientKey
	// The server asks clients for a certificate signed by the CA.
	tlsFiles := &localetcd.TLSFiles{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientCAFile: certs.CAFile}
	c, err := start(localetcd.Config{Dir: filepath.Join(dir, "etcd"), Members: n, TLS: tlsFiles}, oneOf(opts))
	if err != nil {
		t.Fatalf("start secure etcd: %v", err)
	}
	t.Cleanup(c.Close)
	s.Cluster = c

	// The root user must exist, with the root role, before auth is enabled.
	cli := s.client(t, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.UserAdd(ctx, RootUser, s.RootPassword); err != nil {
		t.Fatalf("etcdtest: add root user: %v", err)
	}
	if _, err := cli.UserGrantRole(ctx, RootUser, "root"); err != nil {
		t.Fatalf("etcdtest: grant root role: %v", err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		t.Fatalf("etcdtest: enable auth: %v", err)
	}
	return s
}

// TLS returns the client TLS configuration: the CA, and the client
// certificate.
func (s *Secure) TLS() (*tls.Config, error) {
	return transport.TLSInfo{CertFile: s.CertFile, KeyFile: s.KeyFile, TrustedCAFile: s.CAFile}.ClientConfig()
}

// Config returns a client configuration for the cluster over TLS, as user
// with password ("" for none), with the timeouts of NewClient.
func (s *Secure) Config(user, password string) (clientv3.Config, error) {
	tc, err := s.TLS()
	if err != nil {
		return clientv3.Config{}, err
	}
	cfg := ClientConfig(s.Endpoints()...)
	cfg.TLS, cfg.Username, cfg.Password = tc, user, password
	return cfg, nil
}

// ClientAs returns a client of the cluster over TLS that authenticates as
// user, closed when t ends. clientv3 authenticates while connecting, so a
// wrong password fails here: use Config and clientv3.New to see that error.
func (s *Secure) ClientAs(t testing.TB, user, password string) *clientv3.Client {
	t.Helper()
	return s.client(t, user, password)
}

// Root returns a client authenticated as RootUser, closed when t ends.
func (s *Secure) Root(t testing.TB) *clientv3.Client {
	t.Helper()
	return s.client(t, RootUser, s.RootPassword)
}

// Client returns a client authenticated as RootUser, closed when t ends: a
// plain client could not reach the cluster.
func (s *Secure) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return s.Root(t)
}

func (s *Secure) client(t testing.TB, user, password string) *clientv3.Client {
	t.Helper()
	cfg, err := s.Config(user, password)
	if err != nil {
		t.Fatalf("etcdtest: client config: %v", err)
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatalf("etcdtest: client as %q: %v", user, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// RoleOf returns the name of the role AddPrefixUser makes for user.
func RoleOf(user string) string { return user + "-role" }

// AddPrefixUser adds user with password and a role of its own, RoleOf(user),
// that may read and write the keys under prefix + "/" and nothing else: the
// range from prefix + "/" to clientv3.GetPrefixRangeEnd of it, as
// `etcdctl role grant-permission ROLE readwrite PREFIX/ --prefix` grants.
// A prefix ending in "/" is taken as it is.
func (s *Secure) AddPrefixUser(t testing.TB, user, password, prefix string) {
	t.Helper()
	s.AddUser(t, user, password)
	cli := s.Root(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	role := RoleOf(user)
	key, end := PrefixRange(prefix)
	if _, err := cli.RoleAdd(ctx, role); err != nil {
		t.Fatalf("etcdtest: add role %q: %v", role, err)
	}
	if _, err := cli.RoleGrantPermission(ctx, role, key, end, clientv3.PermissionType(clientv3.PermReadWrite)); err != nil {
		t.Fatalf("etcdtest: grant %q readwrite on [%q, %q): %v", role, key, end, err)
	}
	if _, err := cli.UserGrantRole(ctx, user, role); err != nil {
		t.Fatalf("etcdtest: grant role %q to %q: %v", role, user, err)
	}
}

// RevokePrefix takes back the permission AddPrefixUser gave user on prefix.
func (s *Secure) RevokePrefix(t testing.TB, user, prefix string) {
	t.Helper()
	cli := s.Root(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key, end := PrefixRange(prefix)
	if _, err := cli.RoleRevokePermission(ctx, RoleOf(user), key, end); err != nil {
		t.Fatalf("etcdtest: revoke %q on [%q, %q): %v", RoleOf(user), key, end, err)
	}
}

// AddUser adds user with password and no role: it may authenticate, and do
// nothing else.
func (s *Secure) AddUser(t testing.TB, user, password string) {
	t.Helper()
	cli := s.Root(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.UserAdd(ctx, user, password); err != nil {
		t.Fatalf("etcdtest: add user %q: %v", user, err)
	}
}

// PrefixRange returns the key range of a group's prefix: from prefix + "/"
// (a prefix ending in "/" is taken as it is) to its prefix range end.
func PrefixRange(prefix string) (key, end string) {
	if prefix == "" || prefix[len(prefix)-1] != '/' {
		prefix += "/"
	}
	return prefix, clientv3.GetPrefixRangeEnd(prefix)
}

// Certs are the PEM files of a CA made for one test, and of the
// certificates it signed, valid for 127.0.0.1, ::1 and localhost.
type Certs struct {
	// CAFile is the CA's certificate.
	CAFile string
	// ServerCert and ServerKey are a server's certificate and key, good for
	// client authentication too, as etcd's gateway needs when the server
	// asks its clients for certificates.
	ServerCert, ServerKey string
	// ClientCert and ClientKey are a client's certificate and key. Its
	// common name, "client", is no etcd user.
	ClientCert, ClientKey string
}

// WriteCerts makes a CA, a server certificate for the loopback addresses and
// a client certificate, and writes them to dir, which it makes if missing.
func WriteCerts(dir string) (Certs, error) {
	var c Certs
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return c, err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return c, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "etcdtest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return c, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return c, err
	}
	c.CAFile = filepath.Join(dir, "ca.pem")
	if err := writePEM(c.CAFile, "CERTIFICATE", caDER); err != nil {
		return c, err
	}
	leaf := func(serial int64, name string, usage []x509.ExtKeyUsage) (certFile, keyFile string, err error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return "", "", err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  usage,
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
			DNSNames:     []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return "", "", err
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return "", "", err
		}
		certFile = filepath.Join(dir, name+".pem")
		keyFile = filepath.Join(dir, name+"-key.pem")
		if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
			return "", "", err
		}
		return certFile, keyFile, writePEM(keyFile, "EC PRIVATE KEY", kder)
	}
	// The server's certificate serves clients, and also identifies etcd to
	// itself when its gRPC gateway connects to its own client port.
	if c.ServerCert, c.ServerKey, err = leaf(2, "server", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}); err != nil {
		return c, err
	}
	if c.ClientCert, c.ClientKey, err = leaf(3, "client", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}); err != nil {
		return c, err
	}
	return c, nil
}

func writePEM(path, typ string, der []byte) error {
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
