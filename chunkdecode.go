package helix

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/helix-agents/helix-go/llm"
)

// decodeChunkFast decodes the wire form of a chunk as MarshalJSON writes
// it, without reflection. It reports false, leaving c in an unspecified
// state, for anything it does not handle exactly as encoding/json would;
// the caller then decodes with encoding/json.
func decodeChunkFast(c *Chunk, data []byte) bool {
	*c = Chunk{}
	d := fastDecoder{b: data}
	d.ws()
	if !d.consume('{') {
		return false
	}
	var input, errRaw json.RawMessage
	d.ws()
	if d.consume('}') {
		return d.end() && c.setInputAndError(nil, nil) == nil
	}
	for {
		d.ws()
		key, ok := d.rawKey()
		if !ok {
			return false
		}
		d.ws()
		if !d.consume(':') {
			return false
		}
		d.ws()
		if d.peekNull() {
			return false // encoding/json's null rules are per type: let it decide
		}
		switch string(key) {
		case "type":
			var s string
			s, ok = d.str()
			c.Type = ChunkType(s)
		case "sessionId":
			c.SessionID, ok = d.str()
		case "runId":
			c.RunID, ok = d.str()
		case "agentType":
			c.AgentType, ok = d.str()
		case "step":
			var n int64
			n, ok = d.integer()
			c.Step = int(n)
		case "timestamp":
			c.Timestamp, ok = d.integer()
		case "sequence":
			c.Sequence, ok = d.integer()
		case "resumed":
			c.Resumed, ok = d.boolean()
		case "delta":
			c.Delta, ok = d.str()
		case "content":
			c.Content, ok = d.str()
		case "isComplete":
			c.IsComplete, ok = d.boolean()
		case "toolCallId":
			c.ToolCallID, ok = d.str()
		case "toolName":
			c.ToolName, ok = d.str()
		case "argsDelta":
			c.ArgsDelta, ok = d.str()
		case "approvalId":
			c.ApprovalID, ok = d.str()
		case "success":
			c.Success, ok = d.boolean()
		case "childSessionId":
			c.ChildSessionID, ok = d.str()
		case "childAgentType":
			c.ChildAgentType, ok = d.str()
		case "eventName":
			c.EventName, ok = d.str()
		case "status":
			var s string
			s, ok = d.str()
			c.Status = Status(s)
		case "completionReason":
			c.CompletionReason, ok = d.str()
		case "arguments":
			c.Arguments, ok = d.raw()
		case "result":
			c.Result, ok = d.raw()
		case "data":
			c.Data, ok = d.raw()
		case "output":
			c.Output, ok = d.raw()
		case "input":
			input, ok = d.raw()
		case "error":
			errRaw, ok = d.raw()
		case "usage":
			var raw json.RawMessage
			if c.Usage != nil {
				return false // encoding/json merges duplicates into one value
			}
			if raw, ok = d.raw(); ok {
				c.Usage = new(llm.Usage)
				ok = json.Unmarshal(raw, c.Usage) == nil
			}
		case "patches":
			var raw json.RawMessage
			if raw, ok = d.raw(); ok {
				ok = json.Unmarshal(raw, &c.Patches) == nil
			}
		default:
			return false // unknown or differently cased key
		}
		if !ok {
			return false
		}
		d.ws()
		if d.consume(',') {
			continue
		}
		if d.consume('}') {
			break
		}
		return false
	}
	return d.end() && c.setInputAndError(input, errRaw) == nil
}

// fastDecoder is a cursor over JSON text.
type fastDecoder struct {
	b []byte
	i int
}

func (d *fastDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *fastDecoder) consume(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (d *fastDecoder) end() bool {
	d.ws()
	return d.i == len(d.b)
}

func (d *fastDecoder) peekNull() bool {
	return bytes.HasPrefix(d.b[d.i:], []byte("null"))
}

// rawKey returns an object key without escapes.
func (d *fastDecoder) rawKey() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	start := d.i
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return nil, false
		}
		d.i++
	}
	return nil, false
}

// str decodes a JSON string. It declines (false) control characters,
// invalid UTF-8 and lone surrogates, which encoding/json rejects or
// replaces.
func (d *fastDecoder) str() (string, bool) {
	if !d.consume('"') {
		return "", false
	}
	start := d.i
	ascii := true
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\':
			return d.strEscaped(start)
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.i++
	}
	return "", false
}

// strEscaped finishes a string that holds escapes; d.i is at the first
// backslash and start at the string's first byte.
func (d *fastDecoder) strEscaped(start int) (string, bool) {
	out := make([]byte, 0, d.i-start+16)
	out = append(out, d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			if !utf8.Valid(out) {
				return "", false
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			return "", false
		}
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", false
			}
			if r >= 0xD800 && r < 0xDC00 {
				// A high surrogate must be followed by a low one.
				if d.i+1 >= len(d.b) || d.b[d.i] != '\\' || d.b[d.i+1] != 'u' {
					return "", false
				}
				d.i += 2
				lo, ok := d.hex4()
				if !ok || lo < 0xDC00 || lo >= 0xE000 {
					return "", false
				}
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
			} else if r >= 0xDC00 && r < 0xE000 {
				return "", false
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (d *fastDecoder) hex4() (rune, bool) {
	if d.i+4 > len(d.b) {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.i += 4
	return r, true
}

// integer decodes a JSON integer (no fraction or exponent) that fits in an
// int64.
func (d *fastDecoder) integer() (int64, bool) {
	neg := d.consume('-')
	start := d.i
	var n uint64
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		n = n*10 + uint64(d.b[d.i]-'0')
		d.i++
		if d.i-start > 18 {
			return 0, false // may overflow: let encoding/json decide
		}
	}
	digits := d.i - start
	if digits == 0 || (digits > 1 && d.b[start] == '0') {
		return 0, false
	}
	if d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

func (d *fastDecoder) boolean() (bool, bool) {
	rest := d.b[d.i:]
	switch {
	case bytes.HasPrefix(rest, []byte("true")):
		d.i += 4
		return true, true
	case bytes.HasPrefix(rest, []byte("false")):
		d.i += 5
		return false, true
	}
	return false, false
}

// raw returns a copy of the next JSON value, checked to be valid.
func (d *fastDecoder) raw() (json.RawMessage, bool) {
	start := d.i
	if !d.skip(0) {
		return nil, false
	}
	v := d.b[start:d.i]
	if !json.Valid(v) {
		return nil, false
	}
	return bytes.Clone(v), true
}

// skip moves past one JSON value without validating it fully (raw checks
// the span with json.Valid).
func (d *fastDecoder) skip(depth int) bool {
	if depth > 1000 || d.i >= len(d.b) {
		return false
	}
	switch d.b[d.i] {
	case '"':
		d.i++
		for d.i < len(d.b) {
			switch d.b[d.i] {
			case '\\':
				d.i += 2
				continue
			case '"':
				d.i++
				return true
			}
			d.i++
		}
		return false
	case '{', '[':
		closer := byte('}')
		if d.b[d.i] == '[' {
			closer = ']'
		}
		d.i++
		for {
			d.ws()
			if d.consume(closer) {
				return true
			}
			if !d.skip(depth + 1) {
				return false
			}
			d.ws()
			if d.consume(':') || d.consume(',') {
				continue
			}
			if d.consume(closer) {
				return true
			}
			return false
		}
	default:
		for d.i < len(d.b) {
			switch d.b[d.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r', ':':
				return true
			}
			d.i++
		}
		return true
	}
}
