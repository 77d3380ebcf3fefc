package llmtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Recording is one recorded HTTP response: what a provider sent back to one
// request, body byte for byte.
type Recording struct {
	Status int
	Header http.Header
	Body   []byte
}

// keptHeaders are the response headers a cassette keeps; the rest (dates,
// request ids, cookies, rate-limit counters) would only add noise.
var keptHeaders = []string{"Content-Type", "Retry-After", "Retry-After-Ms"}

// ReadCassette reads a recording in the cassette format: an HTTP/1.1 status
// line, header lines, a blank line and the body to the end of the file.
func ReadCassette(path string) (*Recording, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		return nil, fmt.Errorf("llmtest: cassette %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("llmtest: cassette %s: %w", path, err)
	}
	h := http.Header{}
	for _, k := range keptHeaders {
		if v := resp.Header.Values(k); len(v) > 0 {
			h[k] = v
		}
	}
	return &Recording{Status: resp.StatusCode, Header: h, Body: body}, nil
}

// WriteCassette writes rec to path in the format [ReadCassette] reads,
// keeping only the headers a replay needs.
func WriteCassette(path string, rec *Recording) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", rec.Status, http.StatusText(rec.Status))
	keys := make([]string, 0, len(rec.Header))
	for k := range rec.Header {
		if slices.ContainsFunc(keptHeaders, func(h string) bool { return strings.EqualFold(h, k) }) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range rec.Header[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", http.CanonicalHeaderKey(k), v)
		}
	}
	b.WriteString("\r\n")
	b.Write(rec.Body)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// serve writes rec to w, flushing after every line so that the client sees
// the stream arrive in pieces, as from the provider.
func (rec *Recording) serve(w http.ResponseWriter, body []byte) {
	for k, v := range rec.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Status)
	f, _ := w.(http.Flusher)
	for len(body) > 0 {
		i := bytes.IndexByte(body, '\n')
		if i < 0 {
			i = len(body) - 1
		}
		if _, err := w.Write(body[:i+1]); err != nil {
			return
		}
		if f != nil {
			f.Flush()
		}
		body = body[i+1:]
	}
}
