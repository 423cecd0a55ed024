package datasets

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
)

type expectedFile struct {
	Format  string `json:"format"`
	Error   string `json:"error"`
	Rows    *int   `json:"rows"`
	Columns map[string]struct {
		Type   string `json:"type"`
		Values []any  `json:"values"`
	} `json:"columns"`
}

// readInterop reads $MTLORA_INTEROP_DIR/expected.json, written by scripts/reference/arrow_interop.py (CI
// runs it with pyarrow); skips when it is absent unless MTLORA_REQUIRE_DATA=1.
func readInterop(t *testing.T) (dir string, writer string, files map[string]expectedFile) {
	t.Helper()
	dir = os.Getenv("MTLORA_INTEROP_DIR")
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if dir == "" || err != nil {
		if os.Getenv("MTLORA_REQUIRE_DATA") == "1" {
			t.Fatalf("no interop files (MTLORA_INTEROP_DIR=%q): %v", dir, err)
		}
		t.Skip("set MTLORA_INTEROP_DIR to the output of scripts/reference/arrow_interop.py")
	}
	var exp struct {
		Writer string                  `json:"writer"`
		Files  map[string]expectedFile `json:"files"`
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(&exp); err != nil {
		t.Fatal(err)
	}
	return dir, exp.Writer, exp.Files
}

// goValue is row i of a flat column in the form pyarrow's to_pylist gives it after JSON.
func goValue(arr arrow.Array, i int) any {
	if arr.IsNull(i) {
		return nil
	}
	f := func(v float64) any {
		switch {
		case math.IsNaN(v):
			return "nan"
		case math.IsInf(v, 1):
			return "inf"
		case math.IsInf(v, -1):
			return "-inf"
		}
		return v
	}
	switch a := arr.(type) {
	case *array.Float32:
		return f(float64(a.Value(i)))
	case *array.Float64:
		return f(a.Value(i))
	case *array.Boolean:
		return a.Value(i)
	}
	s, err := (column{arr: arr}).value("", 0, i)
	if err != nil {
		return fmt.Sprintf("<%s>", arr.DataType())
	}
	return s
}

// same compares a Go value with the JSON one (numbers as json.Number).
func same(got, want any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case json.Number:
		switch g := got.(type) {
		case float64:
			x, err := w.Float64()
			return err == nil && x == g
		case string:
			if g == w.String() {
				return true
			}
			x, err1 := strconv.ParseFloat(g, 64)
			y, err2 := w.Float64()
			return err1 == nil && err2 == nil && x == y
		}
		return false
	}
	return got == want
}

// usesDeltaEncoding reports whether any column chunk of a Parquet file uses a DELTA_* encoding.
func usesDeltaEncoding(t *testing.T, path string) bool {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return false
	}
	defer pf.Close()
	md := pf.MetaData()
	for rg := range md.NumRowGroups() {
		for c := range md.Schema.NumColumns() {
			cc, err := md.RowGroup(rg).ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range cc.Encodings() {
				switch e {
				case parquet.Encodings.DeltaBinaryPacked, parquet.Encodings.DeltaByteArray, parquet.Encodings.DeltaLengthByteArray:
					return true
				}
			}
		}
	}
	return false
}

// Files written by an independent implementation (pyarrow) and the Apache parquet-testing files shipped in
// the parquet-go module read correctly: same row counts, and every value of every flat column equal to what
// pyarrow reads — dictionary encoding, nulls, several row groups, Snappy/ZSTD/GZIP/LZ4 compression, data page
// v2, delta encodings, large strings, IPC file and stream, CSV and JSON Lines. No allocation leaks.
func TestInteropWithIndependentWriters(t *testing.T) {
	dir, writer, files := readInterop(t)
	if len(files) < 20 {
		t.Fatalf("only %d interop files", len(files))
	}
	checked := 0
	for path, exp := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			if exp.Format == "csv" || exp.Format == "jsonl" {
				return // compared below against the same table's Parquet values
			}
			f, err := ParseFormat(exp.Format)
			if err != nil {
				t.Fatal(err)
			}
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			if f == FormatParquet && usesDeltaEncoding(t, path) {
				// arrow-go v18.8.0's DELTA_* decoders resize a miniblock-width buffer from the allocator
				// and never release it (parquet/internal/encoding/delta_bit_packing.go): Go memory the GC
				// reclaims, but the checked allocator counts it. Bounded, and logged instead of failed.
				defer func() {
					if n := mem.CurrentAlloc(); n > 64<<10 {
						t.Errorf("%d bytes not released: more than arrow-go's delta-decoder leak explains", n)
					} else if n > 0 {
						t.Logf("arrow-go delta decoders left %d bytes unreleased (known upstream leak)", n)
					}
				}()
			} else {
				defer mem.AssertSize(t, 0)
			}
			rows := 0
			got := map[string][]any{}
			err = Scan(path, ReadOptions{Format: f, Mem: mem, BatchRows: 97}, func(_ string, _ int64, rec arrow.RecordBatch) error {
				rows += int(rec.NumRows())
				for c, field := range rec.Schema().Fields() {
					if col, ok := exp.Columns[field.Name]; ok && col.Values != nil {
						for i := range int(rec.NumRows()) {
							got[field.Name] = append(got[field.Name], goValue(rec.Column(c), i))
						}
					}
				}
				return nil
			})
			if exp.Error != "" {
				t.Logf("%s cannot read it either (%s); Go: %v", writer, exp.Error, err)
				return
			}
			if err != nil {
				t.Fatalf("%s reads it, Go fails: %v", writer, err)
			}
			if exp.Rows == nil || rows != *exp.Rows {
				t.Fatalf("%d rows, %s reads %v", rows, writer, exp.Rows)
			}
			for colName, col := range exp.Columns {
				if col.Values == nil {
					continue
				}
				g := got[colName]
				if len(g) != len(col.Values) {
					t.Errorf("column %s (%s): %d values, %s reads %d", colName, col.Type, len(g), writer, len(col.Values))
					continue
				}
				for i := range g {
					if !same(g[i], col.Values[i]) {
						t.Errorf("column %s (%s) row %d: Go %#v, %s %#v", colName, col.Type, i, g[i], writer, col.Values[i])
						break
					}
				}
			}
			checked++
		})
	}
	if checked < 15 {
		t.Errorf("only %d files compared value by value", checked)
	}

	// CSV and JSON Lines written by pyarrow hold the plain Parquet file's text, label and small columns.
	ref := files[filepath.Join(dir, "pyarrow_gzip_plain.parquet")]
	for _, name := range []string{"pyarrow.csv", "pyarrow.jsonl"} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		i := 0
		err := Scan(filepath.Join(dir, name), ReadOptions{Mem: mem}, func(_ string, _ int64, rec arrow.RecordBatch) error {
			for r := range int(rec.NumRows()) {
				for _, col := range []string{"text", "label", "small"} {
					want := ref.Columns[col].Values[i]
					got := goValue(rec.Column(rec.Schema().FieldIndices(col)[0]), r)
					if !same(got, want) {
						return fmt.Errorf("row %d column %s: Go %#v, pyarrow %#v", i+1, col, got, want)
					}
				}
				i++
			}
			return nil
		})
		if err != nil || i != *ref.Rows {
			t.Errorf("%s: %v (%d rows)", name, err, i)
		}
		mem.AssertSize(t, 0)
	}
}
