package tools

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// errFakeDial is the error of a fakeNet dial without a server.
var errFakeDial = errors.New("fake dial: no connection")

// fakeNet is a guard's resolver and dialer that never touch the network.
// Every host name resolves to addrs. A dial records its address and fails
// with errFakeDial or, when location is set, returns an in-memory
// connection to a server that answers every request with a redirect to
// location.
type fakeNet struct {
	addrs    []netip.Addr
	location string

	mu       sync.Mutex
	dialed   []string // guarded by mu
	resolved []string // guarded by mu
	servers  sync.WaitGroup
}

func (n *fakeNet) guard(o FetchOptions) *guard {
	return &guard{o: o, resolve: n.resolve, dial: n.dial}
}

func (n *fakeNet) resolve(_ context.Context, host string) ([]netip.Addr, error) {
	n.mu.Lock()
	n.resolved = append(n.resolved, host)
	n.mu.Unlock()
	return slices.Clone(n.addrs), nil
}

func (n *fakeNet) dial(_ context.Context, network, address string) (net.Conn, error) {
	n.mu.Lock()
	n.dialed = append(n.dialed, network+" "+address)
	n.mu.Unlock()
	if n.location == "" {
		return nil, errFakeDial
	}
	client, server := net.Pipe()
	_ = server.SetDeadline(time.Now().Add(5 * time.Second))
	n.servers.Go(func() {
		defer server.Close()
		if _, err := http.ReadRequest(bufio.NewReader(server)); err != nil {
			return
		}
		loc := strings.NewReplacer("\r", "", "\n", "").Replace(n.location)
		_, _ = server.Write([]byte("HTTP/1.1 302 Found\r\nLocation: " + loc + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
	})
	return client, nil
}

// run fetches rawURL through a guard on n and returns the recorded dials
// and lookups and the fetch error.
func (n *fakeNet) run(t *testing.T, o FetchOptions, rawURL string) (dialed, resolved []string, err error) {
	t.Helper()
	client := newGuardedClient(n.guard(o))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = fetch(ctx, client, o, rawURL)
	client.CloseIdleConnections()
	n.servers.Wait()
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.dialed), slices.Clone(n.resolved), err
}

func fuzzFetchOptions(allowPrivate bool) FetchOptions {
	return FetchOptions{
		AllowPrivate: allowPrivate,
		MaxRedirects: DefaultMaxRedirects,
		Timeout:      5 * time.Second,
		MaxBodyBytes: 1 << 10,
		UserAgent:    "fuzz",
	}
}

// encodeAddrs encodes addresses as decodeAddrs reads them.
func encodeAddrs(addrs ...string) []byte {
	var b []byte
	for _, a := range addrs {
		ip := netip.MustParseAddr(a)
		if ip.Is4() {
			v := ip.As4()
			b = append(append(b, 0), v[:]...)
		} else {
			v := ip.As16()
			b = append(append(b, 1), v[:]...)
		}
	}
	return b
}

// decodeAddrs reads at most 16 addresses from b: a tag byte, then 4 bytes
// of an IPv4 address if the tag is even or 16 bytes of an IPv6 address
// (IPv4-mapped ones included) if it is odd. An incomplete last group is
// ignored.
func decodeAddrs(b []byte) []netip.Addr {
	var out []netip.Addr
	for len(b) > 0 && len(out) < 16 {
		tag := b[0]
		b = b[1:]
		if tag%2 == 0 {
			if len(b) < 4 {
				break
			}
			out = append(out, netip.AddrFrom4([4]byte(b[:4])))
			b = b[4:]
		} else {
			if len(b) < 16 {
				break
			}
			out = append(out, netip.AddrFrom16([16]byte(b[:16])))
			b = b[16:]
		}
	}
	return out
}

// isInternal is an independent check of what http_fetch must never dial by
// default, written with net/netip predicates and byte tests rather than
// the refusedRanges table: loopback, private, link-local (cloud metadata),
// CGNAT, multicast, unspecified and reserved addresses, in IPv4 form or
// embedded in IPv6 (IPv4-mapped, IPv4-compatible, NAT64, 6to4).
func isInternal(ip netip.Addr) bool {
	if !ip.IsValid() || ip.Zone() != "" {
		return true
	}
	if ip.Is4In6() {
		return isInternal(ip.Unmap())
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return true
	}
	if ip.Is4() {
		b := ip.As4()
		switch {
		case b[0] == 0, b[0] == 10, b[0] == 127, b[0] >= 224: // this network, private, loopback, multicast, reserved, broadcast
			return true
		case b[0] == 169 && b[1] == 254: // link-local, 169.254.169.254
			return true
		case b[0] == 100 && b[1]&0xc0 == 64: // CGNAT 100.64.0.0/10
			return true
		case b[0] == 192 && b[1] == 0 && b[2] == 0: // IETF protocol assignments
			return true
		case b[0] == 198 && b[1]&0xfe == 18: // benchmarking
			return true
		}
		return false
	}
	b := ip.As16()
	var v4 [4]byte
	copy(v4[:], b[12:16])
	switch {
	case [12]byte(b[:12]) == [12]byte{}: // ::/96, IPv4-compatible
		return true
	case [12]byte(b[:12]) == [12]byte{0, 0x64, 0xff, 0x9b}: // NAT64 64:ff9b::/96
		return isInternal(netip.AddrFrom4(v4))
	case [6]byte(b[:6]) == [6]byte{0, 0x64, 0xff, 0x9b, 0, 1}: // local-use NAT64 64:ff9b:1::/48
		return true
	case b[0] == 0x20 && b[1] == 0x02: // 6to4 2002::/16
		return isInternal(netip.AddrFrom4([4]byte(b[2:6])))
	case b[0]&0xfe == 0xfc: // unique local fc00::/7
		return true
	case b[0] == 0xfe && b[1]&0xc0 != 0: // fe40:: to feff::, link-local and site-local
		return b[1]&0xc0 >= 0x80
	case [8]byte(b[:8]) == [8]byte{1, 0}: // discard-only 100::/64
		return true
	}
	return false
}

// checkDialed reports what is wrong with a dial the guard made under o:
// the address must be an IP literal and port, permitted by checkAddr, and
// never internal unless o.AllowPrivate.
func checkDialed(o FetchOptions, dial string) string {
	network, address, _ := strings.Cut(dial, " ")
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return "network " + network
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return "not an IP literal and port"
	}
	if ap.Addr().Zone() != "" {
		return "has a zone"
	}
	if ap.Addr().Is4In6() {
		return "an IPv4-mapped address is dialed as IPv6"
	}
	if err := checkAddr(o, ap.Addr()); err != nil {
		return "checkAddr refuses it: " + err.Error()
	}
	if !o.AllowPrivate && isInternal(ap.Addr()) {
		return "an internal address"
	}
	return ""
}

