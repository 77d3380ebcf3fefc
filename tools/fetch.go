package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	helix "github.com/helix-agents/helix-go"
)

// ErrRefusedAddress is wrapped by the error of an http_fetch call whose
// host resolves to a refused address (loopback, private, link-local,
// metadata, multicast and the like).
var ErrRefusedAddress = errors.New("tools: address refused")

// Defaults of [FetchOptions].
const (
	DefaultMaxRedirects = 5
	DefaultFetchTimeout = 15 * time.Second
	DefaultMaxBodyBytes = 1 << 20
)

// FetchOptions configures the http_fetch tool. The zero value is safe:
// only public addresses, 5 redirects, 15 s, 1 MiB.
type FetchOptions struct {
	// AllowPrivate permits every address that is refused by default:
	// loopback, private, link-local (including cloud metadata at
	// 169.254.169.254), CGNAT, multicast, unspecified and reserved ranges.
	// Use it only when the agent may reach the internal network.
	AllowPrivate bool
	// Allow lists address ranges permitted although refused by default,
	// such as netip.MustParsePrefix("10.1.2.0/24") for an internal API.
	// IPv4-mapped IPv6 addresses match the IPv4 prefixes.
	Allow []netip.Prefix
	// MaxRedirects is the number of redirects followed; 0 means
	// DefaultMaxRedirects and a negative value means none. Every redirect
	// is checked like the first request.
	MaxRedirects int
	// Timeout bounds a whole call, redirects and body included; 0 means
	// DefaultFetchTimeout.
	Timeout time.Duration
	// MaxBodyBytes is the largest body returned; longer bodies are
	// truncated. 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// UserAgent is sent with each request; empty means "helix-http_fetch".
	UserAgent string
	// RequireApproval makes every call wait for a human approval. By
	// default http_fetch needs none.
	RequireApproval bool
}

// FetchInput is the input of the http_fetch tool.
type FetchInput struct {
	URL string `json:"url" jsonschema:"required,description=The http or https URL to GET,maxLength=2048"`
}

// FetchOutput is the result of the http_fetch tool.
type FetchOutput struct {
	Status      int    `json:"status"`
	ContentType string `json:"contentType"`
	Body        string `json:"body"`
	Truncated   bool   `json:"truncated"`
	Note        string `json:"note,omitempty"`
}

// HTTPFetch returns the http_fetch tool: an HTTP GET of a URL that returns
// the status, content type and body as text. Only http and https URLs are
// fetched, with no proxy. The dialer resolves each host, including those
// of redirects, drops internal addresses (see [FetchOptions.AllowPrivate])
// and connects to a remaining one by its IP address, so that no second
// lookup can change it; with none left the error wraps
// [ErrRefusedAddress], so DNS names pointing inward and redirects to
// internal hosts fail. IP addresses with a zone are refused. Bodies
// are cut at [FetchOptions.MaxBodyBytes] with Truncated set; bytes that are
// not UTF-8 are replaced. An HTTP error status is a result, not a tool
// error.
func HTTPFetch(o FetchOptions) *helix.Tool {
	if o.MaxRedirects == 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultFetchTimeout
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.UserAgent == "" {
		o.UserAgent = "helix-http_fetch"
	}
	client := newFetchClient(o)
	return helix.NewTool("http_fetch",
		"Fetches a public http(s) URL with GET and returns the status, content type and body text.",
		func(ctx context.Context, _ *helix.ToolContext, in FetchInput) (FetchOutput, error) {
			return fetch(ctx, client, o, in.URL)
		}, approval(o.RequireApproval)...)
}

func newFetchClient(o FetchOptions) *http.Client { return newGuardedClient(newGuard(o)) }

// newGuardedClient returns the http_fetch client dialing through g; tests
// pass a guard with a fake resolver and dialer.
func newGuardedClient(g *guard) *http.Client {
	o := g.o
	transport := &http.Transport{
		Proxy:                  nil, // a proxy would fetch on our behalf, unchecked
		DialContext:            g.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  o.Timeout,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   o.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if o.MaxRedirects < 0 {
				return errors.New("redirects are not followed")
			}
			if len(via) > o.MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", o.MaxRedirects)
			}
			return checkScheme(req.URL)
		},
	}
}

// guard is the dialer of http_fetch. It resolves the host itself, drops
// every address that o refuses and dials a permitted one as an IP literal,
// so the address connected is the address checked: no second lookup can
// return another one (DNS rebinding). The dialer's Control function checks
// the address again at connect time.
type guard struct {
	o FetchOptions
	// resolve looks up the addresses of a host name (never an IP literal).
	resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// dial connects to address, always an IP literal and a port.
	dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// minDialTimeout is the least time given to one address of several, as in
// net.Dialer.
const minDialTimeout = 2 * time.Second

func newGuard(o FetchOptions) *guard {
	dialer := &net.Dialer{
		Timeout: o.Timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			return checkDial(o, network, address)
		},
	}
	return &guard{
		o: o,
		resolve: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		},
		dial: dialer.DialContext,
	}
}

