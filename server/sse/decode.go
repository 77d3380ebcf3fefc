package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultMaxLineSize is the line and event size limit of [Decode]. It is
// above the server's default 10 MB body limit, so any chunk built from an
// accepted request fits.
const DefaultMaxLineSize = 16 << 20

// Errors returned by the decoder.
var (
	// ErrLineTooLong is returned when a line exceeds the decoder's limit.
	ErrLineTooLong = errors.New("sse: line too long")
	// ErrEventTooLong is returned when the data of one event exceeds the
	// decoder's limit.
	ErrEventTooLong = errors.New("sse: event data too long")
)

// Event is one event block of a stream as [Decode] reads it.
type Event struct {
	// ID is the value of the block's id field, or "" if it had none. Unlike
	// a browser's lastEventId it does not carry over from earlier events;
	// a client that resumes tracks the last non-empty ID itself.
	ID string
	// Name is the value of the event field, or "" if it had none (a
	// browser would dispatch a "message" event).
	Name string
	// Data is the data lines joined by "\n".
	Data string
	// Retry is the reconnection time from a valid retry field, or 0.
	Retry time.Duration
}

// Decoder parses event streams. The zero value is ready to use.
type Decoder struct {
	// MaxLineSize bounds the length of a line and of one event's data;
	// longer input ends the sequence with ErrLineTooLong or
	// ErrEventTooLong. Zero means DefaultMaxLineSize.
	MaxLineSize int
}

// Decode parses r with the zero [Decoder].
func Decode(r io.Reader) iter.Seq2[Event, error] {
	return Decoder{}.Decode(r)
}

// Decode returns the events of the stream r, parsed per the WHATWG
// "event stream interpretation": a leading BOM is skipped; lines end at
// CRLF, LF or CR; lines starting with ":" are comments; "field: value"
// drops one space after the colon; the fields are id (ignored if it holds
// NUL), event, data (lines joined by LF) and retry (ASCII digits only,
// in milliseconds); other fields are ignored; a blank line ends an event;
// an unfinished event at EOF is discarded; invalid UTF-8 reads as U+FFFD.
//
// One difference from a browser: every block with an id, event, data or
// retry field is yielded, even one without data (a browser dispatches only
// events with data), so a client sees retry hints and ids; comment-only
// blocks are not yielded.
//
// The sequence ends at EOF, or after yielding a read error (unchanged) or
// a size error. r is read only while the sequence is being iterated; the
// caller closes it.
func (d Decoder) Decode(r io.Reader) iter.Seq2[Event, error] {
	max := d.MaxLineSize
	if max <= 0 {
		max = DefaultMaxLineSize
	}
	return func(yield func(Event, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, min(max, 4096)), max)
		skipLF := false // the last line ended with CR: a leading LF belongs to it
		sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
			adv := 0
			if skipLF && len(data) > 0 {
				skipLF = false
				if data[0] == '\n' {
					adv, data = 1, data[1:]
				}
			}
			if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
				if data[i] == '\r' {
					if i+1 == len(data) {
						skipLF = true // decided by the next read, without waiting for it
					} else if data[i+1] == '\n' {
						return adv + i + 2, data[:i], nil
					}
				}
				return adv + i + 1, data[:i], nil
			}
			if atEOF && len(data) > 0 {
				return adv + len(data), data, nil
			}
			return adv, nil, nil
		})

		var (
			ev    Event
			data  []byte
			seen  bool
			first = true
		)
		for sc.Scan() {
			line := sc.Bytes()
			if first {
				line = bytes.TrimPrefix(line, []byte("\uFEFF"))
				first = false
			}
			if len(line) == 0 {
				if seen {
					if len(data) > 0 {
						ev.Data = validString(data[:len(data)-1])
					}
					if !yield(ev, nil) {
						return
					}
				}
				ev, data, seen = Event{}, data[:0], false
				continue
			}
			if line[0] == ':' {
				continue
			}
			field, value, found := bytes.Cut(line, []byte(":"))
			if found {
				value = bytes.TrimPrefix(value, []byte(" "))
			}
			switch string(field) {
			case "event":
				ev.Name, seen = validString(value), true
			case "data":
				if len(data)+len(value)+1 > max {
					yield(Event{}, fmt.Errorf("%w (limit %d bytes)", ErrEventTooLong, max))
					return
				}
				data = append(data, value...)
				data = append(data, '\n')
				seen = true
			case "id":
				if bytes.IndexByte(value, 0) < 0 {
					ev.ID, seen = validString(value), true
				}
			case "retry":
				if ms, ok := parseRetry(value); ok {
					ev.Retry, seen = time.Duration(ms)*time.Millisecond, true
				}
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				err = fmt.Errorf("%w (limit %d bytes)", ErrLineTooLong, max)
			}
			yield(Event{}, err)
		}
	}
}

// parseRetry parses a retry value: ASCII digits only, in milliseconds.
// Values too large for a time.Duration are ignored.
func parseRetry(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	ms, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || ms > math.MaxInt64/int64(time.Millisecond) {
		return 0, false
	}
	return ms, true
}

// validString returns b as a string, with invalid UTF-8 replaced by U+FFFD.
func validString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
