package arrowmsg

import (
	"bytes"
	"encoding/binary"
	"errors"

	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// stream writes a three-batch stream with nested fields and metadata, as arrow-go's writer does.
func stream(t *testing.T) []byte {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "text", Type: arrow.BinaryTypes.String, Metadata: arrow.NewMetadata([]string{"k"}, []string{"v"})},
		{Name: "choices", Type: arrow.ListOf(arrow.BinaryTypes.String)},
	}, &arrow.Metadata{})
	b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer b.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	for range 3 {
		b.Field(0).(*array.StringBuilder).Append("row")
		lb := b.Field(1).(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.StringBuilder).AppendValues([]string{"a", "b"}, nil)
		rec := b.NewRecordBatch()
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll decodes a stream through Reader and arrow-go, returning the rows, whether the marker was there,
// and the error.
func readAll(data []byte) (rows int64, eos bool, err error) {
	mr := NewReader(bytes.NewReader(data), int64(len(data)), memory.NewGoAllocator())
	defer mr.Release()
	defer func() {
		if r := recover(); r != nil { // arrow-go's own panics on other damage are not this package's concern
			err = errors.New("arrow-go panicked")
		}
	}()
	r, err := ipc.NewReaderFromMessageReader(mr)
	if err != nil {
		return 0, mr.EOS, err
	}
	defer r.Release()
	for r.Next() {
		rows += r.RecordBatch().NumRows()
	}
	return rows, mr.EOS, r.Err()
}

func TestReaderOnAGoodStream(t *testing.T) {
	rows, eos, err := readAll(stream(t))
	if err != nil || rows != 3 || !eos {
		t.Fatalf("rows %d, end-of-stream marker %v, %v", rows, eos, err)
	}
	data := stream(t)
	if _, eos, err := readAll(data[:len(data)-8]); err != nil || eos {
		t.Fatalf("without the marker: marker %v, %v", eos, err)
	}
}

// Every 32-bit word of the metadata set to a huge value — which covers every vector length in it — is
// either harmless or an ErrMetadata: never the multi-gigabyte allocation arrow-go would make (the test
// process would die of it).
func TestHugeLengthsAreErrors(t *testing.T) {
	data := stream(t)
	metaLen := int(binary.LittleEndian.Uint32(data[4:8])) // the schema message: continuation, length, metadata
	caught := 0
	for i := 8; i+4 <= 8+metaLen; i++ {
		for _, v := range []uint32{0x7fffffff, 0x10000000} {
			bad := bytes.Clone(data)
			binary.LittleEndian.PutUint32(bad[i:], v)
			_, _, err := readAll(bad)
			if errors.Is(err, ErrMetadata) {
				caught++
			}
		}
	}
	if caught == 0 {
		t.Fatal("no damaged length was reported as ErrMetadata")
	}
	t.Logf("%d of %d damages reported as ErrMetadata", caught, 2*(metaLen-3))
}

func TestVerifyFooterRejectsOversizedBlocks(t *testing.T) {
	var buf bytes.Buffer
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	b.Field(0).(*array.Int64Builder).Append(7)
	rec := b.NewRecordBatch()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	footerLen := int(binary.LittleEndian.Uint32(data[len(data)-10:]))
	footer := data[len(data)-10-footerLen : len(data)-10]
	if err := VerifyFooter(footer); err != nil {
		t.Fatalf("arrow-go's own footer: %v", err)
	}
	bad := 0
	for i := 0; i+4 <= len(footer); i++ {
		f := bytes.Clone(footer)
		binary.LittleEndian.PutUint32(f[i:], 0x7fffffff)
		if VerifyFooter(f) != nil {
			bad++
		}
	}
	if bad == 0 {
		t.Fatal("no damaged footer word detected")
	}
}