// DialContext is the transport's dial function: it connects to the first
// permitted address of the host of address (host:port) that accepts the
// connection. If the host has no permitted address, the error wraps
// ErrRefusedAddress.
func (g *guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	addrs, port, err := g.permitted(ctx, network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var firstErr error
	for i, ip := range addrs {
		dctx, cancel := ctx, context.CancelFunc(func() {})
		if left := len(addrs) - i; left > 1 {
			// Leave time for the other addresses, as net.Dialer does.
			if deadline, ok := ctx.Deadline(); ok {
				part := time.Until(deadline) / time.Duration(left)
				dctx, cancel = context.WithTimeout(ctx, max(part, minDialTimeout))
			}
		}
		conn, err := g.dial(dctx, network, netip.AddrPortFrom(ip, port).String())
		cancel()
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// permitted returns the addresses of address's host that o permits, in
// the resolver's order, unmapped, and the port. The error wraps
// ErrRefusedAddress if there are none.
func (g *guard) permitted(ctx context.Context, network, address string) ([]netip.Addr, uint16, error) {
	if network != "tcp4" && network != "tcp6" && network != "tcp" {
		return nil, 0, fmt.Errorf("%w: network %s", ErrRefusedAddress, network)
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: cannot parse %q", ErrRefusedAddress, address)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: bad port %q", ErrRefusedAddress, portStr)
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		if host == "" || strings.Contains(host, "%") {
			return nil, 0, fmt.Errorf("%w: host %q", ErrRefusedAddress, host)
		}
		if addrs, err = g.resolve(ctx, host); err != nil {
			// Not the resolver's error as is: it names the server's DNS
			// server.
			var dnsErr *net.DNSError
			if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
				return nil, 0, fmt.Errorf("host %q not found", host)
			}
			if ctx.Err() != nil {
				return nil, 0, ctx.Err()
			}
			return nil, 0, fmt.Errorf("cannot resolve host %q", host)
		}
	}
	var ok []netip.Addr
	var refusal error
	for _, ip := range addrs {
		if err := g.check(network, ip); err != nil {
			if refusal == nil {
				refusal = err
			}
			continue
		}
		ok = append(ok, ip.Unmap())
	}
	if len(ok) == 0 {
		if refusal == nil {
			refusal = fmt.Errorf("%w: %s has no address", ErrRefusedAddress, host)
		}
		return nil, 0, refusal
	}
	return ok, uint16(port), nil
}

// check returns an error wrapping ErrRefusedAddress if ip may not be
// dialed on network.
func (g *guard) check(network string, ip netip.Addr) error {
	if ip.Zone() != "" {
		return fmt.Errorf("%w: %s has a zone", ErrRefusedAddress, ip)
	}
	if err := checkAddr(g.o, ip); err != nil {
		return err
	}
	if u := ip.Unmap(); (network == "tcp4" && !u.Is4()) || (network == "tcp6" && !u.Is6()) {
		return fmt.Errorf("%w: %s is not a %s address", ErrRefusedAddress, ip, network)
	}
	return nil
}

// checkDial is the dialer's Control function: address is the resolved
// ip:port about to be connected.
func checkDial(o FetchOptions, network, address string) error {
	if network != "tcp4" && network != "tcp6" && network != "tcp" {
		return fmt.Errorf("%w: network %s", ErrRefusedAddress, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrRefusedAddress, address)
	}
	return checkAddr(o, ap.Addr())
}

// checkAddr returns an error wrapping ErrRefusedAddress if o does not
// permit connecting to ip.
func checkAddr(o FetchOptions, ip netip.Addr) error {
	reason := classifyAddr(ip)
	if reason == "" || o.AllowPrivate {
		return nil
	}
	u := ip.WithZone("").Unmap()
	for _, p := range o.Allow {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// An IPv4-mapped prefix allows those IPv4 addresses, which is
			// how the dialer sees them.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Contains(u) || p.Contains(ip.WithZone("")) {
			return nil
		}
	}
	// The address itself is not told: the model asking would learn the
	// internal network's layout, host by host.
	return fmt.Errorf("%w: the host's address is %s", ErrRefusedAddress, reason)
}

func checkScheme(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("only http and https URLs can be fetched, not %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("the URL has no host")
	}
	if u.User != nil {
		return errors.New("URLs with credentials are not fetched")
	}
	return nil
}

func fetch(ctx context.Context, client *http.Client, o FetchOptions, raw string) (FetchOutput, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return FetchOutput{}, fmt.Errorf("http_fetch: invalid URL: %v", err)
	}
	if err := checkScheme(u); err != nil {
		return FetchOutput{}, fmt.Errorf("http_fetch: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return FetchOutput{}, fmt.Errorf("http_fetch: invalid URL: %v", err)
	}
	req.Header.Set("User-Agent", o.UserAgent)
	resp, err := client.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return FetchOutput{}, ctxErr
		}
		return FetchOutput{}, fmt.Errorf("http_fetch: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, o.MaxBodyBytes+1))
	if err != nil {
		return FetchOutput{}, fmt.Errorf("http_fetch: reading the body: %w", err)
	}
	out := FetchOutput{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	if int64(len(body)) > o.MaxBodyBytes {
		body = body[:o.MaxBodyBytes]
		// Do not split the last character.
		for i := 0; i < utf8.UTFMax-1 && len(body) > 0; i++ {
			if r, size := utf8.DecodeLastRune(body); r != utf8.RuneError || size > 1 {
				break
			}
			body = body[:len(body)-1]
		}
		out.Truncated = true
		out.Note = fmt.Sprintf("the body was truncated to %d bytes", len(body))
	}
	if mt, _, err := mime.ParseMediaType(out.ContentType); err == nil && isBinaryType(mt) {
		note := "binary content (" + mt + ") is not returned"
		if out.Note != "" {
			note = out.Note + "; " + note
		}
		out.Note = note
		return out, nil
	}
	out.Body = strings.ToValidUTF8(string(body), "\uFFFD")
	return out, nil
}

// isBinaryType reports whether a media type is not worth showing as text.
func isBinaryType(mt string) bool {
	for _, p := range []string{"image/", "audio/", "video/", "font/"} {
		if strings.HasPrefix(mt, p) {
			return true
		}
	}
	switch mt {
	case "application/octet-stream", "application/pdf", "application/zip", "application/gzip":
		return true
	}
	return false
}
