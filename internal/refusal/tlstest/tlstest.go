// Package tlstest makes clients whose TLS handshake with a secure test etcd
// (etcdtest.StartSecure) fails, one for each way it fails in production: a
// CA that never signed the server, an expired client certificate, a TLS
// client at a plain endpoint, and a plain client at a TLS endpoint. It is
// for tests only.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// A Case is a client configuration whose TLS handshake fails, and the words
// that the reason must contain.
type Case struct {
	Name   string
	Config clientv3.Config
	Reason string
}

// Cases returns the failing configurations for sec and for plain, an etcd
// without TLS. Their clients give no user: the handshake fails before one
// could be sent.
func Cases(t testing.TB, sec *etcdtest.Secure, plain *etcdtest.Cluster) []Case {
	t.Helper()
	good, err := sec.TLS()
	if err != nil {
		t.Fatalf("tlstest: %v", err)
	}
	cfg := func(endpoints []string, tc *tls.Config) clientv3.Config {
		return clientv3.Config{
			Endpoints:            endpoints,
			DialTimeout:          2 * time.Second,
			DialKeepAliveTime:    time.Second,
			DialKeepAliveTimeout: time.Second,
			Logger:               zap.NewNop(),
			TLS:                  tc,
		}
	}
	otherCA, otherKey := newCA(t, "tlstest other CA")
	wrongCA := good.Clone()
	wrongCA.RootCAs = x509.NewCertPool()
	wrongCA.RootCAs.AddCert(otherCA)

	// An expired certificate, signed by a CA of its own: etcd checks a
	// certificate's validity before its signature, so it answers that the
	// certificate expired. It is sent whatever CAs etcd names.
	expiredCert := leaf(t, otherCA, otherKey, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	expired := good.Clone()
	expired.Certificates = nil
	expired.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &expiredCert, nil }

	// clientv3 drops TLS for an http:// endpoint: a TLS client asks for
	// https://.
	swap := func(eps []string, from, to string) []string {
		var out []string
		for _, ep := range eps {
			out = append(out, strings.Replace(ep, from, to, 1))
		}
		return out
	}
	return []Case{
		{"wrong CA", cfg(sec.Endpoints(), wrongCA), "x509: certificate signed by unknown authority"},
		{"expired client certificate", cfg(sec.Endpoints(), expired), "expired certificate"},
		{"TLS client at a plain endpoint", cfg(swap(plain.Endpoints(), "http://", "https://"), good.Clone()), "authentication handshake failed: EOF"},
		{"plain client at a TLS endpoint", cfg(swap(sec.Endpoints(), "https://", "http://"), nil), "server preface"},
	}
}

// Client returns a client of c, closed when t ends.
func Client(t testing.TB, c Case) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(c.Config)
	if err != nil {
		t.Fatalf("tlstest: client %s: %v", c.Name, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func newCA(t testing.TB, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-72 * time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

func leaf(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "tlstest client"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
