package ratelimit

import (
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP returns the IP address of the client that sent r, for use as a
// rate-limit key. It is the address of the connection's peer
// (r.RemoteAddr) unless that peer is in trustedProxies; then it is the
// right-most address of the X-Forwarded-For header that is not a trusted
// proxy (each proxy appends the address it received the request from, so
// the entries left of it may be forged by the client). X-Forwarded-For is
// ignored entirely when the peer is not a trusted proxy. If every
// forwarded address is trusted, the left-most one is returned. A
// RemoteAddr that does not parse is returned as it is.
func ClientIP(r *http.Request, trustedProxies []netip.Prefix) string {
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !trusted(peer, trustedProxies) {
		return peer.String()
	}
	client := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		h := hops[i]
		for h != "" {
			var hop string
			if j := strings.LastIndexByte(h, ','); j >= 0 {
				hop, h = h[j+1:], h[:j]
			} else {
				hop, h = h, ""
			}
			hop = strings.TrimSpace(hop)
			if hop == "" {
				continue
			}
			a, ok := parseAddr(hop)
			if !ok {
				// Not written by a trusted proxy: the chain of
				// trust ends at the last address seen.
				return client.String()
			}
			client = a
			if !trusted(a, trustedProxies) {
				return a.String()
			}
		}
	}
	return client.String()
}

// AddrKey is the rate-limit key of a client address as ClientIP returns
// it: the address itself for IPv4, its /64 network for IPv6, since one
// subscriber is typically given a whole /64 and could otherwise draw a
// fresh bucket from each of its addresses. Anything else is returned as it
// is.
func AddrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() {
		return ip
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// parseAddr parses "ip", "ip:port" or "[ipv6]:port", unmapping
// IPv4-mapped IPv6 addresses and dropping any zone.
func parseAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func trusted(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
