package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// catalogueRecord is n rows of the catalogue's two tasks; text(i) gives row i's text.
func catalogueRecord(n int, text func(int) string) arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{{Name: "task", Type: arrow.BinaryTypes.String},
		{Name: "text", Type: arrow.BinaryTypes.String}, {Name: "label", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer b.Release()
	for i := range n {
		task, label := "sentiment", []string{"neg", "pos"}[i%2]
		if i%3 == 0 {
			task, label = "topic", []string{"politics", "sport"}[i%2]
		}
		b.Field(0).(*array.StringBuilder).Append(task)
		b.Field(1).(*array.StringBuilder).Append(text(i))
		b.Field(2).(*array.StringBuilder).Append(label)
	}
	return b.NewRecordBatch()
}

// parquetBytes writes the rows as Parquet, rowGroup rows per row group.
func parquetBytes(t *testing.T, rec arrow.RecordBatch, rowGroup int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(rec.Schema(), &buf, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(rowGroup)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// streamBytes writes the rows as an Arrow IPC stream of batches of the given size.
func streamBytes(t *testing.T, rec arrow.RecordBatch, batch int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
	for lo := int64(0); lo < rec.NumRows(); lo += batch {
		s := rec.NewSlice(lo, min(lo+batch, rec.NumRows()))
		if err := w.Write(s); err != nil {
			t.Fatal(err)
		}
		s.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeBytes writes data to dir/name and returns the path.
func writeBytes(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// cutKeepingFooter keeps the first keep bytes of a Parquet file and its footer: the footer then points
// column chunks past the end of the file.
func cutKeepingFooter(data []byte, keep float64) []byte {
	footerLen := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	footer := data[len(data)-8-footerLen:]
	k := int(float64(len(data)-len(footer)) * keep)
	return append(bytes.Clone(data[:k]), footer...)
}

func plainText(i int) string { return "example text" + string(rune('a'+i%26)) }
