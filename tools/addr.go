package tools

import "net/netip"

// refusedRange is an address range http_fetch refuses by default.
type refusedRange struct {
	prefix netip.Prefix
	reason string
}

var refusedRanges = func() []refusedRange {
	table := []struct{ cidr, reason string }{
		{"0.0.0.0/8", "unspecified (0.0.0.0/8)"},
		{"10.0.0.0/8", "private (RFC 1918)"},
		{"100.64.0.0/10", "shared address space (CGNAT)"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local (includes cloud metadata)"},
		{"172.16.0.0/12", "private (RFC 1918)"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"192.168.0.0/16", "private (RFC 1918)"},
		{"198.18.0.0/15", "benchmarking"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved (includes broadcast)"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"::/96", "IPv4-compatible IPv6"},
		{"100::/64", "discard-only"},
		// A local-use NAT64 prefix (RFC 8215) reaches IPv4 addresses
		// through the operator's own translator, internal ones included.
		{"64:ff9b:1::/48", "local-use NAT64"},
		{"fc00::/7", "unique local (private)"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local"},
		{"ff00::/8", "multicast"},
	}
	out := make([]refusedRange, len(table))
	for i, r := range table {
		out[i] = refusedRange{netip.MustParsePrefix(r.cidr), r.reason}
	}
	return out
}()

// IPv6 prefixes that embed an IPv4 address: NAT64 (the last 32 bits) and
// 6to4 (bits 16–48). The embedded address is classified too, so that
// 64:ff9b::7f00:1 is not a way to reach 127.0.0.1.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// classifyAddr reports why http_fetch refuses ip by default, or "" when ip
// is a public address. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are
// classified as the IPv4 address; zones are ignored. The invalid address is
// refused.
func classifyAddr(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid address"
	}
	ip = ip.WithZone("").Unmap()
	for _, r := range refusedRanges {
		if r.prefix.Contains(ip) {
			return r.reason
		}
	}
	if ip.Is6() {
		b := ip.As16()
		var v4 netip.Addr
		switch {
		case nat64Prefix.Contains(ip):
			v4 = netip.AddrFrom4([4]byte(b[12:16]))
		case sixToFour.Contains(ip):
			v4 = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if v4.IsValid() {
			if reason := classifyAddr(v4); reason != "" {
				return reason + " (embedded in IPv6)"
			}
		}
	}
	return ""
}
