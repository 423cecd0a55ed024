package datasets

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/mtlora/mtlora/internal/arrowmsg"
)

// The integrity guarantee: a loader returns exactly the rows a file holds, or an error wrapping ErrData that
// names the file — never fewer rows, never changed values where the format can tell, never a panic. This
// file holds the corruption sweep that tests it and the named cases of issue 17.

// integrityRows are the sweep's rows: two tasks, texts with quotes, commas, line breaks (\n and \r\n), a
// tab and non-ASCII text, so CSV quoting and JSON escapes are exercised.
func integrityRows() [][3]string {
	var rows [][3]string
	for i := range 48 {
		task, label := "sentiment", []string{"neg", "pos"}[i%2]
		if i%3 == 0 {
			task, label = "topic", []string{"politics", "sport", "science"}[(i/3)%3]
		}
		text := fmt.Sprintf("row %d: naïve café — 日本語 %s", i, strings.Repeat("x", i%7))
		switch i % 5 {
		case 1:
			text += ", with a comma and \"quotes\""
		case 2:
			text += "\r\nsecond line (CRLF)"
		case 3:
			text += "\nsecond line\tand a tab"
		}
		rows = append(rows, [3]string{task, text, label})
	}
	return rows
}

func integritySpec(path string) Spec {
	return Spec{Name: "integrity", Path: path, Tasks: []TaskSpec{
		{Name: "sentiment", Labels: []string{"neg", "pos"}}, {Name: "topic", Labels: []string{"politics", "science", "sport"}}}}
}

func integrityRecord(rows [][3]string) arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{{Name: "task", Type: arrow.BinaryTypes.String},
		{Name: "text", Type: arrow.BinaryTypes.String}, {Name: "label", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer b.Release()
	for _, r := range rows {
		for c := range 3 {
			b.Field(c).(*array.StringBuilder).Append(r[c])
		}
	}
	return b.NewRecordBatch()
}

// integrityFiles writes the rows in each format, as name → bytes (the name's extension gives the format).
func integrityFiles(t *testing.T) map[string][]byte {
	t.Helper()
	rows := integrityRows()
	rec := integrityRecord(rows)
	defer rec.Release()
	out := map[string][]byte{}
	parquetFile := func(name string, props *parquet.WriterProperties) {
		var buf bytes.Buffer
		w, err := pqarrow.NewFileWriter(rec.Schema(), &buf, props, pqarrow.DefaultWriterProps())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		out[name] = buf.Bytes()
	}
	parquetFile("plain.parquet", parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(16), parquet.WithDictionaryDefault(false)))
	parquetFile("snappy-dict-v2.parquet", parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(20),
		parquet.WithCompression(compress.Codecs.Snappy), parquet.WithDictionaryDefault(true), parquet.WithDataPageVersion(parquet.DataPageV2)))

	type batchWriter interface {
		Write(arrow.RecordBatch) error
		Close() error
	}
	ipcFile := func(name string, open func(io.Writer) (batchWriter, error)) { // three batches of 16 rows
		var buf bytes.Buffer
		w, err := open(&buf)
		if err != nil {
			t.Fatal(err)
		}
		for _, lo := range []int64{0, 16, 32} {
			s := rec.NewSlice(lo, lo+16)
			if err := w.Write(s); err != nil {
				t.Fatal(err)
			}
			s.Release()
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		out[name] = buf.Bytes()
	}
	ipcFile("batches.arrow", func(w io.Writer) (batchWriter, error) { return ipc.NewFileWriter(w, ipc.WithSchema(rec.Schema())) })
	ipcFile("batches.arrows", func(w io.Writer) (batchWriter, error) { return ipc.NewWriter(w, ipc.WithSchema(rec.Schema())), nil })

	var csv, jsonl bytes.Buffer
	csv.WriteString("task,text,label\r\n")
	for _, r := range rows {
		fmt.Fprintf(&csv, "%s,\"%s\",%s\r\n", r[0], strings.ReplaceAll(r[1], `"`, `""`), r[2])
		line, _ := json.Marshal(map[string]string{"task": r[0], "text": r[1], "label": r[2]})
		jsonl.Write(append(line, '\n'))
	}
	out["rows.csv"] = csv.Bytes()
	out["rows.jsonl"] = jsonl.Bytes()
	return out
}

