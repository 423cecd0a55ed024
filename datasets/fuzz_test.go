package datasets

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// fuzzScan runs a text loader on arbitrary bytes: it may fail, but only with an ErrData error, never a panic,
// and it releases everything it allocates.
func fuzzScan(t *testing.T, data []byte, scan func(string, *bytes.Reader, ReadOptions, func(arrow.RecordBatch) error) error) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rows := int64(0)
	err := scan("fuzz", bytes.NewReader(data), ReadOptions{Mem: mem, BatchRows: 3}, func(rec arrow.RecordBatch) error {
		for i := range int(rec.NumCols()) {
			if rec.Column(i).Len() != int(rec.NumRows()) {
				t.Fatalf("column %d has %d values for %d rows", i, rec.Column(i).Len(), rec.NumRows())
			}
		}
		rows += rec.NumRows()
		return nil
	})
	if err != nil && !errors.Is(err, ErrData) {
		t.Fatalf("error does not wrap ErrData: %v", err)
	}
}

func FuzzScanCSV(f *testing.F) {
	for _, s := range []string{"task,text,label\ntopic,\"a, b\",sport\n", "a\n1\n2\n3\n4\n", "x,y\n\"unclosed\n", "\ufeffa,b\n1,2,3\n", "", "a,a\n1,2\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzScan(t, data, func(p string, r *bytes.Reader, o ReadOptions, fn func(arrow.RecordBatch) error) error {
			return scanCSV(p, r, o, fn)
		})
	})
}

func FuzzScanJSONL(f *testing.F) {
	for _, s := range []string{`{"task":"topic","text":"a","label":"sport"}` + "\n", `{"a":1}` + "\n" + `{"a":"x"}`, `{"a":null}` + "\n" + `{"a":true,"b":2}`,
		"{}\n{}\n{}\n{}\n", `{"a":[1]}`, "\n\n", `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzScan(t, data, func(p string, r *bytes.Reader, o ReadOptions, fn func(arrow.RecordBatch) error) error {
			return scanJSONL(p, r, o, fn)
		})
	})
}

// Any two values written as quoted CSV fields (quotes doubled, as pyarrow and DuckDB write them) read back
// byte for byte: line breaks of every kind, quotes, commas, empty strings (never NULL).
func FuzzCSVRoundTrip(f *testing.F) {
	for _, s := range [][2]string{{"a\r\nb", ""}, {`"`, "\r"}, {",", "\n\n"}, {"\ufeffx", "\r\n"}, {"", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
		data := "a,b\r\n" + q(a) + "," + q(b) + "\r\n" + q(b) + "," + q(a)
		var got []string
		err := scanCSV("fuzz.csv", strings.NewReader(data), ReadOptions{Mem: memory.NewGoAllocator(), BatchRows: 1}, func(rec arrow.RecordBatch) error {
			for c := range 2 {
				col := rec.Column(c).(*array.String)
				if col.IsNull(0) {
					t.Fatalf("column %d is NULL", c)
				}
				got = append(got, col.Value(0))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{a, b, b, a}; !slices.Equal(got, want) {
			t.Fatalf("read %q, wrote %q", got, want)
		}
	})
}
