package etcdflags

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/seed764c596d/mastership/internal/refusal"
)

// PasswordEnv is the environment variable that Config reads for the
// password when --user is given without --password-file.
const PasswordEnv = "ETCD_PASSWORD"

// Flags are the etcd connection flags of one program. Make them with
// Register, parse the FlagSet, then call Config or Client.
type Flags struct {
	endpoints    string
	cacert       string
	cert         string
	key          string
	user         string
	passwordFile string
	getenv       func(string) string

	// Set by UseEtcdctlEnv: the variable each flag's value came from (by
	// the flag's name), the password after the ":" of $ETCDCTL_USER, and
	// whether $ETCDCTL_PASSWORD counts.
	from        map[string]string
	userPass    string
	etcdctl     bool
	etcdctlUser error
}

// The etcdctl variables that UseEtcdctlEnv reads for flags, by the flag
// each stands for. ETCDCTL_PASSWORD (EtcdctlPasswordEnv) is read by Config.
var etcdctlVars = []struct{ flag, env string }{
	{"endpoints", "ETCDCTL_ENDPOINTS"},
	{"cacert", "ETCDCTL_CACERT"},
	{"cert", "ETCDCTL_CERT"},
	{"key", "ETCDCTL_KEY"},
	{"user", "ETCDCTL_USER"},
}

// EtcdctlPasswordEnv is etcdctl's password variable, which Config reads
// after UseEtcdctlEnv.
const EtcdctlPasswordEnv = "ETCDCTL_PASSWORD"

// UseEtcdctlEnv makes f honour the variables of etcdctl that operators
// have set: $ETCDCTL_ENDPOINTS, $ETCDCTL_CACERT, $ETCDCTL_CERT,
// $ETCDCTL_KEY and $ETCDCTL_USER stand for --endpoints, --cacert, --cert,
// --key and --user, and $ETCDCTL_PASSWORD for a password. Call it once fs
// (the FlagSet given to Register) is parsed, before Config or Client: a
// flag given on the command line wins over its variable (fs.Visit tells
// which were), and a variable that is set and not empty wins over the
// flag's default. An error about a value taken from a variable names the
// variable ("$ETCDCTL_ENDPOINTS: ...") where it would name the flag.
//
// $ETCDCTL_USER may be name:password, as etcdctl allows: it is split at
// its first ":", the name taken as the user, the rest as the password.
// The password comes from the first of --password-file,
// $ETCDCTL_PASSWORD, $ETCD_PASSWORD (PasswordEnv) and the part of
// $ETCDCTL_USER after its ":" that is given: an explicit password wins,
// as etcdctl's --password wins over the password in its --user. (etcdctl
// then takes the whole of --user as the name; here the name is what comes
// before the ":".) The --user flag still refuses a ":", since the process
// list shows flags but not the environment. No error, warning or other
// text of this package shows a password.
func (f *Flags) UseEtcdctlEnv(fs *flag.FlagSet) {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	getenv := f.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	f.etcdctl = true
	f.from = map[string]string{}
	fields := map[string]*string{"endpoints": &f.endpoints, "cacert": &f.cacert, "cert": &f.cert, "key": &f.key, "user": &f.user}
	for _, v := range etcdctlVars {
		val := getenv(v.env)
		if set[v.flag] || val == "" {
			continue
		}
		f.from[v.flag] = v.env
		if v.flag == "user" {
			name, pass, _ := strings.Cut(val, ":")
			if name == "" {
				// Nothing of the value is shown: it may hold a password.
				f.etcdctlUser = fmt.Errorf("$%s: no user name before its \":\"", v.env)
			}
			val, f.userPass = name, pass
		}
		*fields[v.flag] = val
	}
}

// name is how errors call the flag of that name ("endpoints"): "--endpoints",
// or "$ETCDCTL_ENDPOINTS" if its value came from that variable.
func (f *Flags) name(flag string) string {
	if env, ok := f.from[flag]; ok {
		return "$" + env
	}
	return "--" + flag
}

