package sqlitestore

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Chunks are stored many to a row, as records: a group commit writes one
// chunk_log row holding every chunk it appends (to any stream), and a move
// writes one chunk_segs row holding a run of one stream's chunks. A row
// costs SQLite far more than the bytes in it, so this makes the cost of an
// append a copy of its JSON rather than a row (see chunklog.go).
//
// A log row is a sequence of records, each
//
//	uvarint sid | uvarint seq | uvarint n | n bytes of chunk JSON
//
// and a segment row (whose first_seq and last_seq columns number its
// chunks, which are consecutive) a sequence of
//
//	uvarint n | n bytes of chunk JSON
//
// The JSON is the chunk without its sequence, as before.

// errRecord reports a stored row that does not decode: the file was
// damaged or written by something else.
var errRecord = errors.New("malformed chunk record")

// logRecord is one chunk of a log row.
type logRecord struct {
	sid, seq int64
	data     []byte
}

// appendLogRecord appends the record of chunk seq of stream sid to b.
func appendLogRecord(b []byte, sid, seq int64, data []byte) []byte {
	b = binary.AppendUvarint(b, uint64(sid))
	b = binary.AppendUvarint(b, uint64(seq))
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...)
}

// appendSegRecord appends a segment record of data to b.
func appendSegRecord(b, data []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...)
}

// uvarint reads one uvarint of b, which must fit in an int64.
func uvarint(b []byte) (int64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || v > 1<<62 {
		return 0, nil, errRecord
	}
	return int64(v), b[n:], nil
}

// field reads a length-prefixed byte string of b. The result shares b's
// memory.
func field(b []byte) ([]byte, []byte, error) {
	n, b, err := uvarint(b)
	if err != nil || n > int64(len(b)) {
		return nil, nil, errRecord
	}
	return b[:n:n], b[n:], nil
}

// decodeLog calls fn for each record of the log row b, in order, until fn
// returns false. The record's data shares b's memory.
func decodeLog(b []byte, fn func(logRecord) bool) error {
	for len(b) > 0 {
		var r logRecord
		var err error
		if r.sid, b, err = uvarint(b); err != nil {
			return fmt.Errorf("log row: %w", err)
		}
		if r.seq, b, err = uvarint(b); err != nil {
			return fmt.Errorf("log row: %w", err)
		}
		if r.data, b, err = field(b); err != nil {
			return fmt.Errorf("log row: %w", err)
		}
		if !fn(r) {
			return nil
		}
	}
	return nil
}

// decodeSeg calls fn with the sequence and data of each chunk of the
// segment b, whose first chunk is first and last is last, until fn returns
// false. The data shares b's memory. A segment whose record count does not
// match its sequence range is an error.
func decodeSeg(b []byte, first, last int64, fn func(seq int64, data []byte) bool) error {
	seq := first
	for ; len(b) > 0; seq++ {
		if seq > last {
			return fmt.Errorf("segment %d-%d: more records than chunks: %w", first, last, errRecord)
		}
		var data []byte
		var err error
		if data, b, err = field(b); err != nil {
			return fmt.Errorf("segment %d-%d: %w", first, last, err)
		}
		if !fn(seq, data) {
			return nil
		}
	}
	if seq != last+1 {
		return fmt.Errorf("segment %d-%d: %d records: %w", first, last, seq-first, errRecord)
	}
	return nil
}