type guardCase struct {
	name         string
	url          string
	addrs        []string // what every host name resolves to
	allowPrivate bool
	location     string // the fake server's redirect; "" means no connection
	dialed       []string
}

var guardCases = []guardCase{
	{name: "metadata", url: "http://169.254.169.254/latest/meta-data/"},
	{name: "mapped loopback", url: "http://[::ffff:127.0.0.1]/"},
	{name: "unspecified", url: "http://0.0.0.0/"},
	{name: "IPv6 loopback", url: "http://[::1]:8080/"},
	{name: "private", url: "http://10.0.0.1/"},
	{name: "unique local", url: "http://[fd00::1]/"},
	{name: "CGNAT", url: "https://100.64.0.1/"},
	{name: "NAT64 loopback", url: "http://[64:ff9b::7f00:1]/"},
	{name: "local-use NAT64", url: "http://[64:ff9b:1::a00:1]/"},
	{name: "6to4 loopback", url: "http://[2002:7f00:1::]/"},
	{name: "IPv4-compatible loopback", url: "http://[::127.0.0.1]/"},
	{name: "zone", url: "http://[fe80::1%25eth0]/", allowPrivate: true},
	{name: "empty host", url: "http://:80/", addrs: []string{"93.184.216.34"}},
	{name: "public literal", url: "http://93.184.216.34/", dialed: []string{"tcp 93.184.216.34:80"}},
	{name: "public IPv6 literal", url: "https://[2606:2800:220:1:248:1893:25c8:1946]:8443/x",
		dialed: []string{"tcp [2606:2800:220:1:248:1893:25c8:1946]:8443"}},
	{name: "mapped public literal", url: "http://[::ffff:93.184.216.34]/", dialed: []string{"tcp 93.184.216.34:80"}},
	{name: "name to public", url: "https://example.com/", addrs: []string{"93.184.216.34"},
		dialed: []string{"tcp 93.184.216.34:443"}},
	{name: "name to loopback", url: "http://localhost.example/", addrs: []string{"127.0.0.1"}},
	{name: "name to mapped metadata", url: "http://meta.example/", addrs: []string{"::ffff:169.254.169.254"}},
	{name: "name to mapped public", url: "http://example.com/", addrs: []string{"::ffff:93.184.216.34"},
		dialed: []string{"tcp 93.184.216.34:80"}},
	{name: "name to nothing", url: "http://example.com/"},
	{name: "private then public", url: "http://example.com/", addrs: []string{"10.0.0.1", "93.184.216.34"},
		dialed: []string{"tcp 93.184.216.34:80"}},
	{name: "public then metadata", url: "http://example.com:81/",
		addrs:  []string{"2606:2800:220:1:248:1893:25c8:1946", "169.254.169.254", "fd00::1"},
		dialed: []string{"tcp [2606:2800:220:1:248:1893:25c8:1946]:81"}},
	{name: "AllowPrivate literal", url: "http://127.0.0.1:8080/", allowPrivate: true,
		dialed: []string{"tcp 127.0.0.1:8080"}},
	{name: "AllowPrivate tries each in order", url: "http://example.com/", allowPrivate: true,
		addrs:  []string{"10.0.0.1", "::1", "93.184.216.34"},
		dialed: []string{"tcp 10.0.0.1:80", "tcp [::1]:80", "tcp 93.184.216.34:80"}},
	{name: "redirect to metadata", url: "http://93.184.216.34/", location: "http://169.254.169.254/latest/meta-data/",
		dialed: []string{"tcp 93.184.216.34:80"}},
	// The fake server redirects every request: to 5 redirects, then stop.
	{name: "redirect to a name", url: "http://93.184.216.34/", location: "http://internal.example/",
		addrs:  []string{"192.168.0.1", "8.8.8.8"},
		dialed: []string{"tcp 93.184.216.34:80", "tcp 8.8.8.8:80", "tcp 8.8.8.8:80", "tcp 8.8.8.8:80", "tcp 8.8.8.8:80", "tcp 8.8.8.8:80"}},
	{name: "redirect to file", url: "http://93.184.216.34/", location: "file:///etc/passwd",
		dialed: []string{"tcp 93.184.216.34:80"}},
}

