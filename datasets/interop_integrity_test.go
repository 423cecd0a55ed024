package datasets

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/mtlora/mtlora/internal/parquetcrc"
)

// CSV written by pyarrow and by DuckDB (and DuckDB's Parquet of the same table) reads back the very values
// written: \r\n, \n and a lone \r inside quoted fields, quotes, commas, spaces, tabs; "" is the empty text
// and an empty unquoted field is NULL, as both producers write them.
func TestInteropCSVEdges(t *testing.T) {
	dir, _, _ := readInterop(t)
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Edges struct {
			Files  map[string]string `json:"files"`
			DuckDB *string           `json:"duckdb"`
			Text   []*string         `json:"text"`
			Label  []string          `json:"label"`
		} `json:"csv_edges"`
	}
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}
	if len(exp.Edges.Text) == 0 {
		t.Fatal("expected.json has no csv_edges: rerun scripts/reference/arrow_interop.py")
	}
	if exp.Edges.DuckDB == nil && os.Getenv("MTLORA_REQUIRE_DATA") == "1" {
		t.Fatal("no DuckDB files: install duckdb beside pyarrow (.ci/run does)")
	}
	for producer, path := range exp.Edges.Files {
		t.Run(producer, func(t *testing.T) {
			var texts []*string
			var labels []string
			err := Scan(path, ReadOptions{BatchRows: 4}, func(_ string, _ int64, rec arrow.RecordBatch) error {
				text, label := column{"text", rec.Column(rec.Schema().FieldIndices("text")[0])}, column{"label", rec.Column(rec.Schema().FieldIndices("label")[0])}
				for i := range int(rec.NumRows()) {
					if text.arr.IsNull(i) {
						texts = append(texts, nil)
					} else {
						s, err := text.text(path, 0, i)
						if err != nil {
							return err
						}
						texts = append(texts, &s)
					}
					l, err := label.value(path, 0, i)
					if err != nil {
						return err
					}
					labels = append(labels, l)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(texts) != len(exp.Edges.Text) {
				t.Fatalf("%d rows, %d written", len(texts), len(exp.Edges.Text))
			}
			for i, want := range exp.Edges.Text {
				switch got := texts[i]; {
				case (got == nil) != (want == nil):
					t.Errorf("row %d: NULL mismatch: got %v, written %v", i+1, show(got), show(want))
				case got != nil && *got != *want:
					t.Errorf("row %d: got %q, written %q", i+1, *got, *want)
				}
				if labels[i] != exp.Edges.Label[i] {
					t.Errorf("row %d: label %q, written %q", i+1, labels[i], exp.Edges.Label[i])
				}
			}
		})
	}
}

func show(s *string) string {
	if s == nil {
		return "NULL"
	}
	return `"` + *s + `"`
}

// pyarrow's Parquet files with page checksums: every page of every column chunk carries a CRC that
// internal/parquetcrc finds and recomputes to the same value (so the two implementations agree on what it
// covers), and a byte flipped inside any page's data makes Load fail naming the checksum.
func TestInteropPageChecksums(t *testing.T) {
	dir, _, _ := readInterop(t)
	for _, name := range []string{"pyarrow_checksum.parquet", "pyarrow_checksum_v2.parquet"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "integrity", name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			pf, err := file.NewParquetReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			md := pf.MetaData()
			pages := 0
			var spans [][2]int64 // column chunk byte ranges
			for rg := range md.NumRowGroups() {
				for c := range md.Schema.NumColumns() {
					cc, err := md.RowGroup(rg).ColumnChunk(c)
					if err != nil {
						t.Fatal(err)
					}
					start := cc.DataPageOffset()
					if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && cc.DictionaryPageOffset() < start {
						start = cc.DictionaryPageOffset()
					}
					got, err := parquetcrc.CheckChunk(bytes.NewReader(data), int64(len(data)), start, cc.TotalCompressedSize())
					if err != nil {
						t.Fatalf("row group %d column %d: %v", rg, c, err)
					}
					if got.Pages == 0 || got.Checked != got.Pages {
						t.Fatalf("row group %d column %d: %d pages, %d with a checksum", rg, c, got.Pages, got.Checked)
					}
					pages += got.Pages
					spans = append(spans, [2]int64{start, start + cc.TotalCompressedSize()})
				}
			}
			t.Logf("%d pages, every checksum verified", pages)
			// The last byte of each column chunk is page data (a page ends the chunk): flip it.
			tmp := t.TempDir()
			for _, s := range spans {
				bad := bytes.Clone(data)
				bad[s[1]-1] ^= 0x20
				o := loadBytes(t, tmp, name, bad)
				if o.err == nil || !strings.Contains(o.err.Error(), "checksum mismatch") || !strings.Contains(o.err.Error(), name) {
					t.Errorf("byte %d flipped: %v", s[1]-1, o.err)
				}
			}
		})
	}
}
