package synthetic

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/mtlora/mtlora/datasets"
)

// The synthetic task set round-trips through Parquet with datasets.Scan, and trains through a
// datasets.Sampler like the text benchmark.
func TestSyntheticThroughDatasetsInterfaces(t *testing.T) {
	ts, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	s := ts.Draw(10, 1)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := s.Record(mem)
	path := filepath.Join(t.TempDir(), "synthetic.parquet")
	f, _ := os.Create(path)
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, parquet.NewWriterProperties(parquet.WithAllocator(mem)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())) // keeps x and y fixed-size lists
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	w.Close()
	rec.Release()
	row := 0
	err = datasets.Scan(path, datasets.ReadOptions{Mem: mem, Columns: []string{"task", "x", "y"}}, func(_ string, _ int64, r arrow.RecordBatch) error {
		xs := r.Column(1).(*array.FixedSizeList)
		vals := xs.ListValues().(*array.Float32).Float32Values()
		for i := range int(r.NumRows()) {
			if !slices.Equal(vals[i*ts.DIn:(i+1)*ts.DIn], s.X[row]) {
				t.Fatalf("row %d: x differs after the Parquet round trip", row)
			}
			row++
		}
		return nil
	})
	if err != nil || row != 10*ts.Tasks {
		t.Fatalf("read %d rows: %v", row, err)
	}

	ds, err := s.Dataset("synthetic", 8, 3, datasets.SamplerConfig{Strategy: datasets.Quota, Quotas: []int{2, 2, 2, 2}})
	if err != nil {
		t.Fatal(err)
	}
	for b, err := range ds.Iter() {
		if err != nil {
			t.Fatal(err)
		}
		count := make([]int, ts.Tasks)
		for _, id := range tensors.MustCopyFlatData[int32](b.Inputs[1]) {
			count[id]++
		}
		if !slices.Equal(count, []int{2, 2, 2, 2}) {
			t.Errorf("quota batch has tasks %v", count)
		}
	}
}