func TestGuardDialContext(t *testing.T) {
	for _, tc := range guardCases {
		t.Run(tc.name, func(t *testing.T) {
			n := &fakeNet{location: tc.location}
			for _, a := range tc.addrs {
				n.addrs = append(n.addrs, netip.MustParseAddr(a))
			}
			o := fuzzFetchOptions(tc.allowPrivate)
			dialed, _, err := n.run(t, o, tc.url)
			if err == nil {
				t.Fatalf("fetch %s succeeded", tc.url)
			}
			if !slices.Equal(dialed, tc.dialed) {
				t.Errorf("fetch %s dialed %q, want %q", tc.url, dialed, tc.dialed)
			}
			if len(tc.dialed) == 0 && tc.location == "" && !errors.Is(err, ErrRefusedAddress) {
				t.Errorf("fetch %s error = %v, want ErrRefusedAddress", tc.url, err)
			}
			if len(tc.dialed) > 0 && tc.location == "" && !errors.Is(err, errFakeDial) {
				t.Errorf("fetch %s error = %v, want the dial error", tc.url, err)
			}
		})
	}
}

func TestGuardDialContextNetworks(t *testing.T) {
	n := &fakeNet{addrs: []netip.Addr{
		netip.MustParseAddr("2606:2800:220:1:248:1893:25c8:1946"),
		netip.MustParseAddr("::ffff:93.184.216.34"),
	}}
	g := n.guard(fuzzFetchOptions(false))
	for _, network := range []string{"udp", "unix", "ip4"} {
		if _, err := g.DialContext(t.Context(), network, "example.com:80"); !errors.Is(err, ErrRefusedAddress) {
			t.Errorf("DialContext(%s) = %v, want ErrRefusedAddress", network, err)
		}
	}
	for _, address := range []string{"example.com", "example.com:http", "example.com:65536", "[::1:80"} {
		if _, err := g.DialContext(t.Context(), "tcp", address); !errors.Is(err, ErrRefusedAddress) {
			t.Errorf("DialContext(tcp, %s) = %v, want ErrRefusedAddress", address, err)
		}
	}
	_, _ = g.DialContext(t.Context(), "tcp4", "example.com:80")
	_, _ = g.DialContext(t.Context(), "tcp6", "example.com:80")
	want := []string{"tcp4 93.184.216.34:80", "tcp6 [2606:2800:220:1:248:1893:25c8:1946]:80"}
	if !slices.Equal(n.dialed, want) {
		t.Errorf("dialed %q, want %q", n.dialed, want)
	}
}

