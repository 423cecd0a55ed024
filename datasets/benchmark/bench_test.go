package benchmark_test

import (
	"testing"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/datasets/benchmark"
	"github.com/mtlora/mtlora/pretrained"
)

// BenchmarkParquetToBatches measures the data pipeline end to end: read mtbench.parquet (29k rows, by row
// group), validate every row, tokenize every training example with all-MiniLM-L6-v2's tokenizer and
// assemble fixed-shape batches of 32 × 128 — tokenization cache cold every iteration. Reports rows/s. Run:
//
//	MTLORA_REQUIRE_DATA=1 go test ./datasets/benchmark -run XXX -bench ParquetToBatches -benchtime 3x
func BenchmarkParquetToBatches(b *testing.B) {
	dir, err := benchmark.Path()
	if err != nil {
		b.Skip(err)
	}
	modelDir, err := pretrained.MiniLM.Path()
	if err != nil {
		b.Skip(err)
	}
	tok, err := pretrained.LoadTokenizer(modelDir)
	if err != nil {
		b.Fatal(err)
	}
	rows := 0
	b.ResetTimer()
	for range b.N {
		set, err := benchmark.Load(dir, datasets.ReadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		batches := &datasets.Batches{Set: set, Tokenizer: tok, Split: datasets.Train, BatchSize: 32, SeqLen: 128}
		for batch, err := range batches.Iter() {
			if err != nil {
				b.Fatal(err)
			}
			rows += batch.Inputs[0].Shape().Dimensions[0]
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
