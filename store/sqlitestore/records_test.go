package sqlitestore

import (
	"bytes"
	"errors"
	"testing"
)

func TestLogRecordsRoundTrip(t *testing.T) {
	in := []logRecord{
		{sid: 1, seq: 1, data: []byte(`{"type":"run_start"}`)},
		{sid: 300, seq: 1 << 40, data: []byte(`{}`)},
		{sid: 1, seq: 2, data: nil},
	}
	var b []byte
	for _, r := range in {
		b = appendLogRecord(b, r.sid, r.seq, r.data)
	}
	var out []logRecord
	if err := decodeLog(b, func(r logRecord) bool { out = append(out, r); return true }); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("decoded %d records, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i].sid != in[i].sid || out[i].seq != in[i].seq || !bytes.Equal(out[i].data, in[i].data) {
			t.Errorf("record %d: %+v, want %+v", i, out[i], in[i])
		}
	}
	// fn stops the walk.
	n := 0
	if err := decodeLog(b, func(logRecord) bool { n++; return false }); err != nil || n != 1 {
		t.Errorf("stopped walk: %d records, %v", n, err)
	}
}

func TestSegRecords(t *testing.T) {
	var b []byte
	for _, d := range []string{`{"a":1}`, ``, `{"b":2}`} {
		b = appendSegRecord(b, []byte(d))
	}
	var seqs []int64
	var datas []string
	if err := decodeSeg(b, 7, 9, func(seq int64, d []byte) bool {
		seqs, datas = append(seqs, seq), append(datas, string(d))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 3 || seqs[0] != 7 || seqs[2] != 9 || datas[0] != `{"a":1}` || datas[1] != "" || datas[2] != `{"b":2}` {
		t.Fatalf("decoded %v %q", seqs, datas)
	}
	// The record count must match the range.
	for _, r := range [][2]int64{{7, 8}, {7, 10}} {
		if err := decodeSeg(b, r[0], r[1], func(int64, []byte) bool { return true }); !errors.Is(err, errRecord) {
			t.Errorf("segment of 3 records as %d-%d: %v, want errRecord", r[0], r[1], err)
		}
	}
}

func TestRecordsMalformed(t *testing.T) {
	good := appendLogRecord(nil, 5, 6, []byte(`{"x":1}`))
	bad := [][]byte{
		good[:len(good)-1],                   // data cut short
		good[:1],                             // seq missing
		{0x80},                               // unterminated varint
		bytes.Repeat([]byte{0xff}, 11),       // overlong varint
		{1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}, // length past the end
	}
	for i, b := range bad {
		if err := decodeLog(b, func(logRecord) bool { return true }); !errors.Is(err, errRecord) {
			t.Errorf("case %d: %v, want errRecord", i, err)
		}
	}
}

// FuzzDecodeRecords: any bytes decode to an error or to records that
// survive a round trip (encode, decode: the same records); never a panic.
// A segment decodes only with as many records as its range numbers.
func FuzzDecodeRecords(f *testing.F) {
	f.Add(appendLogRecord(appendLogRecord(nil, 1, 1, []byte(`{"type":"text_delta"}`)), 2, 9, nil))
	f.Add([]byte{0x80, 0x80})
	f.Add(appendSegRecord(appendSegRecord(nil, []byte(`{}`)), []byte(`{"a":"b"}`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		var recs []logRecord
		if decodeLog(b, func(r logRecord) bool { recs = append(recs, r); return true }) == nil {
			var re []byte
			for _, r := range recs {
				re = appendLogRecord(re, r.sid, r.seq, r.data)
			}
			i := 0
			if err := decodeLog(re, func(r logRecord) bool {
				if i >= len(recs) || r.sid != recs[i].sid || r.seq != recs[i].seq || !bytes.Equal(r.data, recs[i].data) {
					t.Fatalf("record %d changed in a round trip", i)
				}
				i++
				return true
			}); err != nil || i != len(recs) {
				t.Fatalf("round trip: %d of %d records, %v", i, len(recs), err)
			}
		}
		var n int64
		if decodeSeg(b, 1, 1<<20, func(seq int64, _ []byte) bool {
			n++
			if seq != n {
				t.Fatalf("record %d numbered %d", n, seq)
			}
			return true
		}) == nil && n != 1<<20 {
			t.Fatalf("segment of %d records accepted as 1-%d", n, 1<<20)
		}
	})
}

// TestMoveRowsBuffers: moveRows cuts segments of at most segMax
// consecutive chunks, pending ones first, each built in a buffer of
// exactly its size (no growth), and its records decode to the chunks.
func TestMoveRowsBuffers(t *testing.T) {
	rowsOf := func(from, n, size int) []pendRow {
		var rs []pendRow
		for i := range n {
			rs = append(rs, pendRow{seq: int64(from + i), data: bytes.Repeat([]byte{'x'}, size+i%3)})
		}
		return rs
	}
	tests := []struct {
		name         string
		pending, add int
		size         int
	}{
		{"pending only", 10, 0, 50},
		{"added only", 0, 5, 50},
		{"both, one segment", 31, 1, 50},
		{"both, several segments", 100, 40, 50},
		{"long chunks", 3, 3, 20000}, // three-byte lengths
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e, add *pendEntry
			if tt.pending > 0 {
				e = &pendEntry{sid: 7, rows: rowsOf(1, tt.pending, tt.size)}
			}
			if tt.add > 0 {
				add = &pendEntry{sid: 7, rows: rowsOf(tt.pending+1, tt.add, tt.size)}
			}
			rows, last := moveRows(nil, e, add)
			total := tt.pending + tt.add
			if last != int64(total) {
				t.Fatalf("last %d, want %d", last, total)
			}
			next := int64(1)
			for i := 0; i < len(rows); i += 4 {
				first, lastSeq, buf := rows[i+2].(int64), rows[i+1].(int64), rows[i+3].([]byte)
				if first != next || lastSeq-first+1 > segMax {
					t.Fatalf("segment %d..%d after %d", first, lastSeq, next-1)
				}
				if len(buf) != cap(buf) {
					t.Errorf("segment %d..%d: %d bytes in a buffer of %d", first, lastSeq, len(buf), cap(buf))
				}
				n := int64(0)
				for b := buf; len(b) > 0; n++ {
					l, rest, err := uvarint(b)
					if err != nil || int(l) > len(rest) {
						t.Fatalf("segment %d..%d: record %d does not decode", first, lastSeq, n)
					}
					b = rest[l:]
				}
				if n != lastSeq-first+1 {
					t.Fatalf("segment %d..%d holds %d records", first, lastSeq, n)
				}
				next = lastSeq + 1
			}
			if next != int64(total)+1 {
				t.Fatalf("segments end at %d, want %d", next-1, total)
			}
		})
	}
}