// Register adds --endpoints, --cacert, --cert, --key, --user and
// --password-file to fs, and returns the Flags that hold their values once
// fs is parsed. defaultEndpoints is the default of --endpoints, such as
// "127.0.0.1:2379"; it may be "", for a program that takes an empty list to
// mean "start an embedded etcd" (see Embedded), and is not checked before
// Config. Like fs's own methods, Register panics if fs has one of these
// flags already.
func Register(fs *flag.FlagSet, defaultEndpoints string) *Flags {
	f := &Flags{getenv: os.Getenv}
	fs.StringVar(&f.endpoints, "endpoints", defaultEndpoints, "etcd endpoints, comma separated, each "+endpointForms)
	fs.StringVar(&f.cacert, "cacert", "", "PEM file of the CA that signed etcd's server certificate; turns on TLS")
	fs.StringVar(&f.cert, "cert", "", "PEM file of this client's certificate, for etcd's client-certificate auth (with --key)")
	fs.StringVar(&f.key, "key", "", "PEM file of this client's private key (with --cert)")
	fs.StringVar(&f.user, "user", "", "etcd user name; the password comes from --password-file or $"+PasswordEnv)
	fs.StringVar(&f.passwordFile, "password-file", "", "file holding the etcd user's password (trailing newline ignored)")
	return f
}

