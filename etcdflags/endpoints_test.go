package etcdflags

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// endpointCases are the elements of --endpoints the table test and the
// fuzz tests start from: want is the parsed endpoint, or err a part of the
// error.
var endpointCases = []struct {
	ep   string
	want endpoint
	err  string
}{
	{ep: "127.0.0.1:2379", want: endpoint{host: "127.0.0.1", port: 2379}},
	{ep: "localhost:2379", want: endpoint{host: "localhost", port: 2379}},
	{ep: "etcd-1.example.com.:1", want: endpoint{host: "etcd-1.example.com.", port: 1}},
	{ep: "etcd_1:65535", want: endpoint{host: "etcd_1", port: 65535}},
	{ep: "h:02379", want: endpoint{host: "h", port: 2379}},
	{ep: "[::1]:2379", want: endpoint{host: "::1", port: 2379}},
	{ep: "[fe80::1%eth0]:2379", want: endpoint{host: "fe80::1%eth0", port: 2379}},
	{ep: "[::ffff:10.0.0.1]:2379", want: endpoint{host: "::ffff:10.0.0.1", port: 2379}},
	{ep: "http://127.0.0.1:2379", want: endpoint{scheme: "http", host: "127.0.0.1", port: 2379}},
	{ep: "https://etcd-1:2379", want: endpoint{scheme: "https", host: "etcd-1", port: 2379}},
	{ep: "https://etcd-1:2379/", want: endpoint{scheme: "https", host: "etcd-1", port: 2379}},
	{ep: "HTTPS://etcd-1:2379", want: endpoint{scheme: "https", host: "etcd-1", port: 2379}},
	{ep: "http://[::1]:2379", want: endpoint{scheme: "http", host: "::1", port: 2379}},
	{ep: "http://[fe80::1%25eth0]:2379", want: endpoint{scheme: "http", host: "fe80::1%eth0", port: 2379}},
	{ep: "unix:///run/etcd.sock", want: endpoint{scheme: "unix", path: "/run/etcd.sock"}},
	{ep: "unixs://etcd.sock:0", want: endpoint{scheme: "unixs", path: "etcd.sock:0"}},
	{ep: "unix:2379", want: endpoint{scheme: "unix", path: "2379"}},

	{ep: "127.0.0.1", err: `"127.0.0.1" has no port`},
	{ep: "localhost", err: `"localhost" has no port`},
	{ep: "127.0.0.1:", err: `"127.0.0.1:" has no port`},
	{ep: "[::1]", err: `"[::1]" has no port`},
	{ep: "::1", err: "IPv6 address without brackets"},
	{ep: "::1:2379", err: "IPv6 address without brackets"},
	{ep: "localhost:notaport", err: `"localhost:notaport" has port "notaport", not a number`},
	{ep: "h:0", err: "has port 0, not from 1 to 65535"},
	{ep: "h:00", err: "has port 00, not from 1 to 65535"},
	{ep: "h:65536", err: "has port 65536, above 65535"},
	{ep: "h:99999999999999999999", err: "above 65535"},
	{ep: "h:-1", err: `has port "-1", not a number`},
	{ep: "h:+1", err: `has port "+1", not a number`},
	{ep: "h:1/v3", err: `has port "1/v3", not a number`},
	{ep: ":2379", err: `":2379" has no host`},
	{ep: "[]:2379", err: "has no host"},
	{ep: "[fe80::1%#]:2379", err: `has "#" for zone`},
	{ep: "[etcd]:2379", err: `has "etcd" in brackets`},
	{ep: "[10.0.0.1]:2379", err: `has "10.0.0.1" in brackets`},
	{ep: "[::1]x:2379", err: "is not host:port"},
	{ep: "999.0.0.1:2379", err: "not an IPv4 address"},
	{ep: "10.0.1:2379", err: "not an IPv4 address"},
	{ep: "a b:2379", err: "not a host name"},
	{ep: "a..b:2379", err: "not a host name"},
	{ep: "h/x:2379", err: "not a host name"},
	{ep: "é:2379", err: "not a host name"},
	{ep: "http://", err: `"http://" has no host`},
	{ep: "https://:2379", err: "has no host"},
	{ep: "http://127.0.0.1", err: `"http://127.0.0.1" has no port`},
	{ep: "http://h:notaport", err: "is not a URL"},
	{ep: "http://h:2379/v3/kv", err: "has a path"},
	{ep: "http://h:2379?x=1", err: "has a query or a fragment"},
	{ep: "http://h:2379?", err: "has a query or a fragment"},
	{ep: "http://h:2379#", err: "has a query or a fragment"},
	{ep: "http://h:2379#x", err: "has a query or a fragment"},
	{ep: "http://u:secret@h:2379", err: `"http://u:xxxxx@h:2379" has a user in it`},
	{ep: "http://u:se cret@h:2379", err: `"http://xxxxx@h:2379" is not a URL`},
	{ep: "ftp://h:1", err: `scheme "ftp" not supported`},
	{ep: "UNIX://etcd.sock", err: `scheme "UNIX" not supported`},
	{ep: "://h:1", err: `scheme "" not supported`},
	{ep: "unix://", err: `"unix://" has no socket path`},
	{ep: "unixs:", err: `"unixs:" has no socket path`},
}