// outcome is what one load of a (damaged) file gave.
type outcome struct {
	examples []Example
	err      error
}

// loadBytes writes data under name in dir and loads it with the integrity spec.
func loadBytes(t *testing.T, dir, name string, data []byte) outcome {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var o outcome
	func() {
		defer func() {
			if r := recover(); r != nil {
				o.err = fmt.Errorf("PANIC: %v", r)
			}
		}()
		set, err := Load(integritySpec(path), ReadOptions{BatchRows: 7}, 0.2, 0)
		o.err = err
		if set != nil {
			o.examples = set.Examples
		}
	}()
	return o
}

// strength is what a format can tell about a kind of damage.
type strength int

const (
	exact        strength = iota // the original rows, or an error
	sameCount                    // the original number of rows (values may differ: no checksum covers them), or an error
	prefixOfRows                 // a prefix of the original rows whose last row may be cut (text formats cut at a line), or an error
)

func (s strength) check(orig []Example, o outcome) string {
	if o.err != nil {
		return ""
	}
	switch s {
	case exact:
		if !reflect.DeepEqual(o.examples, orig) {
			return fmt.Sprintf("no error, but %d rows differing from the %d written", len(o.examples), len(orig))
		}
	case sameCount:
		if len(o.examples) != len(orig) {
			return fmt.Sprintf("no error, but %d rows of the %d written", len(o.examples), len(orig))
		}
	case prefixOfRows:
		n := len(o.examples)
		if n > len(orig) || (n > 0 && !reflect.DeepEqual(o.examples[:n-1], orig[:n-1])) {
			return fmt.Sprintf("no error, and %d rows that are not a prefix of the %d written", n, len(orig))
		}
		if n > 0 && o.examples[n-1].Text != orig[n-1].Text && !strings.HasPrefix(orig[n-1].Text, o.examples[n-1].Text) {
			return "no error, and the last row's text is not a prefix of the one written"
		}
	}
	return ""
}

// damage is one corruption of a file.
type damage struct {
	what string
	data []byte
	want strength
}

// offsets picks byte offsets of a file of n bytes: every one of the first and last 96, and a stride through
// the rest (every one with -short off and a small file).
func offsets(n int) []int {
	var out []int
	stride := max(1, n/160)
	for i := 0; i < n; i++ {
		if i < 96 || i >= n-96 || i%stride == 0 {
			out = append(out, i)
		}
	}
	return out
}