// Endpoints returns the endpoints given to --endpoints, trimmed, without
// empty entries: for a message that says where etcd was sought, such as
// Join's. It does not check them: Config does (see CheckEndpoints).
func (f *Flags) Endpoints() []string {
	var eps []string
	for _, ep := range strings.Split(f.endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	return eps
}

// Embedded reports whether --endpoints was given empty, which a program
// whose default is "" takes to mean "start an embedded etcd". An embedded
// etcd takes no TLS and no user, so then a TLS or user flag is an error
// naming it, not something to ignore.
func (f *Flags) Embedded() (bool, error) {
	if f.endpoints != "" {
		return false, nil
	}
	for _, fl := range []struct{ name, value string }{
		{"cacert", f.cacert}, {"cert", f.cert}, {"key", f.key}, {"user", f.user}, {"password-file", f.passwordFile},
	} {
		if fl.value != "" {
			return true, fmt.Errorf("%s: needs --endpoints (the embedded etcd takes no TLS and no user)", f.name(fl.name))
		}
	}
	return true, nil
}

// Config checks the flags and returns a client configuration for them: the
// endpoints, the TLS configuration (the CA of --cacert, the client
// certificate of --cert and --key), the user and its password, a dial
// timeout of 5s, keep-alive pings every 2s with a 2s timeout, and a logger
// that discards clientv3's logs. The caller may change any of them before
// calling clientv3.New. It reads the files the flags name, but dials
// nothing. An error is one line naming the flag at fault: a malformed
// endpoint (see CheckEndpoints) fails here, at once, rather than being
// retried by clientv3 as if etcd were down.
func (f *Flags) Config() (clientv3.Config, error) {
	c := clientv3.Config{
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(),
	}
	if f.etcdctlUser != nil {
		return c, f.etcdctlUser
	}
	var err error
	if c.Endpoints, err = CheckEndpoints(f.endpoints); err != nil {
		if n := f.name("endpoints"); n != "--endpoints" {
			err = errors.New(n + strings.TrimPrefix(err.Error(), "--endpoints"))
		}
		return c, err
	}
	if err := f.checkTransport(c.Endpoints); err != nil {
		return c, err
	}
	tlsc, err := f.tls()
	if err != nil {
		return c, err
	}
	c.TLS = tlsc
	if c.Username, c.Password, err = f.credentials(); err != nil {
		return c, err
	}
	return c, nil
}

// Warning returns a one-line warning for standard error, or "": a user and
// password that would go to etcd without TLS, where anyone on the path can
// read them. It says which endpoint and never shows the password. Call it
// once Config has succeeded; a program prints it once.
func (f *Flags) Warning() string {
	if f.user == "" {
		return ""
	}
	eps, err := CheckEndpoints(f.endpoints)
	if err != nil || f.usesTLS(eps) {
		return ""
	}
	return fmt.Sprintf("%s: the password goes to etcd at %s without TLS, readable by anyone on the path; give https:// endpoints or --cacert", f.name("user"), eps[0])
}

// tlsFlag returns the first TLS flag given ("--cacert", "--cert" or
// "--key", the flags that turn TLS on) and its value, or "".
func (f *Flags) tlsFlag() (name, value string) {
	for _, fl := range []struct{ name, value string }{
		{"cacert", f.cacert}, {"cert", f.cert}, {"key", f.key},
	} {
		if fl.value != "" {
			return f.name(fl.name), fl.value
		}
	}
	return "", ""
}

// usesTLS reports whether clientv3 dials eps (checked) with TLS. It takes
// the transport of every endpoint from the first one: none for http://,
// TLS for https:// and unixs:// (with the system's CAs if no TLS flag is
// given), and for host:port and unix:// TLS exactly when a TLS flag is.
func (f *Flags) usesTLS(eps []string) bool {
	first, _ := parseEndpoint(eps[0])
	switch first.scheme {
	case "http":
		return false
	case "https", "unixs":
		return true
	}
	name, _ := f.tlsFlag()
	return name != ""
}

// checkTransport refuses endpoints that clientv3 would dial without the TLS
// the flags or the endpoints ask for: a TLS flag with an http:// endpoint
// (clientv3 drops TLS for it, and would send the password in clear), and an
// https:// or unixs:// endpoint that clientv3 would dial in plain text
// because the first endpoint is dialled so.
func (f *Flags) checkTransport(eps []string) error {
	tlsOn := f.usesTLS(eps)
	name, value := f.tlsFlag()
	for _, ep := range eps {
		e, _ := parseEndpoint(ep)
		switch {
		case e.scheme == "http" && name != "":
			return fmt.Errorf("%s %s with %s %s: an http:// endpoint is dialled without TLS, and the TLS flag would be ignored; write https://", name, value, f.name("endpoints"), ep)
		case e.scheme == "http" && tlsOn:
			return fmt.Errorf("%s: %s and %s: clientv3 dials every endpoint as the first, so the http:// one would get TLS; use one scheme", f.name("endpoints"), eps[0], ep)
		case (e.scheme == "https" || e.scheme == "unixs") && !tlsOn:
			return fmt.Errorf("%s: %s and %s: clientv3 dials every endpoint as the first, without TLS, so %s would get none; list a TLS endpoint first or give --cacert", f.name("endpoints"), eps[0], ep, ep)
		}
	}
	return nil
}

// Client checks the flags as Config does and makes a client of them, which
// the caller closes. Without --user, making it does not wait for etcd: the
// first request does, and a request made while etcd is unreachable waits
// for it until its context ends. With --user, clientv3 authenticates at
// once, so that an unreachable etcd fails here after the dial timeout,
// etcd refusing the user fails here too (see Refused), and so does a
// failed TLS handshake, as soon as it fails and saying why (a CA that did
// not sign etcd's certificate, say), with an error wrapping
// ErrTLSHandshake. An error that is not about a flag
// names the endpoints.
func (f *Flags) Client() (*clientv3.Client, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	cli, err := connect(c)
	if err != nil {
		return nil, fmt.Errorf("etcd client for %s: %w", strings.Join(c.Endpoints, ","), err)
	}
	return cli, nil
}

// connect makes a client of c. Without a user, clientv3.New does not wait
// for etcd, and the library's calls name a failed TLS handshake. With one,
// it authenticates at once, and a failed handshake would only show as the
// end of its DialTimeout ("context deadline exceeded"): a client without
// the credentials watches the connection meanwhile, so that the reason
// comes as soon as the handshake fails.
func connect(c clientv3.Config) (*clientv3.Client, error) {
	if c.Username == "" {
		return clientv3.New(c)
	}
	type result struct {
		cli *clientv3.Client
		err error
	}
	made := make(chan result, 1)
	go func() {
		cli, err := clientv3.New(c)
		made <- result{cli, err}
	}()
	probeCfg := c
	probeCfg.Username, probeCfg.Password = "", ""
	probe, err := clientv3.New(probeCfg)
	if err != nil {
		r := <-made
		return r.cli, r.err
	}
	defer probe.Close()
	ctx := context.Background()
	if c.DialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.DialTimeout)
		defer cancel()
	}
	wctx, stop := refusal.WatchHandshake(ctx, probe)
	defer stop()
	// The probe sends nothing by itself: a request makes it connect.
	go probe.Get(wctx, "health-probe", clientv3.WithCountOnly())
	select {
	case r := <-made:
		return r.cli, r.err
	case <-wctx.Done():
		if cause := context.Cause(wctx); errors.Is(cause, refusal.ErrHandshake) {
			// The authenticating client gives up at its own DialTimeout;
			// whatever it made is closed then.
			go func() {
				if r := <-made; r.cli != nil {
					r.cli.Close()
				}
			}()
			return nil, fmt.Errorf("%w: %w", ErrTLSHandshake, cause)
		}
		r := <-made
		return r.cli, r.err
	}
}

