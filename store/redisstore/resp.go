package redisstore

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"sync"

	helix "github.com/helix-agents/helix-go"
)

// ReadChunks takes the XRANGE reply as raw RESP and decodes it here: the
// generic reply types of go-redis would build a map per stream entry.

// respReader reads RESP2/RESP3 values from a complete reply.
type respReader struct {
	b   []byte
	pos int
}

var errRESP = errors.New("malformed reply")

// line returns the next line without its CRLF.
func (r *respReader) line() ([]byte, error) {
	i := bytes.IndexByte(r.b[r.pos:], '\n')
	if i < 1 || r.b[r.pos+i-1] != '\r' {
		return nil, errRESP
	}
	l := r.b[r.pos : r.pos+i-1]
	r.pos += i + 1
	if len(l) == 0 {
		return nil, errRESP
	}
	return l, nil
}

// aggregate reads the header of an array (or, for map, a map) and returns
// its number of elements (a map's pairs count twice); -1 for a null. A
// server error reply is returned as an error.
func (r *respReader) aggregate() (int, error) {
	l, err := r.line()
	if err != nil {
		return 0, err
	}
	switch l[0] {
	case '*', '~', '>':
		n, ok := atoi(l[1:])
		if !ok {
			return 0, errRESP
		}
		return n, nil
	case '%':
		n, ok := atoi(l[1:])
		if !ok {
			return 0, errRESP
		}
		return 2 * n, nil
	case '_':
		return -1, nil
	case '-':
		return 0, errors.New(string(l[1:]))
	}
	return 0, errRESP
}

// bulk reads a bulk string. The result aliases the reply.
func (r *respReader) bulk() ([]byte, error) {
	l, err := r.line()
	if err != nil {
		return nil, err
	}
	switch l[0] {
	case '$':
		n, ok := atoi(l[1:])
		if !ok || n < 0 || r.pos+n+2 > len(r.b) {
			return nil, errRESP
		}
		s := r.b[r.pos : r.pos+n]
		r.pos += n + 2
		return s, nil
	case '+':
		return l[1:], nil
	case '-':
		return nil, errors.New(string(l[1:]))
	}
	return nil, errRESP
}

// atoi parses a decimal integer (with an optional minus sign) of at most
// 18 digits.
func atoi(b []byte) (int, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// parallelDecode is the number of chunks from which parseXRange decodes
// in two goroutines.
const parallelDecode = 256

// parseXRange decodes an XRANGE reply of chunk entries: entry id
// "<sequence>-0", field "c" holding the chunk's JSON. Large replies are
// decoded by two goroutines (the server is idle meanwhile).
func parseXRange(raw []byte) ([]helix.Chunk, error) {
	r := respReader{b: raw}
	n, err := r.aggregate()
	if err != nil {
		return nil, err
	}
	chunks := make([]helix.Chunk, max(n, 0))
	// First pass: find each entry's sequence and JSON, so that a malformed
	// reply is reported before any decoding.
	spans := make([]span, len(chunks))
	for i := range chunks {
		if m, err := r.aggregate(); err != nil || m != 2 {
			return nil, fmt.Errorf("stream entry %d: %w", i, errRESP)
		}
		id, err := r.bulk()
		if err != nil {
			return nil, err
		}
		dash := bytes.IndexByte(id, '-')
		if dash < 0 {
			return nil, fmt.Errorf("stream entry id %q: %w", id, errRESP)
		}
		seq, ok := atoi(id[:dash])
		if !ok {
			return nil, fmt.Errorf("stream entry id %q: %w", id, errRESP)
		}
		fields, err := r.aggregate()
		if err != nil {
			return nil, err
		}
		var data []byte
		for j := 0; j+1 < fields; j += 2 {
			f, err := r.bulk()
			if err != nil {
				return nil, err
			}
			v, err := r.bulk()
			if err != nil {
				return nil, err
			}
			if len(f) == 1 && f[0] == 'c' {
				data = v
			}
		}
		if data == nil {
			return nil, fmt.Errorf("stream entry %s: no chunk field", id)
		}
		spans[i] = span{seq: int64(seq), data: data}
	}
	if len(chunks) < parallelDecode || runtime.GOMAXPROCS(0) < 2 {
		return chunks, decodeChunks(chunks, spans)
	}
	half := len(chunks) / 2
	var other error
	var wg sync.WaitGroup
	wg.Go(func() { other = decodeChunks(chunks[half:], spans[half:]) })
	err = decodeChunks(chunks[:half], spans[:half])
	wg.Wait()
	if err == nil {
		err = other
	}
	return chunks, err
}

// span is a stream entry's sequence and chunk JSON.
type span struct {
	seq  int64
	data []byte
}

// decodeChunks decodes spans into chunks.
func decodeChunks(chunks []helix.Chunk, spans []span) error {
	for i := range chunks {
		if err := chunks[i].UnmarshalJSON(spans[i].data); err != nil {
			return fmt.Errorf("stream entry %d-0: decoding chunk: %w", spans[i].seq, err)
		}
		chunks[i].Sequence = spans[i].seq
	}
	return nil
}
