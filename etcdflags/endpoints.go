package etcdflags

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// endpointForms are the forms of one element of --endpoints, as its help
// text and its errors say them.
const endpointForms = "host:port, [IPv6]:port, http(s)://host:port or unix(s)://path"

// CheckEndpoints splits list, the value of --endpoints, at its commas and
// checks every element, trimmed of spaces: host:port (a host name or an
// IPv4 address), [IPv6]:port, http://host:port, https://host:port (nothing
// after the port but an optional "/"), or unix://path and unixs://path, a
// Unix socket (clientv3 also takes unix:path and unixs:path, and so does
// this), the forms clientv3 dials. A port is a number from 1 to 65535.
// It returns the elements, trimmed but otherwise as given, for
// clientv3.Config.Endpoints (whose scheme says whether TLS is needed).
//
// The error, if any, is one line naming --endpoints, the element at fault,
// what is wrong with it and the forms wanted. An element is never handed to
// clientv3 unchecked: clientv3 would retry a malformed one for as long as
// it is given, as if etcd were down.
func CheckEndpoints(list string) ([]string, error) {
	parts := strings.Split(list, ",")
	eps := make([]string, 0, len(parts))
	for i, p := range parts {
		ep := strings.TrimSpace(p)
		if ep == "" {
			if len(parts) == 1 {
				return nil, fmt.Errorf("--endpoints: no endpoint given (want %s)", endpointForms)
			}
			return nil, fmt.Errorf("--endpoints: element %d of %d is empty (want %s, comma separated)", i+1, len(parts), endpointForms)
		}
		if _, err := parseEndpoint(ep); err != nil {
			return nil, fmt.Errorf("--endpoints: %w (want %s)", err, endpointForms)
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// endpoint is one element of --endpoints, parsed.
type endpoint struct {
	scheme string // "", "http", "https", "unix" or "unixs", lower case
	host   string // a host name or an IP address, without brackets; "" for a socket
	port   int    // 1 to 65535; 0 for a socket
	path   string // the socket's path, never empty; "" for host:port
}

// parseEndpoint parses one element of --endpoints, trimmed. Its errors
// start with the element, quoted (without any password a URL holds).
func parseEndpoint(ep string) (endpoint, error) {
	// clientv3 takes anything starting with "unix:" or "unixs:" for a
	// socket, with or without "//" (so "unix:2379" is a file, never a
	// host named unix).
	for _, scheme := range []string{"unixs", "unix"} {
		if rest, ok := strings.CutPrefix(ep, scheme+":"); ok {
			path := strings.TrimPrefix(rest, "//")
			if path == "" {
				return endpoint{}, fmt.Errorf("%q has no socket path", ep)
			}
			return endpoint{scheme: scheme, path: path}, nil
		}
	}
	given, _, isURL := strings.Cut(ep, "://")
	if !isURL {
		host, port, err := splitHostPort(ep)
		if err != nil {
			return endpoint{}, fmt.Errorf("%q %w", ep, err)
		}
		return endpoint{host: host, port: port}, nil
	}
	// clientv3 reads the scheme of a URL in any case, as url.Parse does.
	scheme := strings.ToLower(given)
	if scheme != "http" && scheme != "https" {
		return endpoint{}, fmt.Errorf("%q: scheme %q not supported", redact(ep), given)
	}
	u, err := url.Parse(ep)
	if err != nil {
		// url's errors quote the whole URL, password included: say less.
		return endpoint{}, fmt.Errorf("%q is not a URL", redact(ep))
	}
	switch {
	case u.User != nil:
		return endpoint{}, fmt.Errorf("%q has a user in it; give it with --user", u.Redacted())
	case u.Path != "" && u.Path != "/":
		// clientv3 would drop the path without a word.
		return endpoint{}, fmt.Errorf("%q has a path", ep)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(ep, "#"):
		return endpoint{}, fmt.Errorf("%q has a query or a fragment", ep)
	case u.Host == "":
		return endpoint{}, fmt.Errorf("%q has no host", ep)
	}
	host, port, err := splitHostPort(u.Host)
	if err != nil {
		return endpoint{}, fmt.Errorf("%q %w", ep, err)
	}
	return endpoint{scheme: scheme, host: host, port: port}, nil
}

// redact hides what could be a password in a string that url.Parse refused:
// anything before an "@" after the scheme.
func redact(ep string) string {
	scheme, rest, _ := strings.Cut(ep, "://")
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		return scheme + "://xxxxx" + rest[i:]
	}
	return ep
}

// splitHostPort splits host:port or [IPv6]:port. Its errors complete a
// sentence that starts with the element: "has no port", and so on.
func splitHostPort(hp string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		var ae *net.AddrError
		switch {
		case errors.As(err, &ae) && ae.Err == "missing port in address" && !strings.Contains(hp[strings.LastIndex(hp, "]")+1:], ":"):
			return "", 0, errors.New("has no port")
		case strings.Count(hp, ":") > 1 && !strings.HasPrefix(hp, "["):
			return "", 0, errors.New("is an IPv6 address without brackets or has too many colons")
		}
		return "", 0, errors.New("is not host:port")
	}
	if p == "" {
		return "", 0, errors.New("has no port")
	}
	if port, err = parsePort(p); err != nil {
		return "", 0, err
	}
	switch {
	case h == "":
		return "", 0, errors.New("has no host")
	case strings.HasPrefix(hp, "["):
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is6() {
			return "", 0, fmt.Errorf("has %q in brackets, which only hold an IPv6 address", h)
		}
		if z := a.Zone(); z != "" && !isLabel(z) {
			return "", 0, fmt.Errorf("has %q for zone, not an interface name", z)
		}
	case isIPv4Like(h):
		if a, err := netip.ParseAddr(h); err != nil || !a.Is4() {
			return "", 0, fmt.Errorf("has %q for host, not an IPv4 address", h)
		}
	case !isHostName(h):
		return "", 0, fmt.Errorf("has %q for host, not a host name", h)
	}
	return h, port, nil
}

// parsePort parses a port, decimal digits only, from 1 to 65535.
func parsePort(p string) (int, error) {
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("has port %q, not a number", p)
		}
		if n = n*10 + int(c-'0'); n > 65535 {
			return 0, fmt.Errorf("has port %s, above 65535", p)
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("has port %s, not from 1 to 65535", p)
	}
	return n, nil
}

// isIPv4Like reports whether h holds only digits and dots, so that it is
// meant as an IPv4 address, not a host name.
func isIPv4Like(h string) bool {
	return strings.Trim(h, "0123456789.") == ""
}

// isHostName reports whether h is a host name: labels separated by single
// dots, with an optional final dot.
func isHostName(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if len(l) > 63 || !isLabel(l) {
			return false
		}
	}
	return true
}

// isLabel reports whether l is a label of a host name, or an interface name
// (an IPv6 zone): ASCII letters, digits, "-" and "_", at least one.
func isLabel(l string) bool {
	for _, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return l != ""
}