// tls returns the TLS configuration of --cacert, --cert and --key, or nil
// if none of them is given.
func (f *Flags) tls() (*tls.Config, error) {
	if (f.cert == "") != (f.key == "") {
		return nil, fmt.Errorf("%s and %s: give both or neither", f.name("cert"), f.name("key"))
	}
	if f.cacert == "" && f.cert == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.cacert != "" {
		pem, err := os.ReadFile(f.cacert)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name("cacert"), err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s %s: no PEM certificate in the file", f.name("cacert"), f.cacert)
		}
		c.RootCAs = pool
	}
	if f.cert != "" {
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			// LoadX509KeyPair's errors name what is wrong, never the key's bytes.
			return nil, fmt.Errorf("%s %s / %s %s: %w", f.name("cert"), f.cert, f.name("key"), f.key, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// credentials returns --user and its password, from --password-file or
// PasswordEnv (after UseEtcdctlEnv: --password-file, EtcdctlPasswordEnv,
// PasswordEnv, then the password of $ETCDCTL_USER), or "" and "" without
// --user.
func (f *Flags) credentials() (user, password string, err error) {
	if f.user == "" {
		if f.passwordFile != "" {
			return "", "", errors.New("--password-file: given without --user")
		}
		return "", "", nil
	}
	if strings.Contains(f.user, ":") {
		// etcdctl's --user name:password: what follows the colon is a
		// password, so this error shows nothing of the value.
		return "", "", fmt.Errorf("--user: has a \":\"; give the user name alone, and the password with --password-file or $%s (never on the command line, where the process list shows it)", PasswordEnv)
	}
	if f.passwordFile != "" {
		b, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return "", "", fmt.Errorf("--password-file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	} else {
		getenv := f.getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		if f.etcdctl {
			password = getenv(EtcdctlPasswordEnv)
		}
		if password == "" {
			password = getenv(PasswordEnv)
		}
		if password == "" {
			password = f.userPass
		}
	}
	if password == "" {
		if f.etcdctl {
			return "", "", fmt.Errorf("%s %s: no password: give --password-file or set $%s or $%s", f.name("user"), f.user, EtcdctlPasswordEnv, PasswordEnv)
		}
		return "", "", fmt.Errorf("--user %s: no password: give --password-file or set $%s", f.user, PasswordEnv)
	}
	return f.user, password, nil
}