// FuzzURLGuard checks that http_fetch never dials a refused address,
// whatever the URL, the addresses its host names resolve to and the
// redirect the server answers with: the whole client runs, with a fake
// resolver and a recording dialer, so nothing leaves the machine.
func FuzzURLGuard(f *testing.F) {
	if testing.Short() {
		f.Skip("fuzz seeds skipped under -short")
	}
	for _, tc := range guardCases {
		f.Add(tc.url, encodeAddrs(tc.addrs...), tc.allowPrivate, tc.location)
	}
	f.Fuzz(func(t *testing.T, rawURL string, ipBytes []byte, allowPrivate bool, location string) {
		n := &fakeNet{addrs: decodeAddrs(ipBytes), location: location}
		o := fuzzFetchOptions(allowPrivate)
		dialed, resolved, _ := n.run(t, o, rawURL)
		for _, d := range dialed {
			if problem := checkDialed(o, d); problem != "" {
				t.Errorf("fetch %q with addresses %v dialed %q: %s", rawURL, n.addrs, d, problem)
			}
		}
		for _, host := range resolved {
			if _, err := netip.ParseAddr(host); err == nil || host == "" {
				t.Errorf("fetch %q looked up %q, which is not a host name", rawURL, host)
			}
		}
	})
}

// TestRefusalTellsNoAddress: a refused host's error says why, but neither
// the address it resolved to nor the server's DNS resolver, which would
// let the model map the internal network.
func TestRefusalTellsNoAddress(t *testing.T) {
	n := &fakeNet{addrs: []netip.Addr{netip.MustParseAddr("10.9.8.7")}}
	_, _, err := n.run(t, FetchOptions{}, "http://vault.corp.internal/")
	if !errors.Is(err, ErrRefusedAddress) || strings.Contains(err.Error(), "10.9.8.7") {
		t.Errorf("refusal = %v; want ErrRefusedAddress without the address", err)
	}
	g := &guard{resolve: func(context.Context, string) ([]netip.Addr, error) {
		return nil, &net.DNSError{Err: "no such host", Name: "nope.invalid", Server: "10.255.255.53:53", IsNotFound: true}
	}, dial: n.dial}
	if _, _, err := g.permitted(t.Context(), "tcp", "nope.invalid:80"); err == nil || strings.Contains(err.Error(), "10.255.255.53") {
		t.Errorf("lookup failure = %v; want an error without the resolver's address", err)
	}
}

// TestAllowMappedPrefix: an IPv4-mapped prefix in Allow allows the same
// addresses at the resolve check and at the dial, which sees them as IPv4.
func TestAllowMappedPrefix(t *testing.T) {
	o := FetchOptions{Allow: []netip.Prefix{netip.MustParsePrefix("::ffff:10.1.2.0/120")}}
	if err := checkAddr(o, netip.MustParseAddr("::ffff:10.1.2.3")); err != nil {
		t.Errorf("resolve check: %v", err)
	}
	if err := checkDial(o, "tcp", "10.1.2.3:80"); err != nil {
		t.Errorf("dial check: %v", err)
	}
	if err := checkDial(o, "tcp", "10.1.3.3:80"); err == nil {
		t.Error("dial check allowed an address outside the prefix")
	}
}