// damages lists the corruptions of one file: truncation at many offsets, a byte flipped at many offsets,
// and the footer edits of its format.
func damages(t *testing.T, name string, data []byte, checksummed bool) []damage {
	var out []damage
	ext := filepath.Ext(name)
	text := ext == ".csv" || ext == ".jsonl"
	for _, n := range offsets(len(data)) {
		want := exact
		if text {
			want = prefixOfRows
		}
		out = append(out, damage{fmt.Sprintf("cut to %d bytes", n), data[:n], want})
	}
	for _, i := range offsets(len(data)) {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			d := bytes.Clone(data)
			d[i] ^= mask
			want := sameCount // no checksum covers the values of CSV, JSON Lines, Arrow IPC or Parquet without page checksums
			if checksummed {
				want = exact
			}
			out = append(out, damage{fmt.Sprintf("byte %d ^= %#02x", i, mask), d, want})
		}
	}
	switch ext {
	case ".parquet":
		footerLen := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
		footer := data[len(data)-8-footerLen:]
		for _, k := range []int{4, 100, len(data) / 2, len(data) - len(footer) - 1} {
			if k > 4 && k < len(data)-len(footer) { // the data cut short, the footer kept: it points past the end
				out = append(out, damage{fmt.Sprintf("data cut at byte %d, footer kept", k), append(bytes.Clone(data[:k]), footer...), exact})
			}
		}
		for _, delta := range []int{-1, 1, 8, -footerLen + 1, 1 << 20} {
			d := bytes.Clone(data)
			binary.LittleEndian.PutUint32(d[len(d)-8:], uint32(footerLen+delta))
			out = append(out, damage{fmt.Sprintf("footer length %+d", delta), d, exact})
		}
		if d, ok := moveLastChunk(t, data, 1<<20); ok {
			out = append(out, damage{"footer points the last column chunk 1 MiB past the end", d, exact})
		}
		if d, ok := moveLastChunk(t, data, -3); ok {
			out = append(out, damage{"footer points the last column chunk 3 bytes early", d, exact})
		}
	case ".arrow":
		footerLen := int(int32(binary.LittleEndian.Uint32(data[len(data)-10:])))
		for _, delta := range []int{-1, 1, 8, -footerLen, 1 << 20} {
			d := bytes.Clone(data)
			binary.LittleEndian.PutUint32(d[len(d)-10:], uint32(footerLen+delta))
			out = append(out, damage{fmt.Sprintf("footer length %+d", delta), d, exact})
		}
	case ".arrows":
		mr := arrowmsg.NewReader(bytes.NewReader(data), int64(len(data)), memory.NewGoAllocator())
		for {
			if _, err := mr.Message(); err != nil {
				break
			}
			out = append(out, damage{fmt.Sprintf("cut after message %d (a message boundary, byte %d)", mr.Messages, mr.Read), data[:mr.Read], exact})
		}
		mr.Release()
		eos := len(data) - 8 // the end-of-stream marker: 0xFFFFFFFF then a zero length
		out = append(out, damage{"end-of-stream marker removed", data[:eos], exact},
			damage{"bytes after the end-of-stream marker", append(bytes.Clone(data), data[:16]...), exact})
	}
	return out
}

// moveLastChunk edits the footer of a Parquet file so the last column chunk's data_page_offset moves by
// delta bytes: the varint is found in the Thrift footer by value and rewritten (the footer length fixed).
func moveLastChunk(t *testing.T, data []byte, delta int64) ([]byte, bool) {
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	md := pf.MetaData()
	cc, err := md.RowGroup(md.NumRowGroups() - 1).ColumnChunk(md.Schema.NumColumns() - 1)
	if err != nil {
		t.Fatal(err)
	}
	off := cc.DataPageOffset()
	varint := func(v int64) []byte { return binary.AppendUvarint(nil, uint64((v<<1)^(v>>63))) }
	footerLen := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	start := len(data) - 8 - footerLen
	old := varint(off)
	i := bytes.LastIndex(data[start:len(data)-8], old)
	if i < 0 || data[start+i-1]&0x0f != 6 { // not preceded by an i64 field header
		return nil, false
	}
	i += start
	d := append(append(bytes.Clone(data[:i]), varint(off+delta)...), data[i+len(old):]...)
	binary.LittleEndian.PutUint32(d[len(d)-8:], uint32(footerLen+len(varint(off+delta))-len(old)))
	check, err := file.NewParquetReader(bytes.NewReader(d))
	if err != nil {
		return nil, false
	}
	moved, err := check.MetaData().RowGroup(md.NumRowGroups() - 1).ColumnChunk(md.Schema.NumColumns() - 1)
	if err != nil || moved.DataPageOffset() != off+delta {
		return nil, false
	}
	return d, true
}