func TestParseEndpoint(t *testing.T) {
	for _, tc := range endpointCases {
		got, err := parseEndpoint(tc.ep)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("parseEndpoint(%q): %v, want %+v", tc.ep, err, tc.want)
		case tc.err == "" && got != tc.want:
			t.Errorf("parseEndpoint(%q) = %+v, want %+v", tc.ep, got, tc.want)
		case tc.err != "" && err == nil:
			t.Errorf("parseEndpoint(%q) = %+v, want an error saying %s", tc.ep, got, tc.err)
		case tc.err != "" && !strings.Contains(err.Error(), tc.err):
			t.Errorf("parseEndpoint(%q): %v, want an error saying %s", tc.ep, err, tc.err)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("parseEndpoint(%q): %v shows the password", tc.ep, err)
		}
	}
}

func TestCheckEndpoints(t *testing.T) {
	const forms = "(want host:port, [IPv6]:port, http(s)://host:port or unix(s)://path"
	for _, tc := range []struct {
		list string
		want []string
		err  string // the error after "--endpoints: "
	}{
		{list: "127.0.0.1:2379", want: []string{"127.0.0.1:2379"}},
		{list: " a:1 , https://b:2,[::1]:3,unix:///s ", want: []string{"a:1", "https://b:2", "[::1]:3", "unix:///s"}},
		{list: "", err: "no endpoint given " + forms},
		{list: "  ", err: "no endpoint given " + forms},
		{list: "a:1,,b:2", err: "element 2 of 3 is empty " + forms},
		{list: "a:1,", err: "element 2 of 2 is empty " + forms},
		{list: " , ", err: "element 1 of 2 is empty " + forms},
		{list: "127.0.0.1", err: `"127.0.0.1" has no port ` + forms + ")"},
		{list: "a:1,127.0.0.1,b:2", err: `"127.0.0.1" has no port ` + forms + ")"},
		{list: "a:1,ftp://h:1", err: `"ftp://h:1": scheme "ftp" not supported ` + forms + ")"},
	} {
		got, err := CheckEndpoints(tc.list)
		if tc.err == "" {
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("CheckEndpoints(%q) = %q, %v; want %q", tc.list, got, err, tc.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("CheckEndpoints(%q) = %q, want an error", tc.list, got)
			continue
		}
		if !strings.HasPrefix(err.Error(), "--endpoints: "+tc.err) {
			t.Errorf("CheckEndpoints(%q): %v, want --endpoints: %s...", tc.list, err, tc.err)
		}
	}
}

func FuzzParseEndpoint(f *testing.F) {
	for _, tc := range endpointCases {
		f.Add(tc.ep)
	}
	f.Fuzz(func(t *testing.T, ep string) {
		e, err := parseEndpoint(ep)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("parseEndpoint(%q): error %q is more than one line", ep, err)
			}
			return
		}
		switch e.scheme {
		case "unix", "unixs":
			if e.path == "" || e.host != "" || e.port != 0 {
				t.Fatalf("parseEndpoint(%q) = %+v: a socket with no path, or with a host", ep, e)
			}
			return
		case "", "http", "https":
		default:
			t.Fatalf("parseEndpoint(%q) = %+v: scheme not one clientv3 dials", ep, e)
		}
		if e.host == "" || e.port < 1 || e.port > 65535 || e.path != "" {
			t.Fatalf("parseEndpoint(%q) = %+v: no host, or a port outside 1..65535", ep, e)
		}
		// What was accepted is host:port, whatever its form.
		hp := net.JoinHostPort(e.host, strconv.Itoa(e.port))
		for _, again := range []string{hp, (&url.URL{Scheme: "http", Host: hp}).String(), (&url.URL{Scheme: "https", Host: hp}).String()} {
			back, err := parseEndpoint(again)
			if err != nil {
				t.Fatalf("parseEndpoint(%q) = %+v, but %q: %v", ep, e, again, err)
			}
			if back.host != e.host || back.port != e.port {
				t.Fatalf("parseEndpoint(%q) = %+v, but %q gives %+v", ep, e, again, back)
			}
		}
	})
}

func FuzzCheckEndpoints(f *testing.F) {
	for _, tc := range endpointCases {
		f.Add(tc.ep)
		f.Add("a:1," + tc.ep + " ,b:2")
	}
	f.Add("a:1,,b:2")
	f.Fuzz(func(t *testing.T, list string) {
		eps, err := CheckEndpoints(list)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--endpoints: ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("CheckEndpoints(%q): %q, want one line naming --endpoints", list, err)
			}
			return
		}
		if len(eps) == 0 {
			t.Fatalf("CheckEndpoints(%q) accepted no endpoint", list)
		}
		for _, ep := range eps {
			if _, err := parseEndpoint(ep); err != nil || ep != strings.TrimSpace(ep) {
				t.Fatalf("CheckEndpoints(%q) = %q: element %q untrimmed or malformed (%v)", list, eps, ep, err)
			}
		}
		again, err := CheckEndpoints(strings.Join(eps, ","))
		if err != nil || !slices.Equal(again, eps) {
			t.Fatalf("CheckEndpoints(%q) = %q, but joined again: %q, %v", list, eps, again, err)
		}
	})
}
