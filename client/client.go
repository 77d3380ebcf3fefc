package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of [Options].
const (
	// DefaultTimeout bounds each request other than a stream.
	DefaultTimeout = 30 * time.Second
	// DefaultReconnectDelay is the base delay of a stream's reconnect
	// backoff.
	DefaultReconnectDelay = 250 * time.Millisecond
	// DefaultMaxReconnectDelay caps a stream's reconnect backoff.
	DefaultMaxReconnectDelay = 5 * time.Second
	// DefaultMaxReconnects is how many consecutive reconnects of a stream
	// may fail before it gives up.
	DefaultMaxReconnects = 10
	// DefaultIdleTimeout is three heartbeat intervals of the server
	// (DESIGN §4 sends ": ping" every 15 s).
	DefaultIdleTimeout = 45 * time.Second
)

// maxResponseBody bounds the size of a decoded JSON answer.
const maxResponseBody = 128 << 20

// Options configures [New]. The zero value is ready to use: every field
// documents its default.
type Options struct {
	// HTTPClient sends the requests. Nil means a client with no overall
	// timeout (streams are long-lived) using http.DefaultTransport, whose
	// dial and TLS handshake timeouts apply. A client with a Timeout cuts
	// streams off; they then reconnect.
	HTTPClient *http.Client

	// Token is sent as "Authorization: Bearer <Token>" on every request:
	// an API key or a JWT. Empty sends no Authorization header.
	Token string

	// Timeout bounds each request other than a stream, in addition to the
	// caller's context. Zero means DefaultTimeout (30 s); a negative value
	// means no bound.
	Timeout time.Duration

	// ReconnectDelay is the base delay before a stream reconnects. The
	// delay doubles with every consecutive failure up to
	// MaxReconnectDelay, with random jitter (between half and all of
	// it). A "retry:" field from the server raises it to at least the
	// server's value for the rest of the stream. Zero means
	// DefaultReconnectDelay (250 ms).
	ReconnectDelay time.Duration

	// MaxReconnectDelay caps the backoff of ReconnectDelay. Zero means
	// DefaultMaxReconnectDelay (5 s).
	MaxReconnectDelay time.Duration

	// MaxReconnects is how many consecutive reconnects may fail, without
	// a chunk arriving in between, before a stream gives up and yields
	// the last error. Zero means DefaultMaxReconnects (10); a negative
	// value disables reconnecting.
	MaxReconnects int

	// IdleTimeout is how long a stream may receive nothing, not even a
	// heartbeat comment, before the client drops the connection as dead
	// and reconnects. It also bounds the wait for the response headers.
	// Zero means DefaultIdleTimeout (45 s); a negative value disables
	// the check.
	IdleTimeout time.Duration
}

// Client calls a Helix server. It is safe for concurrent use by multiple
// goroutines and holds no resources of its own beyond its HTTPClient.
type Client struct {
	base              *url.URL
	http              *http.Client
	token             string
	timeout           time.Duration
	reconnectDelay    time.Duration
	maxReconnectDelay time.Duration
	maxReconnects     int
	idleTimeout       time.Duration
}

// New returns a client for the Helix server at baseURL, an http or https
// URL that may carry a path prefix ("https://example.com/helix"); routes
// are appended to it. New returns an error for an invalid baseURL or a
// negative duration other than Timeout and IdleTimeout, naming the field.
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: invalid base URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: base URL %q: scheme must be http or https", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q has no host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: base URL %q must not have a query or fragment", baseURL)
	}
	if strings.ContainsAny(opts.Token, "\r\n") {
		return nil, errors.New("client: Options.Token contains a line break")
	}
	switch {
	case opts.ReconnectDelay < 0:
		return nil, fmt.Errorf("client: Options.ReconnectDelay is negative (%v)", opts.ReconnectDelay)
	case opts.MaxReconnectDelay < 0:
		return nil, fmt.Errorf("client: Options.MaxReconnectDelay is negative (%v)", opts.MaxReconnectDelay)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	c := &Client{
		base:              u,
		http:              opts.HTTPClient,
		token:             opts.Token,
		timeout:           opts.Timeout,
		reconnectDelay:    opts.ReconnectDelay,
		maxReconnectDelay: opts.MaxReconnectDelay,
		maxReconnects:     opts.MaxReconnects,
		idleTimeout:       opts.IdleTimeout,
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.reconnectDelay == 0 {
		c.reconnectDelay = DefaultReconnectDelay
	}
	if c.maxReconnectDelay == 0 {
		c.maxReconnectDelay = DefaultMaxReconnectDelay
	}
	if c.maxReconnectDelay < c.reconnectDelay {
		c.maxReconnectDelay = c.reconnectDelay
	}
	switch {
	case c.maxReconnects == 0:
		c.maxReconnects = DefaultMaxReconnects
	case c.maxReconnects < 0:
		c.maxReconnects = 0
	}
	if c.idleTimeout == 0 {
		c.idleTimeout = DefaultIdleTimeout
	}
	return c, nil
}

// endpoint returns the URL of route with query q.
func (c *Client) endpoint(route string, q url.Values) string {
	u := *c.base
	u.Path += route
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// newRequest builds a request with the common headers.
func (c *Client) newRequest(ctx context.Context, method, route string, q url.Values, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(route, q), body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", "helix-go-client")
	return req, nil
}

// do sends a request with a JSON body (if in is not nil) and decodes a
// successful (2xx) JSON answer into out (if out is not nil). Other
// statuses become an *Error. Context errors are returned unchanged.
func (c *Client) do(ctx context.Context, method, route string, q url.Values, in, out any) error {
	op := method + " " + route
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return opError(op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, route, q, body)
	if err != nil {
		return opError(op, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return opError(op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errorFromResponse(op, resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBody)).Decode(out); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return opError(op, fmt.Errorf("decode response: %w", err))
	}
	// Read what follows the value (a newline, the end of a chunked body),
	// so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	return nil
}