// The corruption sweep: for a file of each format (and, when MTLORA_INTEROP_DIR holds them, pyarrow's
// Parquet files with page checksums), every damage gives the original rows or an ErrData naming the file.
func TestCorruptionSweep(t *testing.T) {
	files := integrityFiles(t)
	checksummed := map[string]bool{}
	if dir := os.Getenv("MTLORA_INTEROP_DIR"); dir != "" {
		for _, name := range []string{"pyarrow_checksum.parquet", "pyarrow_checksum_v2.parquet"} {
			if data, err := os.ReadFile(filepath.Join(dir, "integrity", name)); err == nil {
				files[name], checksummed[name] = data, true
			} else if os.Getenv("MTLORA_REQUIRE_DATA") == "1" {
				t.Fatal(err)
			}
		}
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			orig := loadBytes(t, dir, name, data)
			if orig.err != nil || len(orig.examples) != len(integrityRows()) {
				t.Fatalf("the undamaged file: %v (%d rows)", orig.err, len(orig.examples))
			}
			counts := map[string]int{}
			for _, d := range damages(t, name, data, checksummed[name]) {
				o := loadBytes(t, dir, name, d.data)
				switch {
				case o.err != nil && strings.HasPrefix(o.err.Error(), "PANIC"):
					t.Errorf("%s: %v", d.what, o.err)
				case o.err != nil && !errors.Is(o.err, ErrData):
					t.Errorf("%s: the error does not wrap ErrData: %v", d.what, o.err)
				case o.err != nil && !strings.Contains(o.err.Error(), filepath.Join(dir, name)):
					t.Errorf("%s: the error does not name the file: %v", d.what, o.err)
				default:
					if msg := d.want.check(orig.examples, o); msg != "" {
						t.Errorf("%s: %s", d.what, msg)
					}
				}
				switch {
				case o.err != nil:
					counts["error"]++
				case reflect.DeepEqual(o.examples, orig.examples):
					counts["original rows"]++
				default:
					counts["other rows (the format cannot tell)"]++
				}
			}
			t.Logf("%d damages: %v", len(damages(t, name, data, checksummed[name])), counts)
		})
	}
}

// The two opt-ins: a stream without its end-of-stream marker loads its complete batches when the caller
// allows it, and empty texts load when the spec allows them (CSV: "" is the empty text; an unquoted empty
// field is NULL, which no option admits).
func TestIntegrityOptIns(t *testing.T) {
	dir := t.TempDir()
	data := integrityFiles(t)["batches.arrows"]
	path := filepath.Join(dir, "open.arrows")
	if err := os.WriteFile(path, data[:len(data)-8], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(integritySpec(path), ReadOptions{}, 0.2, 0); err == nil || !strings.Contains(err.Error(), "end-of-stream marker") {
		t.Fatalf("unterminated stream: %v", err)
	}
	set, err := Load(integritySpec(path), ReadOptions{AllowUnterminatedStream: true}, 0.2, 0)
	if err != nil || len(set.Examples) != len(integrityRows()) {
		t.Fatalf("unterminated stream, allowed: %v", err)
	}

	csvPath := filepath.Join(dir, "empty.csv")
	if err := os.WriteFile(csvPath, []byte("task,text,label\nsentiment,\"\",pos\nsentiment,x,neg\ntopic,y,sport\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := integritySpec(csvPath)
	if _, err := Load(spec, ReadOptions{}, 0, 0); err == nil || !strings.Contains(err.Error(), "allow_empty_text") {
		t.Fatalf("empty text: %v", err)
	}
	spec.AllowEmptyText = true
	set, err = Load(spec, ReadOptions{}, 0, 0)
	if err != nil || len(set.Examples) != 3 || set.Examples[0].Text != "" {
		t.Fatalf("empty text, allowed: %v", err)
	}
	if err := os.WriteFile(csvPath, []byte("task,text,label\nsentiment,,pos\nsentiment,x,neg\ntopic,y,sport\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(spec, ReadOptions{}, 0, 0); err == nil || !strings.Contains(err.Error(), "is null") {
		t.Fatalf("null text with allow_empty_text: %v", err)
	}
}
