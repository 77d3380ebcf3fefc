package tools

import (
	"errors"
	"net/netip"
	"testing"
)

func TestClassifyAddr(t *testing.T) {
	tests := []struct {
		addr    string
		refused bool
	}{
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"93.184.216.34", false},
		{"172.32.0.1", false},
		{"100.128.0.1", false},
		{"169.255.0.1", false},
		{"2001:4860:4860::8888", false},
		{"2606:4700::1111", false},
		{"::ffff:8.8.8.8", false},
		{"64:ff9b::808:808", false},
		{"2002:808:808::1", false},

		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"10.0.0.1", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.1.1", true},
		{"169.254.169.254", true},
		{"169.254.0.1", true},
		{"100.64.0.1", true},
		{"100.127.255.255", true},
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		{"255.255.255.255", true},
		{"240.0.0.1", true},
		{"::", true},
		{"::1", true},
		{"fc00::1", true},
		{"fd12:3456::1", true},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"febf::1", true},
		{"ff02::1", true},
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.1.2.3", true},
		{"::ffff:169.254.169.254", true},
		{"::ffff:0.0.0.0", true},
		{"::ffff:192.168.0.1", true},
		{"::127.0.0.1", true},
		{"64:ff9b::7f00:1", true},
		{"64:ff9b::a9fe:a9fe", true},
		{"64:ff9b:1::a00:1", true},
		{"64:ff9b:1:ffff::808:808", true},
		{"2002:7f00:1::", true},
		{"2002:c0a8:101::1", true},
	}
	for _, tt := range tests {
		reason := classifyAddr(netip.MustParseAddr(tt.addr))
		if got := reason != ""; got != tt.refused {
			t.Errorf("classifyAddr(%s) = %q, want refused %v", tt.addr, reason, tt.refused)
		}
	}
	if classifyAddr(netip.Addr{}) == "" {
		t.Error("classifyAddr(invalid) allowed")
	}
}

func TestCheckAddr(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	mapped := netip.MustParseAddr("::ffff:127.0.0.1")
	meta := netip.MustParseAddr("169.254.169.254")
	public := netip.MustParseAddr("8.8.8.8")
	allow := FetchOptions{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	tests := []struct {
		name string
		o    FetchOptions
		ip   netip.Addr
		ok   bool
	}{
		{"default public", FetchOptions{}, public, true},
		{"default loopback", FetchOptions{}, lo, false},
		{"default mapped loopback", FetchOptions{}, mapped, false},
		{"default metadata", FetchOptions{}, meta, false},
		{"AllowPrivate loopback", FetchOptions{AllowPrivate: true}, lo, true},
		{"AllowPrivate metadata", FetchOptions{AllowPrivate: true}, meta, true},
		{"Allow lists loopback", allow, lo, true},
		{"Allow matches mapped form", allow, mapped, true},
		{"Allow does not list metadata", allow, meta, false},
		{"Allow does not list 127.0.0.2", allow, netip.MustParseAddr("127.0.0.2"), false},
	}
	for _, tt := range tests {
		err := checkAddr(tt.o, tt.ip)
		if (err == nil) != tt.ok {
			t.Errorf("%s: checkAddr(%s) = %v, want ok %v", tt.name, tt.ip, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrRefusedAddress) {
			t.Errorf("%s: checkAddr error %v does not wrap ErrRefusedAddress", tt.name, err)
		}
	}
	for _, a := range []string{"127.0.0.1:80", "[::1]:443", "[fe80::1%eth0]:80", "[::ffff:127.0.0.1]:80", "garbage"} {
		if err := checkDial(FetchOptions{}, "tcp4", a); !errors.Is(err, ErrRefusedAddress) {
			t.Errorf("checkDial(%s) = %v, want ErrRefusedAddress", a, err)
		}
	}
	if err := checkDial(FetchOptions{}, "tcp4", "8.8.8.8:443"); err != nil {
		t.Errorf("checkDial(8.8.8.8:443) = %v", err)
	}
	if err := checkDial(FetchOptions{}, "udp", "8.8.8.8:53"); err == nil {
		t.Error("checkDial(udp) allowed")
	}
}
